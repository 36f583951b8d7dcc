"""The sensor base every vendor sensor subclasses: modes, timeout, quality gate, XCom, assets.

A vendor sensor only declares its job parameters and its hook class; the waiting,
retrying, failing and reporting are here, once, for every mode:

- ``deferrable=True``: defers to :class:`ImportStatusTrigger` at once (no worker slot held);
- ``mode="poke"`` / ``mode="reschedule"``: :meth:`poke` polls through the sync hook.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import Asset, BaseOperatorLink, BaseSensorOperator, PokeReturnValue

from airflow_import_status import version_compat
from airflow_import_status.errors import ImportStatusError
from airflow_import_status.lineage import ImportLineageMixin
from airflow_import_status.metrics import observed_poll
from airflow_import_status.outcome import (
    ASSET_EXTRA_FIELDS,
    RESULT_XCOM_KEY,
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
from airflow_import_status.triggers.import_status import (
    ImportStatusEvent,
    ImportStatusTrigger,
    bug_message,
)
from airflow_import_status.triggers.start import DEFERRAL_TIMEOUT_MARGIN, start_from_trigger_args
from airflow_import_status.vendors.spec import JobFieldError, VendorSpec
from airflow_import_status.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    conf,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

GATE_XCOM_KEY = "import_gate"
"""XCom key of the task's quality gate ``{"max_rejected": ..., "max_rejected_ratio": ...}``, pushed when it
starts waiting (Airflow does not serialize these attributes; the Imports page draws the threshold)."""

__all__ = [
    "ASSET_EXTRA_FIELDS",
    "DEFERRAL_TIMEOUT_MARGIN",
    "GATE_XCOM_KEY",
    "RESULT_XCOM_KEY",
    "ImportConsoleLink",
    "ImportStatusSensor",
    "ImportWaitingTask",
]


class ImportConsoleLink(BaseOperatorLink):
    """Extra link from the task to the import job in the vendor's web console."""

    name = "Vendor console"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        console_url = getattr(operator, "console_url", None)
        return (console_url() if callable(console_url) else None) or ""


