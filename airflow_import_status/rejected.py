"""Refused records written where the user asked: ``rejected_records_path`` (CSV or JSON Lines).

Once an import has finished (succeeded or failed, gate passed or not), a task with
``rejected_records_path`` set writes every refused record it can know, one line each:

- ``source``: ``upload`` (refused by the operator before sending) or ``vendor`` (refused by the vendor);
- ``row``: the 1-based data row of the source file, when known (an operator joins the vendor's
  refusals back to the source by key, where the key is unique in the file);
- ``key``: the identifying value (email, profile id, phone);
- ``reason``: the vendor's code and message as given, or ours;
- ``fields``: the record's fields, when the vendor returns them (CSV: one JSON cell).

The vendor's listing is read page by page and written as it comes: memory holds one page, not
the list. Personal data goes to the file only: the XCom summary (:class:`RefusedSummary`) holds
counts, the path and the top reasons with addresses and long numbers masked.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from airflow_import_status.errors import ImportStatusError
from airflow_import_status.refusals import UPLOAD as UPLOAD  # re-exported: defined here before
from airflow_import_status.refusals import VENDOR as VENDOR
from airflow_import_status.refusals import PageFlow as PageFlow
from airflow_import_status.refusals import RefusedPage as RefusedPage
from airflow_import_status.refusals import RefusedRecord as RefusedRecord

XCOM_KEY = "rejected_records"
"""XCom key of the summary ``{"path", "count", "by_source", "truncated", "top_reasons"}``."""
DEFAULT_MAX_REJECTED_RECORDS = 100_000
"""Records written per source (upload, vendor) unless ``max_rejected_records`` says otherwise."""
DEFAULT_PAGE_SIZE = 1000
"""Records asked per listing page (MyPreferences' *Retrieve exceptions* default ``limit``)."""
TOP_REASONS = 5
"""Reasons (with counts) in the XCom summary; the gate's failure message names three."""
MAX_DISTINCT_REASONS = 1000
"""Distinct reasons counted; any further one counts as :data:`OTHER_REASONS` (bounded memory)."""
OTHER_REASONS = "(other reasons)"
CSV_COLUMNS = ("source", "row", "key", "reason", "fields")
KEY_FIELDS = ("email", "emailaddress", "profileid", "phone", "phonenumber", "mobile")
"""A source row's identifying field, by name, case-insensitive, first present wins."""

_EMAIL = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+")
_LONG_NUMBER = re.compile(r"\+?\d[\d ().-]{4,}\d")


def summary_reason(reason: str) -> str:
    """``reason`` without personal data: addresses and long numbers masked (what XCom and logs may carry)."""
    return _LONG_NUMBER.sub("<number>", _EMAIL.sub("<email>", reason)).strip()[:200] or "(no reason given)"


def row_key(row: Mapping[str, Any]) -> str | None:
    """The identifying value of a mapped source row (:data:`KEY_FIELDS`), stripped; ``None`` if it has none."""
    by_name = {str(name).casefold(): value for name, value in row.items()}
    for name in KEY_FIELDS:
        value = by_name.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def normalized_key(key: str | None) -> str | None:
    return key.strip().casefold() if key else None


@dataclass
class RefusedSummary:
    """What XCom, the log, the gate message and the Imports page carry: no personal data."""

    path: str
    count: int = 0
    by_source: dict[str, int] = field(default_factory=lambda: {UPLOAD: 0, VENDOR: 0})
    truncated: bool = False
    reasons: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    def add(self, record: RefusedRecord) -> None:
        self.count += 1
        self.by_source[record.source] = self.by_source.get(record.source, 0) + 1
        reason = summary_reason(record.reason)
        if reason not in self.reasons and len(self.reasons) >= MAX_DISTINCT_REASONS:
            reason = OTHER_REASONS
        self.reasons[reason] += 1

    def top_reasons(self, count: int = TOP_REASONS) -> list[dict[str, Any]]:
        return [{"reason": reason, "count": n} for reason, n in self.reasons.most_common(count)]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "count": self.count,
            "by_source": dict(self.by_source),
            "truncated": self.truncated,
            "top_reasons": self.top_reasons(),
        }
        if self.error:
            data["error"] = self.error
        return data

    def describe(self, reasons: int = 3) -> str:
        """One line for the log and a failure message: count, path, the top reasons."""
        top = "; ".join(f"{item['reason']} ({item['count']})" for item in self.top_reasons(reasons))
        return (
            f"{self.count} refused records written to {self.path}"
            + (" (cut at max_rejected_records)" if self.truncated else "")
            + (f"; top reasons: {top}" if top else "")
            + (f"; the listing stopped: {self.error}" if self.error else "")
        )


