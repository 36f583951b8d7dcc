"""Where the Imports UI meets the vendor internals: reading an import trigger, and the sync hook of a vendor.

- :func:`read_trigger` reads a deferred task's trigger: ``ImportStatusTrigger`` kwargs name the
  vendor by its registry key (``vendor``); triggers stored by 0.1 name the hook class
  (``hook_class``), resolved through the registry too.
- :func:`hook_for` builds the sync hook that polls a vendor once, from the vendor registry.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from airflow_import_status.hooks.base import ImportStatusHook
from airflow_import_status.triggers.import_status import vendor_of_hook_class
from airflow_import_status.vendors import all_specs, get_spec

TRIGGER_CLASSPATHS: frozenset[str] = frozenset({"airflow_import_status.triggers.import_status.ImportStatusTrigger"})
"""Classpaths of the triggers an import waits in (the ``trigger.classpath`` column)."""


@dataclasses.dataclass(frozen=True)
class WaitingImport:
    """What a deferred import task's trigger says about the job it waits for (never credentials)."""

    vendor: str
    conn_id: str
    job: dict[str, Any]
    deadline: float | None
    waiting_since: float | None

    @property
    def job_label(self) -> str:
        """The vendor's own label of the job, e.g. ``1000 of contact list 42``."""
        try:
            label: str = get_spec(self.vendor).hook_class.job_label(self.job)
            return label
        except (KeyError, TypeError, ValueError):
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
        vendor = vendor_ref if "." not in vendor_ref else vendor_of_hook_class(vendor_ref)
    except (KeyError, TypeError, ImportError, AttributeError):
        vendor = vendor_ref.rpartition(".")[2]
    return WaitingImport(
        vendor=vendor,
        conn_id=conn_id,
        job=dict(job),
        deadline=_epoch(kwargs.get("deadline")),
        waiting_since=_epoch(kwargs.get("waiting_since")),
    )


def hook_for(vendor: str, conn_id: str) -> ImportStatusHook[Any, Any]:
    """The sync hook that polls ``vendor`` (a registry key) through ``conn_id``."""
    hook: ImportStatusHook[Any, Any] = get_spec(vendor).hook_class(conn_id)
    return hook


def vendors() -> list[str]:
    """Every vendor key, for the vendor filter."""
    return sorted(spec.key for spec in all_specs())


def _epoch(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
