"""Import metrics through Airflow's ``Stats``: the one place that names and emits them.

Off unless Airflow's own metrics are on (``[metrics] statsd_on``, ``statsd_datadog_enabled`` or
``otel_on``, read once per process): with them off, an observed poll costs one flag check. Every
metric carries the ``vendor`` tag (a registry key: a bounded set) and, like Airflow's own
metrics, also goes out under a legacy name with its bounded tags in the name for StatsD without
tags (``[metrics] legacy_names_on``, default on). No name or tag holds a job id, run id, list
id or any other unbounded value. docs/metrics.md has the table and example alerts.

Called at three small points: the trigger's poll (:func:`observed_apoll`), the worker's poll
(:func:`observed_poll`: poke/reschedule mode and the poll before deferring) and the operators'
upload (:func:`upload_finished`). A poll that sees the import finish counts it once, in the
process that saw it (triggerer or worker): nothing is counted twice for one wait.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    UnsafeToRetryError,
    VendorPayloadError,
)
from airflow_import_status.result import ImportResult
from airflow_import_status.vendors.spec import JobFieldError
from airflow_import_status.version_compat import Stats, conf


class UploadCounts(Protocol):
    """What an upload reports (``operators.upload.UploadProgress``; metrics sit below the operators)."""

    rows_sent: int
    bad_row_count: int


PREFIX = "import_status"


@dataclass(frozen=True)
class Metric:
    """One documented metric: its tagged name, type, tags, and the legacy (tag-less StatsD) name."""

    name: str
    kind: str
    """``timer`` or ``counter``."""
    tags: tuple[str, ...]
    legacy_tags: tuple[str, ...]
    """The tags that go into the legacy name, in order (each a bounded set)."""
    description: str

    def legacy_name(self, tags: dict[str, str]) -> str:
        return ".".join((self.name, *(tags[tag] for tag in self.legacy_tags)))


POLL_DURATION = Metric(
    f"{PREFIX}.poll.duration",
    "timer",
    ("vendor", "path", "outcome"),
    ("vendor",),
    "Time one status poll took (all its requests), ok or error.",
)
POLL_ERRORS = Metric(
    f"{PREFIX}.poll.errors",
    "counter",
    ("vendor", "path", "kind"),
    ("vendor", "kind"),
    "Polls that failed, by kind of error (retried or not).",
)
IMPORTS_FINISHED = Metric(
    f"{PREFIX}.imports.finished",
    "counter",
    ("vendor", "state"),
    ("vendor", "state"),
    "Imports seen finished, by state (succeeded, failed).",
)
RECORDS_IMPORTED = Metric(
    f"{PREFIX}.records.imported",
    "counter",
    ("vendor",),
    ("vendor",),
    "Records a finished import imported (the result's imported).",
)
RECORDS_REFUSED = Metric(
    f"{PREFIX}.records.refused",
    "counter",
    ("vendor",),
    ("vendor",),
    "Records a finished import refused (invalid + failed).",
)
UPLOAD_ROWS = Metric(
    f"{PREFIX}.upload.rows",
    "counter",
    ("vendor",),
    ("vendor",),
    "Rows a start-import operator sent to the vendor (uploads that started an import).",
)
UPLOAD_BAD_ROWS = Metric(
    f"{PREFIX}.upload.bad_rows",
    "counter",
    ("vendor",),
    ("vendor",),
    "Source rows an operator could not send (bad rows within max_bad_rows).",
)
METRICS: tuple[Metric, ...] = (
    POLL_DURATION,
    POLL_ERRORS,
    IMPORTS_FINISHED,
    RECORDS_IMPORTED,
    RECORDS_REFUSED,
    UPLOAD_ROWS,
    UPLOAD_BAD_ROWS,
)
"""Every metric this provider emits (docs/metrics.md lists the same)."""

PATHS = ("worker", "triggerer")
"""Where a poll ran: a worker (poke/reschedule, or the poll before deferring) or the triggerer."""

ERROR_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (VendorPayloadError, "payload"),
    (TransientVendorError, "transient"),
    (JobNotFoundError, "not_found"),
    (AuthenticationError, "auth"),
    (BadRequestError, "bad_request"),
    (UnsafeToRetryError, "unsafe_to_retry"),
    (PermanentVendorError, "permanent"),
    (JobFieldError, "job_parameter"),
)
"""The ``kind`` tag of a poll error, most specific first; anything else is ``bug``."""

_UNSAFE = re.compile(r"[^a-z0-9_]")
_enabled: bool | None = None
_legacy: bool = True


def enabled() -> bool:
    """Whether Airflow's metrics are on in this process (read once, with ``legacy_names_on``)."""
    global _enabled, _legacy
    if _enabled is None:
        _legacy = conf.getboolean("metrics", "legacy_names_on", fallback=True)
        _enabled = any(
            conf.getboolean("metrics", option, fallback=False)
            for option in ("statsd_on", "statsd_datadog_enabled", "otel_on")
        )
    return _enabled


