"""The one waiting component: how a vendor sensor and a start-import operator wait for an import job.

The sensor (:class:`~airflow_import_status.sensors.base.ImportStatusSensor`) and the start-import
operator (:class:`~airflow_import_status.operators.base.ImportStartOperator`) are Airflow
operators that keep their parameters (Airflow templates and serializes them) and *use* an
:class:`ImportWait`, as dbt Cloud's run-job operator uses its hook and trigger. The wait holds
the waiting settings (quality gate, poll policy, where the task may end) and does, for every
mode, once:

- ``deferrable=True``: one sync poll first, then the deferral to
  :class:`~airflow_import_status.triggers.import_status.ImportStatusTrigger` and the resume from
  its event;
- ``mode="poke"`` / ``mode="reschedule"``: the poke step through the sync hook;
- the outcome (decided in :mod:`airflow_import_status.outcome`) carried out on the worker:
  XComs, the refused-records file, asset events, the exception.

The wait holds no templated value and no task: each call is given the task, whose rendered
parameters it reads (Airflow renders a copy of the task, not the one built at parse time).
:class:`ImportJobMixin` is what both tasks expose of the job they wait on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import Asset, PokeReturnValue

from airflow_import_status.errors import ImportStatusError
from airflow_import_status.events import ImportStatusEvent
from airflow_import_status.metrics import observed_poll
from airflow_import_status.outcome import (
    Outcome,
    QualityGate,
    TriggerEnd,
    decide_error,
    decide_event,
    decide_result,
)
from airflow_import_status.polling import ErrorAction, PollPolicy, PollTracker
from airflow_import_status.rejected import DEFAULT_MAX_REJECTED_RECORDS, refused_records_written
from airflow_import_status.result import ImportResult
from airflow_import_status.triggers.ending import CONSOLE_LINK_XCOM_KEY
from airflow_import_status.triggers.import_status import ImportStatusTrigger, bug_message
from airflow_import_status.triggers.start import DEFERRAL_TIMEOUT_MARGIN
from airflow_import_status.vendors.spec import JobFieldError, VendorSpec
from airflow_import_status.version_compat import AirflowException, AirflowFailException, AirflowSkipException

if TYPE_CHECKING:
    from airflow.sdk import Context

GATE_XCOM_KEY = "import_gate"
"""XCom key of the task's quality gate ``{"max_rejected": ..., "max_rejected_ratio": ...}``, pushed when it
starts waiting (Airflow does not serialize these attributes; the Imports page draws the threshold)."""


class ImportJobMixin:
    """The vendor job a task waits on, from its ``spec`` and its (rendered) job fields and connection id.

    What the wait, the lineage (:mod:`~airflow_import_status.lineage`), the "Vendor console" link
    and the refused-records file (:mod:`~airflow_import_status.rejected`) read of the task.
    """

    spec: ClassVar[VendorSpec[Any, Any]]
    """The vendor; the task gets its job parameters, ``template_fields`` and hook from it."""
    hook_class: ClassVar[type[Any]]
    """The spec's hook class."""
    job_fields: ClassVar[tuple[str, ...]]
    """The task's attributes that identify the job (the spec's job fields)."""
    log: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            cls.hook_class = cls.spec.hook_class
            cls.job_fields = cls.spec.job_type.field_names()

    def _bind_job_params(self, params: Mapping[str, Any], *, starts_job: bool = False) -> None:
        """Check the job fields and connection id the vendor class was given and set them as the task's attributes.

        ``params``: what the vendor class's ``__init__`` declares (its job fields and connection id
        parameter, explicit keywords so Airflow's ``partial``/``expand`` accept them).
        ``starts_job``: the task starts the job itself (a start-import operator): it takes no job id.
        """
        owner = f"{type(self).__name__} {getattr(self, 'task_id', '')!r}"
        id_field = self.spec.job_type.id_field()
        declared = {*self.job_fields, self.spec.conn_id_param} - ({id_field} if starts_job else set())
        if set(params) != declared:
            raise TypeError(f"{type(self).__name__} passes {sorted(params)}, not its spec's {sorted(declared)}")
        job = {name: params.get(name) for name in self.job_fields}
        try:
            self.spec.job_type.check_params({**job, id_field: "bound at run time"} if starts_job else job, owner)
        except JobFieldError as err:
            raise TypeError(str(err)) from None
        for name, value in job.items():
            setattr(self, name, value)
        setattr(self, self.spec.conn_id_param, params[self.spec.conn_id_param] or self.spec.default_conn_id)

    @property
    def conn_id(self) -> str:
        conn_id: str = getattr(self, self.spec.conn_id_param)
        return conn_id

    def job(self) -> dict[str, Any]:
        """The job parameters, after templating."""
        return {name: getattr(self, name) for name in self.job_fields}

    @cached_property
    def hook(self) -> Any:
        return self.hook_class(self.conn_id)

    @property
    def vendor(self) -> str:
        return self.spec.key

    @property
    def job_label(self) -> str:
        return f"{self.vendor} import job {self.hook_class.job_label(self.job())}"

    def console_url(self) -> str | None:
        try:
            url: str | None = self.hook.console_url(self.job())
            return url
        except (ImportStatusError, JobFieldError) as err:
            self.log.warning("No vendor console link: %s", err)
            return None


