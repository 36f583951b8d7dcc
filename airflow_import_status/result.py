"""The normalized import result: the one contract every vendor maps into.

Every vendor parser returns an :class:`ImportResult`; sensors push ``ImportResult.to_dict()``
to XCom, so downstream tasks read the same keys whatever the vendor.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar


class ImportState(enum.StrEnum):
    """Lifecycle of a vendor import job. ``succeeded`` and ``failed`` are terminal."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (ImportState.SUCCEEDED, ImportState.FAILED)


COUNTER_FIELDS: tuple[str, ...] = (
    "total",
    "imported",
    "inserted",
    "updated",
    "unchanged",
    "deleted",
    "duplicates",
    "invalid",
    "failed",
    "opted_out",
)


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """Normalized status of one vendor import job.

    Counters are ``None`` where the vendor does not report them; dates are ISO 8601 in UTC.
    ``warnings`` carries things a user should see in the log (for example an unrecognized
    vendor status) without failing the import.
    """

    vendor: str
    job_id: str
    state: ImportState
    vendor_status: str | None
    total: int | None = None
    imported: int | None = None
    inserted: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    deleted: int | None = None
    duplicates: int | None = None
    invalid: int | None = None
    failed: int | None = None
    opted_out: int | None = None
    progress_percent: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    message: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", ImportState(self.state))
        for name in COUNTER_FIELDS:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"counter {name!r} must be a non-negative int or None, got {value!r}")
        if self.progress_percent is not None and not 0 <= self.progress_percent <= 100:
            raise ValueError(f"progress_percent must be within 0..100, got {self.progress_percent!r}")

    @property
    def rejected(self) -> int:
        """Records the vendor refused: invalid plus failed (unknown counts as 0)."""
        return (self.invalid or 0) + (self.failed or 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict, the XCom form."""
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportResult:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise ValueError(f"unexpected keys in import result: {sorted(unknown)}")
        return cls(**data)

    def progress_line(self) -> str:
        """One log line: state, percent and the counters the vendor reports."""
        parts = [f"state={self.state.value}", f"vendor_status={self.vendor_status!r}"]
        if self.progress_percent is not None:
            parts.append(f"progress={self.progress_percent}%")
        parts += [f"{name}={getattr(self, name)}" for name in COUNTER_FIELDS if getattr(self, name) is not None]
        if self.message:
            parts.append(f"message={self.message!r}")
        return " ".join(parts)


def sum_counters(*values: int | None) -> int | None:
    """Sum of the known values; ``None`` if none is known."""
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def to_utc_iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC; naive datetimes are taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


@dataclasses.dataclass(frozen=True)
class StatusTable:
    """A vendor's status values, by normalized state (case-insensitive by default).

    The table is data, so a connection can override it where accounts differ.
    """

    pending: frozenset[str] = frozenset()
    running: frozenset[str] = frozenset()
    succeeded: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    case_sensitive: bool = False

    def __post_init__(self) -> None:
        sets = {"pending": self.pending, "running": self.running, "succeeded": self.succeeded, "failed": self.failed}
        seen: dict[str, str] = {}
        for state, values in sets.items():
            for value in values:
                other = seen.setdefault(self._norm(value), state)
                if other != state:
                    raise ValueError(f"status {value!r} is listed as both {other} and {state}")

    STATE_EXTRAS: ClassVar[dict[str, str]] = {
        "pending": "pending_statuses",
        "running": "running_statuses",
        "succeeded": "success_statuses",
        "failed": "failure_statuses",
    }
    """The connection extras that add statuses to a state (comma-separated or a JSON list)."""

    def configured(self, extra: Mapping[str, Any]) -> StatusTable:
        """This table with the connection's status extras applied.

        A status named in an extra moves to that state: it is added there and taken out of the
        others' defaults (so a connection can turn a default success value into a failure).
        """
        additions: dict[str, set[str]] = {}
        for state, name in self.STATE_EXTRAS.items():
            value = extra.get(name)
            items = value if isinstance(value, list) else str(value or "").split(",")
            additions[state] = {str(item).strip() for item in items if str(item).strip()}
        moved = {self._norm(value) for values in additions.values() for value in values}
        return StatusTable(
            **{
                state: frozenset(v for v in getattr(self, state) if self._norm(v) not in moved) | additions[state]
                for state in self.STATE_EXTRAS
            },
            case_sensitive=self.case_sensitive,
        )

    def _norm(self, value: str) -> str:
        value = value.strip()
        return value if self.case_sensitive else value.casefold()

    def classify(self, value: str | None) -> ImportState | None:
        """The normalized state of a vendor status, or ``None`` if the table does not know it."""
        if value is None:
            return None
        return self._lookup.get(self._norm(str(value)))

    @functools.cached_property
    def _lookup(self) -> dict[str, ImportState]:
        """Normalized status to state, built once per table (a status is in one state at most)."""
        lookup: dict[str, ImportState] = {}
        for state, values in (
            (ImportState.PENDING, self.pending),
            (ImportState.RUNNING, self.running),
            (ImportState.SUCCEEDED, self.succeeded),
            (ImportState.FAILED, self.failed),
        ):
            lookup.update(dict.fromkeys((self._norm(v) for v in values), state))
        return lookup


def unrecognized_status_warning(vendor: str, value: str | None, how_to_configure: str) -> str:
    """The warning every vendor gives for a status its table does not know (never success)."""
    return (
        f"{vendor} reported an unrecognized import status {value!r}; still waiting. "
        f"If this status is terminal for your account, {how_to_configure}"
    )