def vendor_tag(vendor: str) -> str:
    """A vendor key as it goes into a metric name (registry keys already are)."""
    return _UNSAFE.sub("_", str(vendor).lower())[:40] or "unknown"


def error_kind(error: BaseException) -> str:
    for error_type, kind in ERROR_KINDS:
        if isinstance(error, error_type):
            return kind
    return "bug"


def emit(metric: Metric, value: float | timedelta = 1, **tags: str) -> None:
    """Send ``metric`` under its tagged name (and its legacy name); nothing when metrics are off."""
    if not enabled():
        return
    sends = [(metric.name, tags)]
    if _legacy:  # as Airflow's own: the tags in the name are not sent again as tags
        extra = {tag: tags[tag] for tag in metric.tags if tag not in metric.legacy_tags}
        sends.append((metric.legacy_name(tags), extra))
    for name, name_tags in sends:
        if metric.kind == "timer":
            Stats.timing(name, value, tags=name_tags)
        else:
            Stats.incr(name, int(value), tags=name_tags)  # type: ignore[arg-type]


def _observe(vendor: str, path: str, started: float, result: ImportResult | None, error: BaseException | None) -> None:
    vendor = vendor_tag(vendor)
    elapsed = timedelta(seconds=time.perf_counter() - started)
    emit(POLL_DURATION, elapsed, vendor=vendor, path=path, outcome="error" if error is not None else "ok")
    if error is not None:
        emit(POLL_ERRORS, vendor=vendor, path=path, kind=error_kind(error))
        return
    assert result is not None
    if result.state.is_terminal:
        emit(IMPORTS_FINISHED, vendor=vendor, state=result.state.value)
        if result.imported is not None:
            emit(RECORDS_IMPORTED, result.imported, vendor=vendor)
        if result.invalid is not None or result.failed is not None:
            emit(RECORDS_REFUSED, result.rejected, vendor=vendor)


def observed_poll(vendor: str, poll: Callable[..., ImportResult], *args: Any) -> ImportResult:
    """``poll(*args)`` on a worker, timed and counted."""
    if not enabled():
        return poll(*args)
    started = time.perf_counter()
    try:
        result = poll(*args)
    except Exception as err:
        _observe(vendor, "worker", started, None, err)
        raise
    _observe(vendor, "worker", started, result, None)
    return result


async def observed_apoll(vendor: str, poll: Awaitable[ImportResult]) -> ImportResult:
    """``await poll`` in the triggerer, timed and counted."""
    if not enabled():
        return await poll
    started = time.perf_counter()
    try:
        result = await poll
    except Exception as err:
        _observe(vendor, "triggerer", started, None, err)
        raise
    _observe(vendor, "triggerer", started, result, None)
    return result


def upload_finished(vendor: str, progress: UploadCounts) -> None:
    """An operator's upload that started an import: the rows sent and the bad rows left out."""
    if not enabled():
        return
    vendor = vendor_tag(vendor)
    emit(UPLOAD_ROWS, progress.rows_sent, vendor=vendor)
    if progress.bad_row_count:
        emit(UPLOAD_BAD_ROWS, progress.bad_row_count, vendor=vendor)
