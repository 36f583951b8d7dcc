"""Where the Imports UI meets the vendor internals: reading an import trigger, and the sync hook of a vendor.

The vendor redesign changes exactly these two points, so they live here and nowhere else:

- :func:`read_trigger` reads a deferred task's trigger. Today's ``ImportStatusTrigger`` kwargs name
  the vendor by ``hook_class`` (dotted path of the hook); after the redesign by ``vendor`` (the
  vendor key). Both are accepted.
- :func:`hook_for` builds the sync hook that polls a vendor once (today through
  ``load_hook_class``; after the redesign through the ``airflow_import_status.vendors`` registry).
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

from airflow_import_status.hooks.base import ImportStatusHook

TRIGGER_CLASSPATHS: frozenset[str] = frozenset({"airflow_import_status.triggers.import_status.ImportStatusTrigger"})
"""Classpaths of the triggers an import waits in (the ``trigger.classpath`` column)."""


@dataclasses.dataclass(frozen=True)
class WaitingImport:
    """What a deferred import task's trigger says about the job it waits for (never credentials)."""

    vendor: str
    vendor_ref: str
    """What :func:`hook_for` takes: the vendor key or the hook's dotted path."""
    conn_id: str
    job: dict[str, Any]
    deadline: float | None
    waiting_since: float | None

    @property
    def job_label(self) -> str:
        """The vendor's own label of the job, e.g. ``1000 of contact list 42``."""
        try:
            return _hook_class(self.vendor_ref).job_label(self.job)
        except (KeyError, TypeError, ValueError, ImportError, AttributeError):
            return ", ".join(f"{key}={value}" for key, value in self.job.items())


def read_trigger(classpath: str, kwargs: dict[str, Any]) -> WaitingImport | None:
    """The import a trigger waits for, or ``None`` if it is not an import trigger (or unreadable)."""
    if classpath not in TRIGGER_CLASSPATHS:
        return None
    vendor_ref = kwargs.get("vendor") or kwargs.get("hook_class")
    conn_id, job = kwargs.get("conn_id"), kwargs.get("job")
    if not isinstance(vendor_ref, str) or not isinstance(conn_id, str) or not isinstance(job, dict):
        return None
    try:
        vendor = _hook_class(vendor_ref).vendor
    except (KeyError, TypeError, ImportError, AttributeError):
        vendor = vendor_ref.rpartition(".")[2]
    return WaitingImport(
        vendor=vendor,
        vendor_ref=vendor_ref,
        conn_id=conn_id,
        job=dict(job),
        deadline=_epoch(kwargs.get("deadline")),
        waiting_since=_epoch(kwargs.get("waiting_since")),
    )


def hook_for(vendor_or_hook_path: str, conn_id: str) -> ImportStatusHook:
    """The sync hook that polls ``vendor_or_hook_path`` (a vendor key or a hook's dotted path) through ``conn_id``."""
    return _hook_class(vendor_or_hook_path)(conn_id)


def vendors() -> list[str]:
    """Every vendor key, for the vendor filter."""
    return sorted(_hooks_by_vendor())


@cache
def _hook_class(vendor_or_hook_path: str) -> type[ImportStatusHook]:
    from airflow_import_status.triggers.import_status import load_hook_class

    if "." in vendor_or_hook_path:
        return load_hook_class(vendor_or_hook_path)
    return _hooks_by_vendor()[vendor_or_hook_path]


@cache
def _hooks_by_vendor() -> dict[str, type[ImportStatusHook]]:
    """Every registered connection type's hook, by vendor key."""
    from airflow_import_status.get_provider_info import get_provider_info
    from airflow_import_status.triggers.import_status import load_hook_class

    hooks = (load_hook_class(c["hook-class-name"]) for c in get_provider_info()["connection-types"])
    return {hook.vendor: hook for hook in hooks}


def _epoch(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