@dataclass(frozen=True)
class ImportWait:
    """Waiting for one vendor import job: what a sensor and a start-import operator use.

    :param gate: the task's quality gate (``max_rejected`` / ``max_rejected_ratio``).
    :param policy: polling and the riding out of transient faults.
    :param end_from_trigger: let the trigger end the task itself where the triggerer can express the outcome.
    :param max_rejected_records: refused records written at most, per source (upload, vendor).

    Each method takes the task (a sensor or a start-import operator: an :class:`ImportJobMixin`
    ``BaseSensorOperator``): its job, hook, log, ``timeout``, ``soft_fail``, outlets and
    ``rejected_records_path``.
    """

    gate: QualityGate
    policy: PollPolicy
    end_from_trigger: bool = False
    max_rejected_records: int = DEFAULT_MAX_REJECTED_RECORDS

    def __post_init__(self) -> None:
        if self.max_rejected_records < 1:
            raise ValueError("max_rejected_records must be >= 1")

    @classmethod
    def of(
        cls,
        *,
        poke_interval: float,
        max_rejected: int | None,
        max_rejected_ratio: float | None,
        not_found_grace: float,
        max_consecutive_failures: int,
        retry_backoff: float,
        retry_backoff_max: float,
        end_from_trigger: bool,
        max_rejected_records: int,
    ) -> ImportWait:
        """The wait from a task's parameters (the sensor's, documented there), checked."""
        policy = PollPolicy(
            poll_interval=float(poke_interval),
            max_consecutive_failures=max_consecutive_failures,
            backoff_initial=retry_backoff,
            backoff_max=retry_backoff_max,
            not_found_grace=not_found_grace,
        )
        return cls(QualityGate(max_rejected, max_rejected_ratio), policy, end_from_trigger, max_rejected_records)

    # ----- the modes ------------------------------------------------------------------------------
    def execute(
        self, task: Any, context: Context, *, poke_loop: Callable[[Context], Any], forget_variable: str | None = None
    ) -> Any:
        """Wait: Airflow's sensor loop (``poke_loop``) calling :meth:`poke`, or one poll then the deferral.

        ``forget_variable``: the Variable a trigger that ends the task deletes (an operator's ledger).
        """
        task.log.info("Waiting for %s (conn_id=%s)", task.job_label, task.conn_id)
        context["ti"].xcom_push(key=GATE_XCOM_KEY, value=self.gate.to_dict())
        if not task.deferrable:
            return poke_loop(context)
        now = time.time()
        finished = self._poll_before_deferring(task, context, PollTracker(self.policy, task.job_label, now))
        if finished is not None:
            return finished
        url = task.console_url()  # the "Vendor console" link now, not only when the task finishes
        if url:
            context["ti"].xcom_push(key=CONSOLE_LINK_XCOM_KEY, value=url)
        end = self.trigger_end(task) if self.end_from_trigger else None
        task.defer(
            trigger=ImportStatusTrigger(
                vendor=task.spec.key,
                conn_id=task.conn_id,
                job=task.job(),
                policy=self.policy.to_dict(),
                deadline=now + task.timeout if task.timeout else None,
                waiting_since=now,
                end=dataclasses.replace(end, forget_variable=forget_variable).to_dict() if end else None,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=task.timeout) + DEFERRAL_TIMEOUT_MARGIN if task.timeout else None,
        )

    def poke(self, task: Any, context: Context) -> bool | PokeReturnValue:
        """One poll, riding out transient faults with the shared backoff policy (never past the timeout)."""
        tracker = PollTracker(self.policy, task.job_label, _waiting_since(task, context))
        while True:
            try:
                result = self.poll_once(task)
            except ImportStatusError as err:
                decision = tracker.failed(err)
                ended = decide_error(decision)
                if ended is not None:
                    raise ended.exception() from None  # type: ignore[misc]
                task.log.warning(decision.message)
                remaining = tracker.waiting_since + task.timeout - time.time()
                if decision.action is ErrorAction.WAIT or remaining <= 0:
                    return False
                time.sleep(min(decision.delay, remaining))
                continue
            _log_progress(task, result)
            if not result.state.is_terminal:
                return False
            return PokeReturnValue(is_done=True, xcom_value=self.finish(task, context, result))

    def resume(self, task: Any, context: Context, event: dict[str, Any], *, started_in_trigger: bool = False) -> Any:
        """Resume after the trigger fired: the same outcome rules as a poll on the worker."""
        try:
            outcome = ImportStatusEvent.from_payload(event)
        except ValueError as err:
            raise AirflowException(f"{task.job_label}: malformed trigger event: {err}") from None
        if started_in_trigger:  # execute never ran: the trigger started the wait
            context["ti"].xcom_push(key=GATE_XCOM_KEY, value=self.gate.to_dict())
        return self.carry_out(task, context, decide_event(outcome, self.gate, task.job_label))

    def trigger_end(self, task: Any) -> TriggerEnd:
        """What the trigger needs to end ``task`` itself with the outcome a worker would give it."""
        # a task its trigger ends emits no asset events at all (airflow/models/trigger.py registers no asset changes)
        return TriggerEnd(
            gate=self.gate,
            soft_fail=_skip_reason(task) is not None,
            retries=int(task.retries or 0),
            worker_only=_worker_only_reason(task),
            xcoms={GATE_XCOM_KEY: self.gate.to_dict()},
        )

    # ----- one poll, one outcome ------------------------------------------------------------------
    def poll_once(self, task: Any) -> ImportResult:
        """One sync poll; a bug or a bad job parameter fails the task at once, never retried."""
        try:
            result: ImportResult = observed_poll(task.vendor, task.hook.poll, task.job())
            return result
        except ImportStatusError:
            raise
        except JobFieldError as err:
            raise AirflowFailException(f"{task.job_label}: {err}") from None
        except Exception as err:
            task.log.exception("%s: bug in airflow-import-status", task.job_label)
            raise AirflowFailException(bug_message(task.job_label, err)) from err

    def _poll_before_deferring(self, task: Any, context: Context, tracker: PollTracker) -> Any:
        """One sync poll first: a finished job or a permanent fault ends here without a deferral.

        A job that finishes before it is deferred never makes a trigger fire instantly (Airflow
        3.3 can then race the task's own state update, apache/airflow#67287).
        """
        try:
            result = self.poll_once(task)
        except ImportStatusError as err:
            decision = tracker.failed(err)
            ended = decide_error(decision)
            if ended is not None and isinstance(error := ended.exception(), AirflowFailException):
                _fail(task, error)
            task.log.warning("%s; the trigger takes over", decision.message)
            return None
        _log_progress(task, result)
        if not result.state.is_terminal:
            return None
        try:
            return self.finish(task, context, result)
        except AirflowFailException as err:
            _fail(task, err)

    def finish(self, task: Any, context: Context, result: ImportResult) -> Any:
        """Push the result; fail a failed import or one that breaks the quality gate."""
        return self.carry_out(task, context, decide_result(result, self.gate, task.job_label))

    def carry_out(self, task: Any, context: Context, outcome: Outcome) -> Any:
        """Do on the worker what ``outcome`` says: its XComs (``return_value`` by returning), assets, exception."""
        task.lineage_result = outcome.result  # what the OpenLineage events report (lineage.py), no I/O in the listener
        for key, value in outcome.xcoms.items():
            if key != "return_value":
                context["ti"].xcom_push(key=key, value=value)
        # a finished import's refusals go to rejected_records_path (and are named in a failure)
        with refused_records_written(task, context) if outcome.import_finished else contextlib.nullcontext():
            error = outcome.exception()
            if error is not None:
                raise error
            _annotate_assets(task, context, outcome.asset_extra())
        task.log.info(outcome.message)
        return outcome.xcoms["return_value"]


