"""The sensor base every vendor sensor subclasses: modes, timeout, quality gate, XCom, assets.

A vendor sensor only declares its job parameters and its hook class; the waiting,
retrying, failing and reporting are here, once, for every mode:

- ``deferrable=True``: defers to :class:`ImportStatusTrigger` at once (no worker slot held);
- ``mode="poke"`` / ``mode="reschedule"``: :meth:`poke` polls through the sync hook.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import Asset, BaseOperatorLink, BaseSensorOperator, PokeReturnValue

from airflow_import_status.errors import ImportStatusError
from airflow_import_status.polling import ErrorAction, PollPolicy, PollTracker
from airflow_import_status.rejected import DEFAULT_MAX_REJECTED_RECORDS, refused_records_written
from airflow_import_status.result import COUNTER_FIELDS, ImportResult, ImportState
from airflow_import_status.triggers.import_status import (
    EventStatus,
    ImportStatusEvent,
    ImportStatusTrigger,
    bug_message,
)
from airflow_import_status.vendors.spec import JobFieldError, VendorSpec
from airflow_import_status.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    conf,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

GATE_XCOM_KEY = "import_gate"
"""XCom key of the task's quality gate ``{"max_rejected": ..., "max_rejected_ratio": ...}``, pushed when it
starts waiting (Airflow does not serialize these attributes; the Imports page draws the threshold)."""

RESULT_XCOM_KEY = "import_result"
"""XCom key holding the normalized result, on success and on failure alike."""

ASSET_EXTRA_FIELDS = ("vendor", "job_id", "state", "vendor_status", "finished_at")
"""Asset events carry these plus every counter."""

DEFERRAL_TIMEOUT_MARGIN = timedelta(minutes=5)
"""Airflow's own deferral timeout sits this far past the trigger's deadline, as a backstop."""


class ImportConsoleLink(BaseOperatorLink):
    """Extra link from the task to the import job in the vendor's web console."""

    name = "Vendor console"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        console_url = getattr(operator, "console_url", None)
        return (console_url() if callable(console_url) else None) or ""


class ImportStatusSensor(BaseSensorOperator):
    """Wait for a vendor import job to finish; return its normalized result.

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
            try:
                spec.job_type.check_params(params, f"{type(self).__name__} {self.task_id!r}")
            except JobFieldError as err:
                raise TypeError(str(err)) from None
            for name, value in params.items():
                setattr(self, name, value)
            setattr(self, spec.conn_id_param, conn_id)
        if max_rejected is not None and max_rejected < 0:
            raise ValueError("max_rejected must be >= 0")
        if max_rejected_ratio is not None and not 0 <= max_rejected_ratio <= 1:
            raise ValueError("max_rejected_ratio must be within 0..1")
        self.deferrable = deferrable
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
        context["ti"].xcom_push(
            key=GATE_XCOM_KEY, value={"max_rejected": self.max_rejected, "max_rejected_ratio": self.max_rejected_ratio}
        )
        if not self.deferrable:
            return super().execute(context)
        now = time.time()
        finished = self._poll_before_deferring(context, PollTracker(self.policy, self.job_label, now))
        if finished is not None:
            return finished
        deadline = now + self.timeout if self.timeout else None
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
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + DEFERRAL_TIMEOUT_MARGIN if self.timeout else None,
        )

    def _poll_once(self) -> ImportResult:
        """One sync poll; a bug or a bad job parameter fails the task at once, never retried."""
        try:
            result: ImportResult = self.hook.poll(self.job())
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
            if decision.action is ErrorAction.FAIL and not decision.retryable_task:
                self._fail(AirflowFailException(decision.message))
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
                if decision.action is ErrorAction.FAIL:
                    raise (AirflowException if decision.retryable_task else AirflowFailException)(
                        decision.message
                    ) from None
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
        if outcome.status is EventStatus.TIMEOUT:
            if outcome.result is not None:
                context["ti"].xcom_push(key=RESULT_XCOM_KEY, value=outcome.result.to_dict())
            raise AirflowSensorTimeout(outcome.message)
        if outcome.status is EventStatus.ERROR:
            raise (AirflowException if outcome.retryable else AirflowFailException)(outcome.message)
        assert outcome.result is not None
        return self._finish(context, outcome.result)

    # ----- shared outcome rules ---------------------------------------------------------------
    def _log_progress(self, result: ImportResult) -> None:
        self.log.info("%s: %s", self.job_label, result.progress_line())
        for warning in result.warnings:
            self.log.warning("%s: %s", self.job_label, warning)

    def _finish(self, context: Context, result: ImportResult) -> dict[str, Any]:
        """Push the result; fail a failed import or one that breaks the quality gate."""
        data = result.to_dict()
        context["ti"].xcom_push(key=RESULT_XCOM_KEY, value=data)
        with refused_records_written(self, context):
            if result.state is ImportState.FAILED:
                raise AirflowFailException(
                    f"{self.job_label} failed: vendor status {result.vendor_status!r}"
                    + (f", vendor message: {result.message}" if result.message else "")
                    + f" ({result.progress_line()})"
                )
            self._check_quality(result)
            self._annotate_assets(context, data)
            self.log.info("%s succeeded: %s", self.job_label, result.progress_line())
        return data

    def _check_quality(self, result: ImportResult) -> None:
        """Fail a succeeded import with too many rejected records; a gate that cannot be checked fails too."""
        if self.max_rejected is None and self.max_rejected_ratio is None:
            return
        if result.invalid is None and result.failed is None:
            raise AirflowFailException(
                f"{self.job_label}: a quality gate (max_rejected / max_rejected_ratio) is set but "
                f"{result.vendor} reports no invalid or failed record counts to check it against"
            )
        rejected = result.rejected
        if self.max_rejected is not None and rejected > self.max_rejected:
            raise AirflowFailException(
                f"{self.job_label} succeeded but {rejected} records were rejected "
                f"(invalid={result.invalid}, failed={result.failed}), more than max_rejected={self.max_rejected}"
            )
        if self.max_rejected_ratio is not None:
            if result.total is None:
                raise AirflowFailException(
                    f"{self.job_label}: max_rejected_ratio is set but {result.vendor} "
                    "reports no total to check it against"
                )
            ratio = rejected / result.total if result.total else (1.0 if rejected else 0.0)
            if ratio > self.max_rejected_ratio:
                raise AirflowFailException(
                    f"{self.job_label} succeeded but {rejected}/{result.total} records ({ratio:.1%}) were rejected, "
                    f"more than max_rejected_ratio={self.max_rejected_ratio:.1%}"
                )

    def _annotate_assets(self, context: Context, data: Mapping[str, Any]) -> None:
        """Put the normalized counters on the asset events of this task's Asset outlets."""
        extra = {key: data[key] for key in (*ASSET_EXTRA_FIELDS, *COUNTER_FIELDS)}
        for outlet in self.outlets or ():
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra.update(extra)
