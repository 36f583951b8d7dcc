"""The trigger ending its task itself (``end_from_trigger``) with the outcome a worker would give it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import Variable
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent
from asgiref.sync import sync_to_async

from airflow_import_status.outcome import EndState, OutcomeKind, TriggerEnd, decide_event, trigger_end_state

if TYPE_CHECKING:
    from airflow_import_status.events import ImportStatusEvent

CONSOLE_LINK_XCOM_KEY = "_link_ImportConsoleLink"
"""Where Airflow keeps the "Vendor console" link (``BaseOperatorLink.xcom_key`` of ``ImportConsoleLink``): a
task ended by its trigger never runs the worker's finalize, which is what records extra links."""

_END_EVENTS = {EndState.SUCCESS: TaskSuccessEvent, EndState.FAILED: TaskFailedEvent, EndState.SKIPPED: TaskSkippedEvent}


async def end_event(
    event: ImportStatusEvent, end: TriggerEnd, label: str, console_link: str | None, log: Any
) -> TriggerEvent:
    """The task-end event for ``event``, or the plain event that resumes the task on a worker."""
    outcome = decide_event(event, end.gate, label)
    state = trigger_end_state(outcome, end)
    if state is None:
        log.info("%s: %s; the task ends on a worker", label, end.worker_only or "a failure without retry")
        return TriggerEvent(event.to_payload())  # type: ignore[no-untyped-call]
    xcoms: dict[str, Any] = {**(end.xcoms or {}), **outcome.xcoms}
    xcoms[CONSOLE_LINK_XCOM_KEY] = console_link or ""  # what the worker's finalize records without a link
    if end.forget_variable and outcome.kind is not OutcomeKind.RETRYABLE_ERROR:  # as the worker's ledger rule
        await sync_to_async(Variable.delete)(end.forget_variable)
    (log.info if outcome.succeeded else log.error)("%s (task ended by the trigger: %s)", outcome.message, state.value)
    return _END_EVENTS[state](xcoms=xcoms)
