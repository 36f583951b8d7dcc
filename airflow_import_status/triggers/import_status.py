"""The one trigger every import sensor defers to, whatever the vendor."""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import logging
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_import_status.errors import ImportStatusError, TransientVendorError
from airflow_import_status.events import EventStatus as EventStatus  # re-exported: defined here before
from airflow_import_status.events import ImportStatusEvent as ImportStatusEvent
from airflow_import_status.metrics import enabled as metrics_enabled
from airflow_import_status.metrics import observed_apoll
from airflow_import_status.outcome import TriggerEnd
from airflow_import_status.polling import ErrorAction, PollPolicy, PollTracker
from airflow_import_status.result import ImportResult
from airflow_import_status.runtime import RUNTIME
from airflow_import_status.triggers.ending import end_event
from airflow_import_status.vendors import all_specs, get_spec
from airflow_import_status.vendors.spec import JobFieldError

POLL_OVERRUN_SECONDS = 60.0
"""How long a poll started before the deadline may run past it (per-read timeouts do not bound
a vendor that trickles bytes, nor a poll of several requests)."""

UNCHANGED_PROGRESS_LOG_SECONDS = 600.0
"""A poll whose progress line repeats the last one logged goes to INFO at most this often (DEBUG otherwise).

Measured with the real ``airflow triggerer`` (``benchmarks/triggerer_real.py``, 1,000 triggers): a
per-poll INFO line costs about 10 ms of the triggerer's CPU per poll (its supervisor drains each
trigger's log over a socket), 5x the poll itself; a change of state or counters is always logged."""


_NO_CONTEXT = contextvars.Context()
"""The context of every waiting trigger's wake-up timer: ``_wake`` reads no context variable, so no
timer keeps a copy of its trigger's context (as ``asyncio.sleep``'s timers do) for the whole wait."""


def _alarm(delay: float) -> tuple[asyncio.Future[None], asyncio.TimerHandle]:
    """``asyncio.sleep(delay)`` as a future to await and its timer, minus the per-wait coroutine and context."""
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()
    return woken, loop.call_later(delay, _wake, woken, context=_NO_CONTEXT)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


class _ProgressLog:
    """When a waiting trigger's progress line goes to INFO: when it changed, else once per
    :data:`UNCHANGED_PROGRESS_LOG_SECONDS`; DEBUG otherwise."""

    __slots__ = ("at", "line")

    def __init__(self) -> None:
        self.line: str | None = None
        self.at = 0.0

    def level(self, line: str, now: float) -> int:
        if line != self.line or now - self.at >= UNCHANGED_PROGRESS_LOG_SECONDS:
            self.line, self.at = line, now
            return logging.INFO
        return logging.DEBUG


def load_hook_class(path: str) -> type[Any]:
    """A legacy trigger's hook class by dotted path (triggers stored before 0.2 name it; kept for one release)."""
    module_name, _, class_name = path.rpartition(".")
    hook_class = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(hook_class, type) and hasattr(hook_class, "apoll") and hasattr(hook_class, "vendor")):
        raise TypeError(f"{path!r} is not an import-status hook class")
    return hook_class


def vendor_of_hook_class(path: str) -> str:
    """The vendor key a 0.1 trigger's ``hook_class`` path names (through the registry, so a moved class still works)."""
    for spec in all_specs():
        if spec.hook_class_name == path:
            return spec.key
    return str(load_hook_class(path).spec.key)


def bug_message(label: str, err: BaseException) -> str:
    """How a bug in the provider (not a vendor fault) is reported: at once, never retried."""
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    at = f" at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else ""
    return (
        f"{label}: bug in airflow-import-status, not a vendor fault: {type(err).__name__}: {err}{at} "
        "(full traceback in the log; please report it)"
    )