class ImportWaitingTask(ImportLineageMixin, BaseSensorOperator):
    """A task that waits for a vendor import job to finish and returns its normalized result.

    What :class:`ImportStatusSensor` (the job given) and
    :class:`~airflow_import_status.operators.base.ImportStartOperator` (the job started by the
    task) share: the waiting parameters, every mode, the trigger, and the outcome rules of
    :mod:`airflow_import_status.outcome`.

    :param deferrable: defer to the triggerer while waiting; defaults to
        ``[operators] default_deferrable``.
    :param max_rejected: fail (or, with ``soft_fail``, skip) a succeeded import whose
        invalid + failed records exceed this count.
    :param max_rejected_ratio: the same as a fraction (0..1) of ``total``.
    :param not_found_grace: seconds during which "job not found" means "not visible yet".
    :param max_consecutive_failures: transient faults in a row before the task fails.
    :param retry_backoff: first backoff delay in seconds after a transient fault (doubles,
        with jitter, up to ``retry_backoff_max``).
    :param retry_backoff_max: longest backoff delay in seconds.
    :param start_from_trigger: on Airflow 3.3+, start the wait in the triggerer, with no worker
        run at all (implies ``end_from_trigger``); earlier releases warn and defer from a worker.
    :param end_from_trigger: let the trigger end the task itself (no resume run on a worker)
        where the triggerer can express the outcome (see docs/zero-worker-waiting.md).
    :param rejected_records_path: once the import finished, write its refused records there (templated;
        a local path, an ``ObjectStoragePath`` or a URL; CSV, or JSON Lines for ``.jsonl``);
        see :mod:`airflow_import_status.rejected`.
    :param max_rejected_records: refused records written at most, per source (upload, vendor).
    """

    spec: ClassVar[VendorSpec[Any, Any] | None] = None
    """The vendor; a vendor sensor sets it and gets its job parameters, ``template_fields`` and hook from it."""
    hook_class: ClassVar[type[Any]]
    job_fields: ClassVar[tuple[str, ...]]
    """The sensor's attributes that identify the job (from the spec's job type)."""
    starts_job: ClassVar[bool] = False
    """The task starts the job itself (a start-import operator): its job id is not a parameter but
    bound once the vendor returns it (``bind_job``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            cls.hook_class = spec.hook_class
            cls.job_fields = spec.job_type.field_names()
            cls.template_fields = (*cls.job_fields, spec.conn_id_param, "rejected_records_path")

    operator_extra_links = (ImportConsoleLink(),)
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 60,
        max_rejected: int | None = None,
        max_rejected_ratio: float | None = None,
        not_found_grace: float = 60,
        max_consecutive_failures: int = 5,
        retry_backoff: float = 5,
        retry_backoff_max: float = 300,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        rejected_records_path: Any = None,
        max_rejected_records: int = DEFAULT_MAX_REJECTED_RECORDS,
        **kwargs: Any,
    ) -> None:
        spec = self.spec
        if spec is not None:
            params = {name: kwargs.pop(name, None) for name in spec.job_type.field_names()}
            conn_id = kwargs.pop(spec.conn_id_param, None) or spec.default_conn_id
        super().__init__(poke_interval=poke_interval, **kwargs)
        if spec is not None:
            owner = f"{type(self).__name__} {self.task_id!r}"
            if self.starts_job and params[spec.job_type.id_field()] is not None:
                raise TypeError(f"{owner} starts the import itself: it takes no {spec.job_type.id_field()!r}")
            try:
                spec.job_type.check_params(
                    {**params, spec.job_type.id_field(): "bound at run time"} if self.starts_job else params, owner
                )
            except JobFieldError as err:
                raise TypeError(str(err)) from None
            for name, value in params.items():
                setattr(self, name, value)
            setattr(self, spec.conn_id_param, conn_id)
        QualityGate(max_rejected, max_rejected_ratio)  # checks them
        self.max_rejected = max_rejected
        self.max_rejected_ratio = max_rejected_ratio
        if max_rejected_records < 1:
            raise ValueError("max_rejected_records must be >= 1")
        self.rejected_records_path = rejected_records_path
        self.max_rejected_records = max_rejected_records
        self.policy = PollPolicy(
            poll_interval=float(poke_interval),
            max_consecutive_failures=max_consecutive_failures,
            backoff_initial=retry_backoff,
            backoff_max=retry_backoff_max,
            not_found_grace=not_found_grace,
        )
        self.end_from_trigger = end_from_trigger or start_from_trigger
        self.deferrable = deferrable or start_from_trigger  # where it cannot start there, it defers from a worker
        self.start_from_trigger = self._can_start_from_trigger() if start_from_trigger else False
        if self.start_from_trigger:
            self.start_trigger_args = start_from_trigger_args(self)

    def _can_start_from_trigger(self) -> bool:
        """Whether this release and these job parameters let the triggerer start the wait; warn why not."""
        reason = None
        if not version_compat.AIRFLOW_V_3_3_PLUS:
            reason = "needs Airflow 3.3 or later (earlier releases ignore it)"
        elif self.spec is None:
            reason = "needs a vendor sensor"
        else:
            from airflow.sdk import XComArg

            fields = (*self.job_fields, self.spec.conn_id_param)
            upstream = [name for name in fields if isinstance(getattr(self, name), XComArg)]
            pulled = [name for name in fields if "xcom_pull" in str(getattr(self, name))]
            if upstream:
                reason = (
                    f"cannot resolve an upstream task's output ({', '.join(upstream)}): the triggerer renders "
                    "templates but never resolves an XComArg"
                )
            elif pulled:
                reason = (
                    f"cannot render xcom_pull ({', '.join(pulled)}): Airflow 3.3's triggerer does not answer "
                    "the XCom request it makes (GetXComSequenceSlice), so the wait would hang"
                )
        if reason is None:
            return True
        warnings.warn(
            f"{type(self).__name__} {self.task_id!r}: start_from_trigger=True {reason}; "
            "the task starts on a worker and defers from there",
            UserWarning,
            stacklevel=3,
        )
        return False

    @property
    def gate(self) -> QualityGate:
        return QualityGate(self.max_rejected, self.max_rejected_ratio)

    # ----- identity -------------------------------------------------------------------------
    @property
    def conn_id(self) -> str:
        conn_id: str = getattr(self, self.hook_class.conn_name_attr)
        return conn_id

    def job(self) -> dict[str, Any]:
        """The job parameters, after templating."""
        return {name: getattr(self, name) for name in self.job_fields}

    @cached_property
    def hook(self) -> Any:
        return self.hook_class(self.conn_id)

    @property
    def vendor(self) -> str:
        return self.spec.key if self.spec is not None else str(self.hook_class.vendor)

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

    # ----- modes ----------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        self.log.info("Waiting for %s (conn_id=%s)", self.job_label, self.conn_id)
        context["ti"].xcom_push(key=GATE_XCOM_KEY, value=self.gate.to_dict())
        if not self.deferrable:
            return super().execute(context)
        now = time.time()
        finished = self._poll_before_deferring(context, PollTracker(self.policy, self.job_label, now))
        if finished is not None:
            return finished
        deadline = now + self.timeout if self.timeout else None
        self._record_console_link(context)
        self.defer(
            trigger=ImportStatusTrigger(
                **(
                    {"vendor": self.spec.key}
                    if self.spec is not None
                    else {"hook_class": f"{self.hook_class.__module__}.{self.hook_class.__qualname__}"}
                ),
                conn_id=self.conn_id,
                job=self.job(),
                policy=self.policy.to_dict(),
                deadline=deadline,
                waiting_since=now,
                end=self.trigger_end(context).to_dict() if self.end_from_trigger else None,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + DEFERRAL_TIMEOUT_MARGIN if self.timeout else None,
        )

    def trigger_end(self, context: Context | None = None) -> TriggerEnd:
        """What the trigger needs to end this task itself with the outcome a worker would give it.

        ``context`` is ``None`` when the DAG is parsed (``start_from_trigger``).
        """
        # a task its trigger ends emits no asset events at all (airflow/models/trigger.py registers no asset changes)
        return TriggerEnd(
            gate=self.gate,
            soft_fail=bool(self.soft_fail or getattr(self, "never_fail", False)),
            retries=int(self.retries or 0),
            worker_only=self._worker_only_reason(),
            xcoms={GATE_XCOM_KEY: self.gate.to_dict()},
        )

    def _worker_only_reason(self) -> str | None:
        """Why this task must end on a worker whatever the outcome, if it must."""
        if self.outlets:
            return "outlets (only a worker emits their asset events)"
        if self.rejected_records_path:
            return "rejected_records_path (the file is written by a worker, never by the triggerer)"
        return None

    def _record_console_link(self, context: Context) -> None:
        """The "Vendor console" link now, not only when the task finishes (when Airflow 3 records extra links)."""
        url = self.console_url()
        if url:
            context["ti"].xcom_push(key=ImportConsoleLink().xcom_key, value=url)

    def _poll_once(self) -> ImportResult:
        """One sync poll; a bug or a bad job parameter fails the task at once, never retried."""
        try:
            result: ImportResult = observed_poll(self.vendor, self.hook.poll, self.job())
            return result
        except ImportStatusError:
            raise
        except JobFieldError as err:
            raise AirflowFailException(f"{self.job_label}: {err}") from None
        except Exception as err:
            self.log.exception("%s: bug in airflow-import-status", self.job_label)
            raise AirflowFailException(bug_message(self.job_label, err)) from err

    def _poll_before_deferring(self, context: Context, tracker: PollTracker) -> dict[str, Any] | None:
        """One sync poll first: a finished job or a permanent fault ends here without a deferral.

        A job that finishes before it is deferred never makes a trigger fire instantly (Airflow
        3.3 can then race the task's own state update, apache/airflow#67287).
        """
        try:
            result = self._poll_once()
        except ImportStatusError as err:
            decision = tracker.failed(err)
            ended = decide_error(decision)
            if ended is not None and isinstance(error := ended.exception(), AirflowFailException):
                self._fail(error)
            self.log.warning("%s; the trigger takes over", decision.message)
            return None
        self._log_progress(result)
        if not result.state.is_terminal:
            return None
        try:
            return self._finish(context, result)
        except AirflowFailException as err:
            self._fail(err)

    def _fail(self, error: AirflowFailException) -> NoReturn:
        """Fail as Airflow's own sensor loop would: skipped with ``soft_fail``/``never_fail``."""
        if self.soft_fail or getattr(self, "never_fail", False):
            raise AirflowSkipException(
                f"Skipping ({'soft_fail' if self.soft_fail else 'never_fail'}): {error}"
            ) from error
        raise error

    def _waiting_since(self, context: Context) -> float:
        if self.reschedule:
            first = context["ti"].get_first_reschedule_date(context)
            if first is not None:
                return first.timestamp()
        started = getattr(self, "_started_waiting", None)
        if started is None:
            started = self._started_waiting = time.time()
        return started

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One poll, riding out transient faults with the shared backoff policy (never past the timeout)."""
        tracker = PollTracker(self.policy, self.job_label, self._waiting_since(context))
        while True:
            try:
                result = self._poll_once()
            except ImportStatusError as err:
                decision = tracker.failed(err)
                ended = decide_error(decision)
                if ended is not None:
                    raise ended.exception() from None  # type: ignore[misc]
                self.log.warning(decision.message)
                remaining = tracker.waiting_since + self.timeout - time.time()
                if decision.action is ErrorAction.WAIT or remaining <= 0:
                    return False
                time.sleep(min(decision.delay, remaining))
                continue
            self._log_progress(result)
            if not result.state.is_terminal:
                return False
            return PokeReturnValue(is_done=True, xcom_value=self._finish(context, result))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: same outcome rules as poke mode."""
        try:
            outcome = ImportStatusEvent.from_payload(event)
        except ValueError as err:
            raise AirflowException(f"{self.job_label}: malformed trigger event: {err}") from None
        if self.start_from_trigger:  # execute never ran: the trigger started the wait
            context["ti"].xcom_push(key=GATE_XCOM_KEY, value=self.gate.to_dict())
        return self._carry_out(context, decide_event(outcome, self.gate, self.job_label))

    # ----- shared outcome rules ---------------------------------------------------------------
    def _log_progress(self, result: ImportResult) -> None:
        self.log.info("%s: %s", self.job_label, result.progress_line())
        for warning in result.warnings:
            self.log.warning("%s: %s", self.job_label, warning)

    def _finish(self, context: Context, result: ImportResult) -> dict[str, Any]:
        """Push the result; fail a failed import or one that breaks the quality gate."""
        return self._carry_out(context, decide_result(result, self.gate, self.job_label))

    def _carry_out(self, context: Context, outcome: Outcome) -> dict[str, Any]:
        """Do on the worker what ``outcome`` says: its XComs (``return_value`` by returning), assets, exception."""
        self.lineage_result = outcome.result  # what the OpenLineage events report (lineage.py), no I/O in the listener
        for key, value in outcome.xcoms.items():
            if key != "return_value":
                context["ti"].xcom_push(key=key, value=value)
        # a finished import's refusals go to rejected_records_path (and are named in a failure)
        with refused_records_written(self, context) if outcome.import_finished else contextlib.nullcontext():
            error = outcome.exception()
            if error is not None:
                raise error
            self._annotate_assets(context, outcome.asset_extra())
        self.log.info(outcome.message)
        return outcome.xcoms["return_value"]  # type: ignore[no-any-return]

    def _annotate_assets(self, context: Context, extra: Mapping[str, Any]) -> None:
        """Put the normalized counters on the asset events of this task's Asset outlets."""
        for outlet in self.outlets or ():
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra.update(extra)


class ImportStatusSensor(ImportWaitingTask):
    """Wait for a vendor import job to finish; return its normalized result.

    A vendor sensor sets ``spec``: its job fields (templated) and connection id become keyword
    parameters. Every other parameter is :class:`ImportWaitingTask`'s.
    """
