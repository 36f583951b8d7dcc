"""Contacts streamed from a source in batches: memory bounded by the batch size, never the file.

A source is a local path, an Airflow ``ObjectStoragePath`` (``s3://``, ``gs://``, ``file://``
with the matching filesystem installed) or rows: a list of dicts (e.g. from XCom) or any
iterable of them, read lazily (a generator is consumed batch by batch); CSV (header row,
delimiter and encoding options) or JSON Lines. A field mapping renames source columns to vendor
fields. A row that cannot be used is counted with its row number and reason; the operator then
decides with ``max_bad_rows`` whether the import still starts.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import gc
import gzip
import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from typing import IO, Any

PROGRESS_EVERY_SECONDS = 10.0
"""The upload logs its progress at least this often."""

MAX_BAD_ROWS_SHOWN = 20
"""Bad rows quoted in the log and the error (all are counted)."""


class SourceError(ValueError):
    """The source is missing, empty or not in the declared format (a DAG author's mistake)."""


@dataclass(frozen=True)
class BadRow:
    row: int
    """1-based data row number (the CSV header is row 0)."""
    reason: str


@dataclass
class UploadProgress:
    """What reached the vendor so far, for the log and for an error half way."""

    rows_read: int = 0
    rows_sent: int = 0
    batches_sent: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_row_count: int = 0
    total_rows: int | None = None
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def describe(self) -> str:
        of = f" of {self.total_rows}" if self.total_rows is not None else ""
        elapsed = max(self.clock() - self.started, 1e-9)
        return (
            f"{self.rows_sent}{of} rows in {self.batches_sent} batches sent, {self.bad_row_count} bad rows, "
            f"{self.rows_sent / elapsed:.0f} rows/s"
        )


RowCheck = Callable[[Mapping[str, Any]], str | None]
"""A vendor's check of one mapped row: the reason it cannot be imported, or ``None``."""


class ContactUpload:
    """Iterate ``batches()`` once: mapped, checked rows in lists of at most ``batch_size``."""

    def __init__(
        self,
        source: Any,
        *,
        batch_size: int,
        source_format: str | None = None,
        field_mapping: Mapping[str, str] | None = None,
        delimiter: str = ",",
        encoding: str = "utf-8",
        check_row: RowCheck | None = None,
        log: logging.Logger | Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.source = source
        self.batch_size = batch_size
        self.source_format = source_format or _format_of(source)
        self.field_mapping = dict(field_mapping or {})
        self.delimiter = delimiter
        self.encoding = encoding
        self.check_row = check_row
        self.log = log or logging.getLogger(__name__)
        self.progress = UploadProgress(
            total_rows=len(source) if self.source_format == "records" and isinstance(source, Sized) else None,
            clock=clock,
        )
        self._clock = clock
        self._last_log = clock()
        codecs.lookup(encoding)  # an unknown encoding fails here, before anything is sent
        if self.source_format not in ("csv", "jsonl", "records"):
            raise SourceError(f"unknown source_format {self.source_format!r} (csv or jsonl)")

    def describe_source(self) -> str:
        return "a list of rows" if self.source_format == "records" else str(self.source)

    # ----- reading -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _open(self) -> Iterator[IO[str]]:
        """The source as text; a ``.gz`` / ``.bz2`` file is decompressed as it is read."""
        path = self.source
        try:
            raw: IO[bytes] = path.open("rb") if hasattr(path, "open") else open(str(path), "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise SourceError(f"the source {self.describe_source()!r} does not exist") from None
        except IsADirectoryError:
            raise SourceError(f"the source {self.describe_source()!r} is a directory, not a file") from None
        name = str(getattr(path, "name", None) or path).lower()
        with raw:
            binary: IO[bytes] | gzip.GzipFile | bz2.BZ2File = raw
            if name.endswith(".gz"):
                binary = gzip.GzipFile(fileobj=raw, mode="rb")
            elif name.endswith(".bz2"):
                binary = bz2.BZ2File(raw, mode="rb")
            with io.TextIOWrapper(binary, encoding=self.encoding, newline="") as text:
                yield text

    def _source_rows(self) -> Iterator[tuple[int, dict[str, Any] | str]]:
        """``(row number, mapped row)``, or ``(row number, why it cannot be read)``."""
        if self.source_format == "records":
            for number, raw in enumerate(self.source, start=1):
                yield number, self._mapped(raw)
            return
        with self._open() as handle:
            try:
                if self.source_format == "csv":
                    yield from self._csv_rows(handle)
                    return
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        raw = json.loads(line)
                    except ValueError as err:
                        yield number, f"not a JSON object: {err}"
                    else:
                        yield number, self._mapped(raw)
            except UnicodeDecodeError as err:
                raise SourceError(f"the source is not {self.encoding}: {err}") from None
            except (gzip.BadGzipFile, EOFError) as err:
                raise SourceError(f"the source is not a complete compressed file: {err}") from None

    def _csv_rows(self, handle: IO[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
        """Rows as ``csv.DictReader`` reads them (blank lines skipped, missing values ``None``), mapped.

        The header is mapped once and each row built straight from its kept columns: a third of
        the work of a ``DictReader`` row mapped afterwards (the upload benchmark's CPU per row).
        """
        reader = csv.reader(handle, delimiter=self.delimiter)
        header = next(reader, None)
        if header is None:
            return
        mapping = self.field_mapping
        kept = [
            (i, mapping[name] if mapping else name) for i, name in enumerate(header) if not mapping or name in mapping
        ]
        width = len(header)
        number = 0
        for values in reader:
            if not values:
                continue
            number += 1
            row: list[str | None] | list[str] = values
            if len(values) != width:
                if len(values) > width:
                    yield number, f"{len(values) - width} more values than header columns"
                    continue
                row = [*values, *([None] * (width - len(values)))]
            yield number, {name: row[i] for i, name in kept}

    def _mapped(self, raw: Any) -> dict[str, Any] | str:
        if not isinstance(raw, Mapping):
            return f"a row must be an object/dict, got {type(raw).__name__}"
        if not self.field_mapping:
            return {str(key): value for key, value in raw.items()}
        return {self.field_mapping[key]: value for key, value in raw.items() if key in self.field_mapping}

    def numbered_rows(self) -> Iterator[tuple[int, dict[str, Any] | str]]:
        """Every source row, mapped, with its row number (or why it cannot be read); nothing checked or counted."""
        return self._source_rows()

    def rows(self) -> Iterator[dict[str, Any]]:
        """Usable rows, mapped; bad ones are counted instead."""
        check = self.check_row
        progress = self.progress
        for number, row in self._source_rows():
            progress.rows_read += 1
            if isinstance(row, str):
                reason = row
            else:
                refused = check(row) if check else None
                if refused is None:
                    yield row
                    continue
                reason = refused
            progress.bad_row_count += 1
            if len(progress.bad_rows) < MAX_BAD_ROWS_SHOWN:
                progress.bad_rows.append(BadRow(number, reason))

    def batches(self) -> Iterator[list[dict[str, Any]]]:
        """Batches of at most ``batch_size`` rows; an empty source is an error, not an empty import."""
        batch: list[dict[str, Any]] = []
        for row in self.rows():
            batch.append(row)
            if len(batch) == self.batch_size:
                yield from self._hand_over(batch)
                batch = []
        if batch:
            yield from self._hand_over(batch)
        if self.progress.rows_sent == 0:
            raise SourceError(
                f"the source {self.describe_source()!r} has no usable rows "
                f"({self.progress.rows_read} read, {self.progress.bad_row_count} bad): nothing to import"
            )
        self.log.info("Upload complete: %s", self.progress.describe())

    def _hand_over(self, batch: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
        yield batch
        # the flow asks for the next batch only after this one was accepted
        self.progress.batches_sent += 1
        self.progress.rows_sent += len(batch)
        if self._clock() - self._last_log >= PROGRESS_EVERY_SECONDS:
            self._last_log = self._clock()
            self.log.info("Uploading: %s", self.progress.describe())

    def bad_rows_text(self) -> str:
        shown = "; ".join(f"row {bad.row}: {bad.reason}" for bad in self.progress.bad_rows)
        more = self.progress.bad_row_count - len(self.progress.bad_rows)
        return shown + (f"; and {more} more" if more > 0 else "")


INTERPRETER_PERMANENT_OBJECTS_MAX = 10_000
"""Permanent-generation objects a process may hold without anyone having called ``gc.freeze``.

CPython 3.12 starts with its deep-frozen modules' constant tuples there (``gc.get_freeze_count()``
is 375 on 3.12.1 before any import; 0 on 3.11 and 3.13), so "frozen already" cannot mean
"count above 0"; a heap frozen by an executor holds hundreds of thousands of objects.
"""


@contextlib.contextmanager
def startup_heap_frozen() -> Iterator[None]:
    """Keep the garbage collector's full collections off the objects that exist already while uploading.

    Each batch is thousands of containers that live until sent; their count triggers full
    collections, and each one walks the whole heap, which in a task process is mostly Airflow's
    modules (measured by ``benchmarks/upload.py``: about a fifth of the operator's CPU). Python's
    ``gc.freeze`` exists for this; the objects are unfrozen afterwards. A process already frozen
    (Airflow's LocalExecutor freezes before forking its workers) is left as it is: it holds far
    more permanent objects than the interpreter's own (:data:`INTERPRETER_PERMANENT_OBJECTS_MAX`).
    """
    if gc.get_freeze_count() > INTERPRETER_PERMANENT_OBJECTS_MAX:
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _format_of(source: Any) -> str:
    if (
        isinstance(source, Iterable)
        and not isinstance(source, (str, bytes, os.PathLike))
        and not hasattr(source, "open")
    ):
        return "records"
    name = str(getattr(source, "name", None) or source).lower()
    for suffix in (".gz", ".bz2"):
        name = name.removesuffix(suffix)
    return "jsonl" if name.endswith((".jsonl", ".ndjson")) else "csv"
