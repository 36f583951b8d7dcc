"""What the import-status trigger reports: its event payload, validated (no Airflow, no I/O).

Defined below :mod:`airflow_import_status.outcome` (which decides an event's outcome) and the
trigger (which emits it); :mod:`airflow_import_status.triggers.import_status` re-exports it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_import_status.result import ImportResult


class EventStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True)
class ImportStatusEvent:
    """The validated payload of an :class:`ImportStatusTrigger` event."""

    status: EventStatus
    message: str
    result: ImportResult | None = None
    retryable: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "message": self.message,
            "result": self.result.to_dict() if self.result else None,
            "retryable": self.retryable,
        }

    @classmethod
    def from_payload(cls, payload: Any) -> ImportStatusEvent:
        """Validate an event payload; raise ``ValueError`` naming what is wrong."""
        if not isinstance(payload, Mapping):
            raise ValueError(f"trigger event payload must be a mapping, got {type(payload).__name__}")
        try:
            status = EventStatus(payload["status"])
            message = str(payload["message"])
        except (KeyError, ValueError, TypeError) as err:
            raise ValueError(f"malformed trigger event payload {dict(payload)!r}: {err}") from None
        raw_result = payload.get("result")
        try:
            result = ImportResult.from_dict(dict(raw_result)) if raw_result is not None else None
        except (TypeError, ValueError) as err:
            raise ValueError(f"trigger event carries a malformed import result: {err}") from None
        if status in (EventStatus.SUCCEEDED, EventStatus.FAILED) and result is None:
            raise ValueError(f"trigger event {status.value!r} carries no import result")
        return cls(status, message, result, bool(payload.get("retryable", False)))