def _skip_reason(task: Any) -> str | None:
    """Why a failure of ``task`` skips it (``soft_fail`` or ``never_fail``), if it does."""
    if task.soft_fail:
        return "soft_fail"
    return "never_fail" if getattr(task, "never_fail", False) else None


def _fail(task: Any, error: AirflowFailException) -> NoReturn:
    """Fail as Airflow's own sensor loop would: skipped with ``soft_fail``/``never_fail``."""
    reason = _skip_reason(task)
    if reason is not None:
        raise AirflowSkipException(f"Skipping ({reason}): {error}") from error
    raise error


def _worker_only_reason(task: Any) -> str | None:
    """Why ``task`` must end on a worker whatever the outcome, if it must."""
    if task.outlets:
        return "outlets (only a worker emits their asset events)"
    if task.rejected_records_path:
        return "rejected_records_path (the file is written by a worker, never by the triggerer)"
    return None


def _waiting_since(task: Any, context: Context) -> float:
    if task.reschedule:
        first = context["ti"].get_first_reschedule_date(context)
        if first is not None:
            return float(first.timestamp())
    started: float | None = getattr(task, "_started_waiting", None)
    if started is None:
        started = task._started_waiting = time.time()
    return started


def _log_progress(task: Any, result: ImportResult) -> None:
    task.log.info("%s: %s", task.job_label, result.progress_line())
    for warning in result.warnings:
        task.log.warning("%s: %s", task.job_label, warning)


def _annotate_assets(task: Any, context: Context, extra: Mapping[str, Any]) -> None:
    """Put the normalized counters on the asset events of the task's Asset outlets."""
    for outlet in task.outlets or ():
        if isinstance(outlet, Asset):
            context["outlet_events"][outlet].extra.update(extra)
