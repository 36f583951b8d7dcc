"""The one trigger every import sensor defers to, whatever the vendor."""

from __future__ import annotations

import asyncio
import enum
import importlib
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_import_status.errors import ImportStatusError, TransientVendorError
from airflow_import_status.hooks.base import ImportStatusHook
from airflow_import_status.polling import ErrorAction, PollPolicy, PollTracker
from airflow_import_status.result import ImportResult

POLL_OVERRUN_SECONDS = 60.0
"""How long a poll started before the deadline may run past it (per-read timeouts do not bound
a vendor that trickles bytes, nor a poll of several requests)."""

FIRST_POLL_SPACING_SECONDS = 0.002
"""Triggers starting together (a triggerer restart, many sensors deferring at once) make their
first polls at most this often per event loop (500 a second), not in one burst that stalls the
loop for every trigger (``benchmarks/triggerer_capacity.py``). A lone trigger polls at once."""

_NEXT_FIRST_POLL: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float] = weakref.WeakKeyDictionary()


async def wait_for_first_poll_slot() -> None:
    """Wait for this event loop's next free first-poll slot (no wait when none is taken)."""
    loop = asyncio.get_running_loop()
    now = loop.time()
    slot = max(now, _NEXT_FIRST_POLL.get(loop, now))
    _NEXT_FIRST_POLL[loop] = slot + FIRST_POLL_SPACING_SECONDS
    if slot > now:
        await asyncio.sleep(slot - now)


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


def load_hook_class(path: str) -> type[ImportStatusHook]:
    """Import a hook class by dotted path, refusing anything that is not an import-status hook."""
    module_name, _, class_name = path.rpartition(".")
    hook_class = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(hook_class, type) and issubclass(hook_class, ImportStatusHook)):
        raise TypeError(f"{path!r} is not an ImportStatusHook subclass")
    return hook_class


def hook_class_path(hook_class: type[ImportStatusHook]) -> str:
    return f"{hook_class.__module__}.{hook_class.__qualname__}"


class ImportStatusTrigger(BaseTrigger):
    """Poll one vendor import job until it finishes, fails, or the deadline passes.

    Everything needed to resume after a triggerer restart is in the kwargs: the absolute
    ``deadline`` and ``waiting_since`` (epoch seconds) keep the timeout and the not-found grace
    from restarting. Kwargs hold the connection id, never credentials.

    :param hook_class: dotted path of the vendor's :class:`ImportStatusHook` subclass.
    :param conn_id: Airflow connection id the hook reads (asynchronously).
    :param job: the vendor's job parameters, e.g. ``{"contact_list_id": 1, "import_job_id": 2}``.
    :param policy: :class:`PollPolicy` fields.
    :param deadline: epoch seconds after which the trigger makes one last poll and times out.
    :param waiting_since: epoch seconds when the sensor started waiting.
    """

    def __init__(
        self,
        *,
        hook_class: str,
        conn_id: str,
        job: dict[str, Any],
        policy: dict[str, float],
        deadline: float | None,
        waiting_since: float,
    ) -> None:
        super().__init__()
        self.hook_class = hook_class
        self.conn_id = conn_id
        self.job = dict(job)
        self.policy = dict(policy)
        self.deadline = deadline
        self.waiting_since = waiting_since

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "hook_class": self.hook_class,
                "conn_id": self.conn_id,
                "job": self.job,
                "policy": self.policy,
                "deadline": self.deadline,
                "waiting_since": self.waiting_since,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = await self._wait()
        yield TriggerEvent(event.to_payload())

    async def _wait(self) -> ImportStatusEvent:
        hook = load_hook_class(self.hook_class)(self.conn_id)
        label = f"{hook.vendor} import job {hook.job_label(self.job)}"
        tracker = PollTracker(PollPolicy(**self.policy), label, self.waiting_since)
        last: ImportResult | None = None
        await wait_for_first_poll_slot()
        while True:
            try:
                result = await self._poll(hook)
            except ImportStatusError as err:
                decision = tracker.failed(err)
                if decision.action is ErrorAction.FAIL:
                    self.log.error(decision.message)
                    return ImportStatusEvent(EventStatus.ERROR, decision.message, last, decision.retryable_task)
                self.log.warning(decision.message)
                delay = decision.delay
            else:
                tracker.succeeded()
                last = result
                self.log.info("%s: %s", label, result.progress_line())
                for warning in result.warnings:
                    self.log.warning("%s: %s", label, warning)
                if result.state.is_terminal:
                    return ImportStatusEvent(EventStatus(result.state.value), f"{label} {result.state.value}", result)
                delay = tracker.policy.poll_interval
            now = time.time()
            if self.deadline is not None:
                if now >= self.deadline:
                    return ImportStatusEvent(
                        EventStatus.TIMEOUT,
                        f"{label} did not finish before the sensor timeout (last state: "
                        f"{last.state.value if last else 'unknown'})",
                        last,
                    )
                delay = min(delay, self.deadline - now)
            await asyncio.sleep(delay)

    async def _poll(self, hook: ImportStatusHook) -> ImportResult:
        """One poll; past the deadline it may take at most ``POLL_OVERRUN`` seconds more."""
        if self.deadline is None:
            return await hook.apoll(self.job)
        budget = max(0.0, self.deadline - time.time()) + POLL_OVERRUN_SECONDS
        try:
            return await asyncio.wait_for(hook.apoll(self.job), timeout=budget)
        except TimeoutError:
            raise TransientVendorError(
                f"a poll took longer than {budget:.0f}s and ran past the sensor deadline", vendor=hook.vendor
            ) from None