# ----- the file -----------------------------------------------------------------------------------
def is_jsonl(path: Any) -> bool:
    return str(path).lower().endswith((".jsonl", ".ndjson"))


@contextlib.contextmanager
def open_target(path: Any) -> Iterator[IO[str]]:
    """``path`` opened for writing text: a local path (parents created), an ``ObjectStoragePath`` or a URL."""
    if hasattr(path, "open") and not isinstance(path, Path):
        target = path
    elif "://" in str(path):
        from airflow.sdk import ObjectStoragePath

        target = ObjectStoragePath(str(path))
    else:
        local = Path(os.fspath(path))
        local.parent.mkdir(parents=True, exist_ok=True)
        with local.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        return
    with target.open("wb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        yield text


class RefusedWriter:
    """Write records one by one to an open text file (CSV with a header, or JSON Lines)."""

    def __init__(self, handle: IO[str], *, jsonl: bool, summary: RefusedSummary) -> None:
        self.handle = handle
        self.jsonl = jsonl
        self.summary = summary
        self._csv = None if jsonl else csv.writer(handle)
        if self._csv is not None:
            self._csv.writerow(CSV_COLUMNS)

    def write(self, record: RefusedRecord) -> None:
        fields = dict(record.fields) if record.fields else None
        if self._csv is None:
            line: dict[str, Any] = {
                "source": record.source,
                "row": record.row,
                "key": record.key,
                "reason": record.reason,
            }
            if fields:
                line["fields"] = fields
            self.handle.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")
        else:
            self._csv.writerow(
                (
                    record.source,
                    "" if record.row is None else record.row,
                    record.key or "",
                    record.reason,
                    json.dumps(fields, default=str, ensure_ascii=False) if fields else "",
                )
            )
        self.summary.add(record)


# ----- the sources ----------------------------------------------------------------------------------
def vendor_refusals(page: PageFlow, limit: int, summary: RefusedSummary, page_size: int) -> Iterator[RefusedRecord]:
    """The vendor's listing, page by page, at most ``limit`` records (``summary.truncated`` if cut).

    A listing fault (an expired access token half way, ...) ends the listing: ``summary.error``
    says why, and what was read stays written.
    """
    offset, given = 1, 0
    while given < limit:
        try:
            result = page(offset, min(page_size, limit - given))
        except ImportStatusError as err:
            summary.error = str(err)
            summary.truncated = True
            return
        records = result.records
        for index, record in enumerate(records):
            if given >= limit:
                summary.truncated = True
                return
            given += 1
            yield record
            if given >= limit and (index + 1 < len(records) or result.has_more):
                summary.truncated = True
                return
        if not result.has_more or not records:
            return
        offset += len(records)


@dataclass
class SourceRows:
    """An operator's source, read again after the import: its refused rows and the rows of vendor keys.

    ``rows()`` yields ``(row number, mapped row)`` or ``(row number, why it cannot be read)``;
    ``check`` is the operator's own row check (the reason it refused the row before sending).
    """

    rows: Callable[[], Iterable[tuple[int, Mapping[str, Any] | str]]]
    check: Callable[[Mapping[str, Any]], str | None]
    key: Callable[[Mapping[str, Any]], str | None] = row_key


def write_refused(
    path: Any,
    *,
    vendor_pages: PageFlow | None,
    source: SourceRows | None = None,
    max_records: int = DEFAULT_MAX_REJECTED_RECORDS,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> RefusedSummary:
    """Write the refused records to ``path`` and return the summary (memory: one page, plus keys to join).

    Without a source: the vendor's listing straight to the file. With one: the listing goes to a
    temporary spool first (keeping only its keys), then the source is read once for its refused
    rows and the row numbers of those keys, then the spool is copied with its rows joined.
    """
    summary = RefusedSummary(path=str(path))
    with open_target(path) as handle:
        writer = RefusedWriter(handle, jsonl=is_jsonl(path), summary=summary)
        listing = vendor_refusals(vendor_pages, max_records, summary, page_size) if vendor_pages else iter(())
        if source is None:
            for record in listing:
                writer.write(record)
            return summary
        with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
            keys: dict[str, int] = {}
            for record in listing:
                spool.write(json.dumps([record.row, record.key, record.reason, record.fields], default=str) + "\n")
                if (key := normalized_key(record.key)) is not None:
                    keys[key] = 0
            _write_source_rows(writer, source, keys, max_records, summary)
            spool.seek(0)
            for line in spool:
                row, key, reason, fields = json.loads(line)
                if row is None and (joined := keys.get(normalized_key(key) or "", 0)) > 0:
                    row = joined
                writer.write(RefusedRecord(VENDOR, row, key, reason, fields))
    return summary


def _write_source_rows(
    writer: RefusedWriter, source: SourceRows, keys: dict[str, int], limit: int, summary: RefusedSummary
) -> None:
    """Write the rows the operator refused; note each vendor key's row (0 unseen, -1 not unique in the file)."""
    written = 0
    for number, row in source.rows():
        if isinstance(row, str):
            reason: str | None = row
        else:
            reason = source.check(row)
            key = normalized_key(source.key(row))
            if reason is None and key is not None and key in keys:
                keys[key] = number if keys[key] == 0 else -1
        if reason is None:
            continue
        if written >= limit:
            summary.truncated = True
            continue
        written += 1
        mapped = None if isinstance(row, str) else row
        writer.write(RefusedRecord(UPLOAD, number, source.key(mapped) if mapped else None, reason, mapped))


# ----- the task's side: once the outcome is known ------------------------------------------------
def listing_of(hook: Any, job: Mapping[str, Any]) -> PageFlow | None:
    """The vendor's listing as a :data:`PageFlow` through ``hook``, or ``None`` where none is public.

    A vendor codec that has one defines ``refused_page_flow(settings, job, offset, limit)``: a
    sans-I/O flow returning a :class:`RefusedPage`, driven here by the hook's sync transport.
    """
    spec = getattr(hook, "spec", None)
    page_flow = getattr(getattr(spec, "codec", None), "refused_page_flow", None)
    if page_flow is None:
        return None
    settings = hook.get_settings()
    vendor_job = hook.make_job(job)

    def page(offset: int, limit: int) -> RefusedPage:
        result: RefusedPage = hook.run_flow(page_flow(settings, vendor_job, offset, limit), settings)
        return result

    return page


@contextlib.contextmanager
def refused_records_written(task: Any, context: Any) -> Iterator[None]:
    """Around a task's outcome: write the refused records, push the summary, name it in a failure.

    Runs whatever the outcome (a failed import, a tripped gate, success); nothing happens
    without ``rejected_records_path``. A failure's message gains the path and the top three
    reasons; a listing that broke off fails an otherwise successful task, after the summary
    (with ``error``) was pushed.
    """
    from airflow_import_status.version_compat import AirflowFailException

    path = getattr(task, "rejected_records_path", None)
    if not path:
        yield
        return
    try:
        yield
    except AirflowFailException as err:
        summary = _write_and_push(task, context, path)
        raise AirflowFailException(f"{err}. {summary.describe()}") from err
    summary = _write_and_push(task, context, path)
    if summary.error:
        raise AirflowFailException(
            f"{task.job_label}: the refused records could not all be listed. {summary.describe()}"
        )


def _write_and_push(task: Any, context: Any, path: Any) -> RefusedSummary:
    source = task.refused_source_rows() if hasattr(task, "refused_source_rows") else None
    summary = write_refused(
        path,
        vendor_pages=listing_of(task.hook, task.job()),
        source=source,
        max_records=task.waiting.max_rejected_records,
    )
    context["ti"].xcom_push(key=XCOM_KEY, value=summary.to_dict())
    task.log.info("%s: %s", task.job_label, summary.describe())
    _annotate_file_asset(task, context, path, summary)
    return summary


def _annotate_file_asset(task: Any, context: Any, path: Any, summary: RefusedSummary) -> None:
    """The file's ``Asset`` outlet (its URI the path, or ``file://`` the path) carries the count."""
    from airflow.sdk import Asset

    wanted = {str(path), f"file://{path}"} if "://" not in str(path) else {str(path)}
    for outlet in getattr(task, "outlets", None) or ():
        if isinstance(outlet, Asset) and outlet.uri in wanted:
            context["outlet_events"][outlet].extra.update(
                {"rejected_records": summary.count, "truncated": summary.truncated}
            )