class ImportStatusTrigger(BaseTrigger):
    """Poll one vendor import job until it finishes, fails, or the deadline passes.

    Everything needed to resume after a triggerer restart is in the kwargs: the absolute
    ``deadline`` and ``waiting_since`` (epoch seconds) keep the timeout and the not-found grace
    from restarting. Kwargs hold the connection id, never credentials. The vendor is named by
    its registry key, so moving a class never breaks triggers already stored in the metadata DB.

    :param vendor: the vendor's registry key (e.g. ``"which50"``).
    :param hook_class: legacy form of ``vendor`` (a hook class path), accepted for one release.
    :param conn_id: Airflow connection id the hook reads (asynchronously).
    :param job: the vendor's job parameters, e.g. ``{"contact_list_id": 1, "import_job_id": 2}``.
    :param policy: :class:`PollPolicy` fields.
    :param deadline: epoch seconds after which the trigger makes one last poll and times out.
    :param waiting_since: epoch seconds when the sensor started waiting.
    :param end: :class:`~airflow_import_status.outcome.TriggerEnd` fields: end the task in the
        triggerer (``end_from_trigger``) where the outcome allows; ``None`` resumes it on a worker.
    """

    def __init__(
        self,
        *,
        vendor: str | None = None,
        hook_class: str | None = None,
        conn_id: str,
        job: dict[str, Any],
        policy: dict[str, float],
        deadline: float | None,
        waiting_since: float,
        end: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if vendor is None and hook_class is None:
            raise TypeError("ImportStatusTrigger needs the vendor key")
        self.vendor = vendor
        self.hook_class = hook_class
        self.conn_id = conn_id
        self.job = dict(job)
        self.policy = dict(policy)
        self.deadline = deadline
        self.waiting_since = waiting_since
        self.end = end

    @property
    def log(self) -> Any:
        """One logger for every trigger of the class (Airflow routes a line to its task through context
        variables, not through the logger), instead of three logger objects kept by each waiting trigger."""
        return type(self).logger()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **({"vendor": self.vendor} if self.vendor else {"hook_class": self.hook_class}),
                "conn_id": self.conn_id,
                "job": self.job,
                "policy": self.policy,
                "deadline": self.deadline,
                "waiting_since": self.waiting_since,
                **({"end": self.end} if self.end is not None else {}),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = await self._wait()
        # only a real triggerer (it sets task_instance) applies task-end events; dag.test() resumes the task
        if self.end is None or self.task_instance is None:
            yield TriggerEvent(event.to_payload())  # type: ignore[no-untyped-call]
            return
        hook = self._hook()
        yield await end_event(
            event,
            TriggerEnd.from_dict(self.end),
            f"{hook.vendor} import job {hook.job_label(self.job)}",
            await self._console_link(hook),
            self.log,
        )

    async def _console_link(self, hook: Any) -> str | None:
        try:
            url: str | None = hook.spec.codec.console_url(await hook.aget_settings(), hook.make_job(self.job))
            return url
        except Exception:  # a link is never worth failing the task
            self.log.warning("No vendor console link", exc_info=True)
            return None

    def _hook(self) -> Any:
        return get_spec(self.vendor or vendor_of_hook_class(str(self.hook_class))).hook_class(self.conn_id)

    async def _wait(self) -> ImportStatusEvent:
        hook = self._hook()
        label = f"{hook.vendor} import job {hook.job_label(self.job)}"
        policy = PollPolicy.from_dict(self.policy)
        tracker: PollTracker | None = None  # made at a failure, dropped at a success: not kept by a healthy wait
        last: ImportResult | None = None
        logged = _ProgressLog()
        try:
            job = hook.make_job(self.job)  # checked once, not at every poll
        except JobFieldError as err:
            return ImportStatusEvent(EventStatus.ERROR, f"{label}: {err}", last)
        await RUNTIME.wait_for_first_poll_slot()
        while True:
            try:
                if metrics_enabled():
                    result = await observed_apoll(hook.vendor, self._poll(hook, job))
                else:
                    result = await self._poll(hook, job)
            except Exception as err:
                if not isinstance(err, ImportStatusError):
                    self.log.exception("%s: bug in airflow-import-status", label)
                    return ImportStatusEvent(EventStatus.ERROR, bug_message(label, err), last)
                tracker = tracker or PollTracker(policy, label, self.waiting_since)
                decision = tracker.failed(err)
                if decision.action is ErrorAction.FAIL:
                    self.log.error(decision.message)
                    return ImportStatusEvent(EventStatus.ERROR, decision.message, last, decision.retryable_task)
                self.log.warning(decision.message)
                delay = decision.delay
            else:
                tracker = None  # a success ends the run of consecutive failures
                last = result
                line = result.progress_line()
                self.log.log(logged.level(line, time.monotonic()), "%s: %s", label, line)
                for warning in result.warnings:
                    self.log.warning("%s: %s", label, warning)
                if result.state.is_terminal:
                    return ImportStatusEvent(EventStatus(result.state.value), f"{label} {result.state.value}", result)
                delay = policy.poll_interval
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
            if delay > 0:
                woken, timer = _alarm(delay)
                try:
                    await woken
                finally:
                    timer.cancel()
            else:
                await asyncio.sleep(0)

    async def _poll(self, hook: Any, job: Any) -> ImportResult:
        """One poll; past the deadline it may take at most ``POLL_OVERRUN`` seconds more."""
        if self.deadline is None:
            result: ImportResult = await hook.apoll(job)
            return result
        budget = max(0.0, self.deadline - time.time()) + POLL_OVERRUN_SECONDS
        try:
            async with asyncio.timeout(budget):  # in this task: no task per poll, as wait_for makes
                result = await hook.apoll(job)
            return result
        except TimeoutError:
            raise TransientVendorError(
                f"a poll took longer than {budget:.0f}s and ran past the sensor deadline", vendor=hook.vendor
            ) from None
