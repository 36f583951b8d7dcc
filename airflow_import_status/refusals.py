"""Refused records as values: what a vendor codec's listing flow returns (no Airflow, no I/O).

:mod:`airflow_import_status.rejected` writes them where the user asked; a codec (MyPreferences'
*Retrieve exceptions*) builds them from the vendor's answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

UPLOAD, VENDOR = "upload", "vendor"
"""Who refused a record: the operator before sending, or the vendor."""


@dataclass(frozen=True)
class RefusedRecord:
    """One refused record: who refused it, where it was in the source, its key and why."""

    source: str
    row: int | None
    key: str | None
    reason: str
    fields: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RefusedPage:
    """One page of a vendor's listing of refused records."""

    records: list[RefusedRecord]
    has_more: bool
    total: int | None = None


PageFlow = Callable[[int, int], RefusedPage]
"""``(offset, limit) -> page``: one listing page; offsets are 1-based."""
