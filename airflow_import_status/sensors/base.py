"""The sensor base every vendor sensor subclasses: its parameters, the waiting it delegates.

A vendor sensor declares its ``spec`` and, in its own ``__init__``, its job fields and connection
id as keyword parameters (Airflow's dynamic task mapping accepts only declared ones). The
waiting, retrying, failing and reporting are the
:class:`~airflow_import_status.waiting.ImportWait` it uses, once, for every mode:

- ``deferrable=True``: defers to :class:`ImportStatusTrigger` after one sync poll (no worker slot held);
- ``mode="poke"`` / ``mode="reschedule"``: :meth:`ImportStatusSensor.poke` polls through the sync hook.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink, BaseSensorOperator, PokeReturnValue

from airflow_import_status import version_compat
from airflow_import_status.lineage import ImportLineageMixin
from airflow_import_status.outcome import ASSET_EXTRA_FIELDS, RESULT_XCOM_KEY
from airflow_import_status.rejected import DEFAULT_MAX_REJECTED_RECORDS
from airflow_import_status.triggers.start import DEFERRAL_TIMEOUT_MARGIN, start_from_trigger_args
from airflow_import_status.version_compat import conf
from airflow_import_status.waiting import GATE_XCOM_KEY, ImportJobMixin, ImportWait

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.definitions.mappedoperator import OperatorPartial
    from airflow.sdk.types import TaskInstanceKey

__all__ = [
    "ASSET_EXTRA_FIELDS",
    "DEFERRAL_TIMEOUT_MARGIN",
    "GATE_XCOM_KEY",
    "RESULT_XCOM_KEY",
    "ImportConsoleLink",
    "ImportStatusSensor",
]


class ImportConsoleLink(BaseOperatorLink):
    """Extra link from the task to the import job in the vendor's web console."""

    name = "Vendor console"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        console_url = getattr(operator, "console_url", None)
        return (console_url() if callable(console_url) else None) or ""


class ImportStatusSensor(ImportJobMixin, ImportLineageMixin, BaseSensorOperator):
    """Wait for a vendor import job to finish; return its normalized result.

    A vendor sensor sets ``spec`` and declares its job fields (templated) and connection id as
    keyword parameters of its own ``__init__`` (so Airflow's ``partial``/``expand`` accept them),
    passing them on as ``job_params``.

    :param job_params: the vendor class's job fields and connection id, by name (the vendor class
        passes them; a DAG author gives them to the vendor class).
    :param deferrable: defer to the triggerer while waiting; defaults to
        ``[operators] default_deferrable``.
    :param poke_interval: seconds between polls (every mode).
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

    operator_extra_links = (ImportConsoleLink(),)
    ui_color = "#e8f4fd"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            cls.template_fields = (*cls.job_fields, cls.spec.conn_id_param, "rejected_records_path")

    def __init__(
        self,
        *,
        job_params: Mapping[str, Any],
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
        super().__init__(poke_interval=poke_interval, **kwargs)
        self._bind_job_params(job_params)
        self.waiting = ImportWait.of(
            poke_interval=poke_interval,
            max_rejected=max_rejected,
            max_rejected_ratio=max_rejected_ratio,
            not_found_grace=not_found_grace,
            max_consecutive_failures=max_consecutive_failures,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
            end_from_trigger=end_from_trigger or start_from_trigger,
            max_rejected_records=max_rejected_records,
        )
        self.rejected_records_path = rejected_records_path
        self.end_from_trigger = self.waiting.end_from_trigger
        self.deferrable = deferrable or start_from_trigger  # where it cannot start there, it defers from a worker
        self.start_from_trigger = self._can_start_from_trigger() if start_from_trigger else False
        if self.start_from_trigger:
            self.start_trigger_args = start_from_trigger_args(
                self.spec,
                {name: getattr(self, name) for name in (*self.job_fields, self.spec.conn_id_param)},
                policy=self.waiting.policy,
                timeout=float(self.timeout) if self.timeout else None,
                end=self.waiting.trigger_end(self),
            )

    @classmethod
    def partial(cls, **kwargs: Any) -> OperatorPartial:
        """Airflow's ``partial`` (dynamic task mapping); ``start_from_trigger`` warns and defers from a worker.

        Airflow 3.3 starts no mapped task in the triggerer: the scheduler defers a task at once only
        with ``start_trigger_args`` (``TaskInstance.defer_task``), and a mapped operator takes them from
        the class, never from ``__init__`` (``OperatorPartial._expand``); its ``expand_start_from_trigger``
        says "Starting a mapped task from triggerer is currently unsupported".
        """
        if kwargs.get("start_from_trigger"):
            warnings.warn(
                f"{cls.__name__} {kwargs.get('task_id')!r}: start_from_trigger=True cannot start a mapped task: "
                "Airflow 3.3 starts no mapped task in the triggerer; each map index starts on a worker and "
                "defers from there",
                UserWarning,
                stacklevel=2,
            )
            kwargs = {**kwargs, "start_from_trigger": False, "deferrable": True, "end_from_trigger": True}
        partial: OperatorPartial = super().partial(**kwargs)
        return partial

    def _can_start_from_trigger(self) -> bool:
        """Whether this release and these job parameters let the triggerer start the wait; warn why not."""
        reason = None
        if not version_compat.AIRFLOW_V_3_3_PLUS:
            reason = "needs Airflow 3.3 or later (earlier releases ignore it)"
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

    def execute(self, context: Context) -> Any:
        return self.waiting.execute(self, context, poke_loop=super().execute)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        return self.waiting.poke(self, context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: same outcome rules as poke mode."""
        return self.waiting.resume(self, context, event, started_in_trigger=self.start_from_trigger)
