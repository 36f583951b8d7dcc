"""Where a wait's outcome is decided: one function per input, used by every path.

The worker paths (``poke``, the sync poll before deferring, ``execute_complete``) and the
trigger ending a task itself (``end_from_trigger``) all map what they learnt (an
:class:`ImportResult`, a trigger event, a poll-error decision) to one :class:`Outcome`
here; each path only carries it out: the worker pushes :attr:`Outcome.xcoms` and raises
:meth:`Outcome.exception`, the trigger turns it into a task-end event with
:func:`trigger_end_state` (or resumes the task on a worker where the triggerer cannot
express the outcome).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_import_status.polling import ErrorAction, ErrorDecision
from airflow_import_status.result import COUNTER_FIELDS, ImportResult, ImportState
from airflow_import_status.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
)

if TYPE_CHECKING:
    from airflow_import_status.events import ImportStatusEvent

RESULT_XCOM_KEY = "import_result"
"""XCom key holding the normalized result, on success and on failure alike."""

RETURN_XCOM_KEY = "return_value"
"""Airflow's key for what ``execute`` returns."""

ASSET_EXTRA_FIELDS = ("vendor", "job_id", "state", "vendor_status", "finished_at")
"""Asset events carry these plus every counter."""


class OutcomeKind(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED_IMPORT = "failed_import"
    """The vendor says the import failed: fail without retry."""
    GATE_FAILED = "gate_failed"
    """The import succeeded but broke (or cannot be checked against) the quality gate: fail without retry."""
    TIMEOUT = "timeout"
    """The sensor's timeout passed: Airflow's sensor timeout (no retry)."""
    RETRYABLE_ERROR = "retryable_error"
    """Transient faults past the limit (or a vendor that may recover): Airflow may retry the task."""
    ERROR = "error"
    """Anything else that ends the wait: a refused credential, a bad job parameter, a bug in this
    provider (reported as such by the trigger). Fail without retry."""


@dataclass(frozen=True)
class QualityGate:
    """The sensor's ``max_rejected`` / ``max_rejected_ratio``."""

    max_rejected: int | None = None
    max_rejected_ratio: float | None = None

    def __post_init__(self) -> None:
        if self.max_rejected is not None and self.max_rejected < 0:
            raise ValueError("max_rejected must be >= 0")
        if self.max_rejected_ratio is not None and not 0 <= self.max_rejected_ratio <= 1:
            raise ValueError("max_rejected_ratio must be within 0..1")

    def to_dict(self) -> dict[str, Any]:
        """The XCom (``import_gate``) and trigger-kwargs form."""
        return {"max_rejected": self.max_rejected, "max_rejected_ratio": self.max_rejected_ratio}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> QualityGate:
        data = data or {}
        return cls(data.get("max_rejected"), data.get("max_rejected_ratio"))

    def breach(self, result: ImportResult, label: str) -> str | None:
        """Why a succeeded import fails the gate (a gate that cannot be checked fails too); ``None`` if it passes."""
        if self.max_rejected is None and self.max_rejected_ratio is None:
            return None
        if result.invalid is None and result.failed is None:
            return (
                f"{label}: a quality gate (max_rejected / max_rejected_ratio) is set but "
                f"{result.vendor} reports no invalid or failed record counts to check it against"
            )
        rejected = result.rejected
        if self.max_rejected is not None and rejected > self.max_rejected:
            return (
                f"{label} succeeded but {rejected} records were rejected "
                f"(invalid={result.invalid}, failed={result.failed}), more than max_rejected={self.max_rejected}"
            )
        if self.max_rejected_ratio is not None:
            if result.total is None:
                return f"{label}: max_rejected_ratio is set but {result.vendor} reports no total to check it against"
            ratio = rejected / result.total if result.total else (1.0 if rejected else 0.0)
            if ratio > self.max_rejected_ratio:
                return (
                    f"{label} succeeded but {rejected}/{result.total} records ({ratio:.1%}) were rejected, "
                    f"more than max_rejected_ratio={self.max_rejected_ratio:.1%}"
                )
        return None


@dataclass(frozen=True)
class Outcome:
    """How a wait ends: its kind, the message a failure carries, the result (if any) that goes to XCom."""

    kind: OutcomeKind
    message: str
    result: ImportResult | None = None

    @property
    def import_finished(self) -> bool:
        """The vendor finished the import (succeeded, failed, or succeeded past the gate): its refusals are final."""
        return self.kind in (OutcomeKind.SUCCEEDED, OutcomeKind.FAILED_IMPORT, OutcomeKind.GATE_FAILED)

    @property
    def succeeded(self) -> bool:
        return self.kind is OutcomeKind.SUCCEEDED

    @property
    def xcoms(self) -> dict[str, Any]:
        """The XComs this outcome leaves: the result on success and on a failed import, gate or timeout."""
        if self.result is None or self.kind in (OutcomeKind.RETRYABLE_ERROR, OutcomeKind.ERROR):
            return {}
        data = self.result.to_dict()
        if self.succeeded:
            return {RESULT_XCOM_KEY: data, RETURN_XCOM_KEY: data}
        return {RESULT_XCOM_KEY: data}

    def asset_extra(self) -> dict[str, Any]:
        """What a succeeded import puts on its task's asset events."""
        assert self.result is not None and self.succeeded
        data = self.result.to_dict()
        return {key: data[key] for key in (*ASSET_EXTRA_FIELDS, *COUNTER_FIELDS)}

    def exception(self) -> AirflowException | None:
        """What a worker raises for this outcome (``None``: success)."""
        if self.kind is OutcomeKind.SUCCEEDED:
            return None
        if self.kind is OutcomeKind.TIMEOUT:
            return AirflowSensorTimeout(self.message)
        if self.kind is OutcomeKind.RETRYABLE_ERROR:
            return AirflowException(self.message)
        return AirflowFailException(self.message)


def decide_result(result: ImportResult, gate: QualityGate, label: str) -> Outcome:
    """The outcome of a terminal poll result: succeeded, failed import, or gate failure."""
    if result.state is ImportState.FAILED:
        return Outcome(
            OutcomeKind.FAILED_IMPORT,
            f"{label} failed: vendor status {result.vendor_status!r}"
            + (f", vendor message: {result.message}" if result.message else "")
            + f" ({result.progress_line()})",
            result,
        )
    breach = gate.breach(result, label)
    if breach is not None:
        return Outcome(OutcomeKind.GATE_FAILED, breach, result)
    return Outcome(OutcomeKind.SUCCEEDED, f"{label} succeeded: {result.progress_line()}", result)


def decide_error(decision: ErrorDecision) -> Outcome | None:
    """The outcome of a poll error the policy gave up on (``None``: keep waiting)."""
    if decision.action is not ErrorAction.FAIL:
        return None
    return Outcome(OutcomeKind.RETRYABLE_ERROR if decision.retryable_task else OutcomeKind.ERROR, decision.message)


def decide_event(event: ImportStatusEvent, gate: QualityGate, label: str) -> Outcome:
    """The outcome of the trigger's event: the same rules as a poll on the worker."""
    if event.status == "timeout":
        return Outcome(OutcomeKind.TIMEOUT, event.message, event.result)
    if event.status == "error":
        return Outcome(OutcomeKind.RETRYABLE_ERROR if event.retryable else OutcomeKind.ERROR, event.message)
    assert event.result is not None  # validated by ImportStatusEvent.from_payload
    return decide_result(event.result, gate, label)


@dataclass(frozen=True)
class TriggerEnd:
    """What the trigger needs to end its task itself (``end_from_trigger``); trigger-kwargs form by :meth:`to_dict`.

    :param gate: the task's quality gate.
    :param soft_fail: the sensor's ``soft_fail`` or ``never_fail``: a failure skips the task.
    :param retries: the task's ``retries``.
    :param worker_only: why the task must end on a worker whatever happens (e.g. outlets, whose
        asset events only a worker emits), or ``None``.
    :param xcoms: XComs the worker would have left besides the outcome's (the quality gate, the
        vendor console link).
    :param forget_variable: an Airflow Variable the worker deletes once the outcome is final (a
        start-import operator's ledger); the trigger deletes it when it ends the task so.
    """

    gate: QualityGate
    soft_fail: bool = False
    retries: int = 0
    worker_only: str | None = None
    xcoms: Mapping[str, Any] | None = None
    forget_variable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate.to_dict(),
            "soft_fail": self.soft_fail,
            "retries": self.retries,
            "worker_only": self.worker_only,
            "xcoms": dict(self.xcoms or {}),
            "forget_variable": self.forget_variable,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TriggerEnd:
        return cls(
            gate=QualityGate.from_dict(data.get("gate")),
            soft_fail=bool(data.get("soft_fail", False)),
            retries=int(data.get("retries") or 0),
            worker_only=data.get("worker_only"),
            xcoms=dict(data.get("xcoms") or {}),
            forget_variable=data.get("forget_variable"),
        )


class EndState(enum.StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"


def trigger_end_state(outcome: Outcome, end: TriggerEnd) -> EndState | None:
    """The state the trigger ends its task in with ``outcome``, or ``None``: resume on a worker.

    Airflow 3.3's triggerer turns a failed-task event into ``up_for_retry`` whenever the task has
    retries left (``airflow/models/trigger.py``), so it can express "fail without retry" only for
    a task with ``retries=0``; a retryable error is exactly what it expresses. A task with outlets
    resumes on a worker (the triggerer emits no asset events for a task it ends).
    """
    if end.worker_only is not None:
        return None
    if outcome.succeeded:
        return EndState.SUCCESS
    if end.soft_fail:  # BaseSensorOperator.resume_execution skips on any Airflow failure
        return EndState.SKIPPED
    if outcome.kind is OutcomeKind.RETRYABLE_ERROR or end.retries == 0:
        return EndState.FAILED
    return None
