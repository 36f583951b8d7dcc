"""The start-import operator base: upload the contacts, start the import, wait for it, in one task.

It waits with the vendor sensor's waiting component (:class:`~airflow_import_status.waiting.ImportWait`:
no second copy of the waiting, quality gate, XCom, asset and failure logic) but takes no job id:
``execute`` starts the import on the worker, puts the job's identity in XCom (key
``import_job``) the moment the vendor returns it, then waits exactly as the vendor's sensor
does (deferrable by default from ``[operators] default_deferrable``, or the poke loop with
``deferrable=False``); ``wait_for_completion=False`` returns right after the start with the
job's identity. With ``end_from_trigger=True`` a deferred wait ends in the triggerer (no resume
run on a worker) where the outcome allows; it is off by default because Airflow refuses a DAG
with such a task while any listener is registered (the OpenLineage provider's, for one:
``dagbag.py`` "Listeners are not supported with end_from_trigger=True").

**Never twice.** Airflow deletes a task instance's XComs when a new try starts (the task
runner clears ``xcom_keys_to_clear`` before ``execute``; only a resume from deferral keeps
them), so the identity is also written to a ledger that outlives tries
(:mod:`~airflow_import_status.operators.ledger`: the task instance's ``task_state_store`` on
Airflow 3.3, a Variable before; only the job's identity, never a credential). A retry, or a
reschedule-mode poke, finds it and waits on that job instead of uploading again
(``reupload_on_retry=False``, like dbt Cloud's ``reuse_existing_run``).

**A transient fault resumes.** Requests that create or add are never resent within a try; a
transient fault on one (5xx, 429, a dropped connection, a timeout) ends the try with
:class:`UploadInterruptedError`, which Airflow's ``retries`` apply to, and the retry continues from
what the vendor holds (each vendor's ``start``; ``docs/resumed-uploads.md``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_import_status.errors import ImportStatusError, TransientVendorError, UnsafeToRetryError
from airflow_import_status.lineage import ImportLineageMixin
from airflow_import_status.metrics import upload_finished
from airflow_import_status.operators.ledger import LEDGER_DESCRIPTION, Ledger, ledger_key
from airflow_import_status.operators.upload import ContactUpload, SourceError, startup_heap_frozen
from airflow_import_status.rejected import DEFAULT_MAX_REJECTED_RECORDS, SourceRows
from airflow_import_status.sensors.base import ImportConsoleLink
from airflow_import_status.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    conf,
)
from airflow_import_status.waiting import ImportJobMixin, ImportWait

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.definitions.mappedoperator import OperatorPartial

__all__ = ["JOB_XCOM_KEY", "LEDGER_DESCRIPTION", "ImportStartOperator", "UploadInterruptedError", "ledger_key"]

JOB_XCOM_KEY = "import_job"
"""XCom key holding the started job's identity (its job fields), pushed before any waiting."""


class UploadInterruptedError(AirflowException):
    """A transient fault ended the upload or the start: retryable; the retry resumes from what the vendor holds."""


REFUSING_STATUSES = frozenset({500})
"""HTTP statuses that fail an upload for good although they are transient for a status poll.

A 500 answering a batch most likely means the vendor choked on that data, which a retry would
send again; 502, 503, 504, 408 and 429 say nothing about the data (a gateway, an overload, a limit).
"""


def is_interruption(err: ImportStatusError) -> bool:
    """A transient fault of an upload or start request: the try ends retryable and the retry resumes.

    A connection dropped or timed out (the transport's :class:`UnsafeToRetryError` for a request
    that creates or adds), a transient HTTP status other than :data:`REFUSING_STATUSES`, an answer
    that does not decode (a cut one).
    """
    if isinstance(err, UnsafeToRetryError):
        return True
    return isinstance(err, TransientVendorError) and err.status not in REFUSING_STATUSES


class ImportStartOperator(ImportJobMixin, ImportLineageMixin, BaseSensorOperator):
    """Upload contacts to a vendor, start its import, and wait for it like the vendor's sensor.

    A vendor operator sets ``spec`` and declares its job fields but the job id (templated) and its
    connection id as keyword parameters of its own ``__init__`` (so Airflow's ``partial``/``expand``
    accept them), passing them on as ``job_params``.

    :param job_params: the vendor class's job fields and connection id, by name (the vendor class
        passes them; a DAG author gives them to the vendor class).
    :param source: a local path, an ``ObjectStoragePath`` or a list of dicts (templated).
    :param source_format: ``csv`` or ``jsonl``; by default from the file name (``.jsonl``) else CSV.
    :param field_mapping: source column -> vendor field; unmapped columns are dropped (default: as is).
    :param csv_delimiter: the CSV delimiter.
    :param encoding: the file's text encoding.
    :param batch_size: rows per request, at most the vendor's limit (default: the limit).
    :param max_bad_rows: bad rows tolerated; more and the import is not started (default 0).
    :param wait_for_completion: wait for the import (default) or return right after the start.
    :param reupload_on_retry: upload again on a retry instead of waiting on the job already started.
    :param end_from_trigger: let the trigger end the task once the import finishes (no resume run on
        a worker) where the triggerer can express the outcome; off by default (Airflow refuses the DAG
        while a listener, e.g. OpenLineage's, is registered).

    The waiting parameters (``deferrable``, ``poke_interval``, ``max_rejected``, ``max_rejected_ratio``,
    ``not_found_grace``, ``max_consecutive_failures``, ``retry_backoff``, ``retry_backoff_max``,
    ``rejected_records_path``, ``max_rejected_records``) are the sensor's
    (:class:`~airflow_import_status.sensors.base.ImportStatusSensor`).
    """

    max_batch_size: ClassVar[int] = 10_000
    """The vendor's limit of rows per request."""
    start_template_fields: ClassVar[tuple[str, ...]] = ()
    """A vendor's own templated start parameters, beside its job fields (e.g. an import's name)."""
    operator_extra_links = (ImportConsoleLink(),)
    ui_color = "#d6eefc"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            cls.template_fields = (
                *(name for name in cls.job_fields if name != cls.spec.job_type.id_field()),
                *cls.start_template_fields,
                cls.spec.conn_id_param,
                "source",
                "field_mapping",
                "rejected_records_path",
            )

    def __init__(
        self,
        *,
        job_params: Mapping[str, Any],
        source: Any,
        source_format: str | None = None,
        field_mapping: Mapping[str, str] | None = None,
        csv_delimiter: str = ",",
        encoding: str = "utf-8",
        batch_size: int | None = None,
        max_bad_rows: int = 0,
        wait_for_completion: bool = True,
        reupload_on_retry: bool = False,
        end_from_trigger: bool = False,
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
        _refuse_start_from_trigger(type(self), kwargs)
        kwargs.pop("start_from_trigger", None)
        super().__init__(poke_interval=poke_interval, **kwargs)
        self._bind_job_params(job_params, starts_job=True)
        self.waiting = ImportWait.of(
            poke_interval=poke_interval,
            max_rejected=max_rejected,
            max_rejected_ratio=max_rejected_ratio,
            not_found_grace=not_found_grace,
            max_consecutive_failures=max_consecutive_failures,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
            end_from_trigger=end_from_trigger,
            max_rejected_records=max_rejected_records,
        )
        self.deferrable = deferrable
        self.end_from_trigger = end_from_trigger
        self.rejected_records_path = rejected_records_path
        if batch_size is not None and not 1 <= batch_size <= self.max_batch_size:
            raise ValueError(f"batch_size must be within 1..{self.max_batch_size}")
        if max_bad_rows < 0:
            raise ValueError("max_bad_rows must be >= 0")
        self.source = source
        self.source_format = source_format
        self.field_mapping = dict(field_mapping) if field_mapping else None
        self.csv_delimiter = csv_delimiter
        self.encoding = encoding
        self.batch_size = batch_size or self.max_batch_size
        self.max_bad_rows = max_bad_rows
        self.wait_for_completion = wait_for_completion
        self.reupload_on_retry = reupload_on_retry
        self._start_context: Context | None = None
        self._start_params: dict[str, Any] = {}
        self._recorded = False

    @classmethod
    def partial(cls, **kwargs: Any) -> OperatorPartial:
        """Airflow's ``partial`` (dynamic task mapping); ``start_from_trigger`` is refused when the DAG is parsed."""
        _refuse_start_from_trigger(cls, kwargs)
        partial: OperatorPartial = super().partial(**kwargs)
        return partial

    # ----- the vendor's part ------------------------------------------------------------------------
    def check_row(self, row: Mapping[str, Any]) -> str | None:
        """Why a mapped row cannot be imported (``None`` if it can); vendors refine it."""
        return None if row else "the row is empty after the field mapping"

    def start(self, params: dict[str, Any], batches: Iterator[list[dict[str, Any]]], upload: ContactUpload) -> str:
        """Upload ``batches`` and start the import; return the vendor's job id. Vendors implement it.

        ``params`` holds the job's id too when a retry finishes a start that an earlier try
        recorded with :meth:`record_job` and :meth:`unfinished_start` found unfinished.
        """
        raise NotImplementedError

    def unfinished_start(self, job: dict[str, Any]) -> bool:
        """Whether ``job``, recorded by an earlier try, still needs its start finished (default: no, wait on it).

        Only a vendor that records its job before the upload ends (:meth:`record_job`) has one.
        """
        return False

    def record_job(self, job_id: str) -> None:
        """Record the job the moment the vendor returns its id, while ``start`` goes on uploading.

        For a vendor whose id comes before the upload (MyPreferences: InitiateBulkImport, then
        staging): a try that dies half way leaves the job in the ledger and XCom, so the retry
        finishes that job (:meth:`unfinished_start`) instead of starting another.
        """
        assert self._start_context is not None, "record_job is called from start"
        job: dict[str, Any] = self.spec.job({**self._start_params, self._id_field: job_id}).to_params()
        _record(self.ledger(self._start_context), self._start_context, job)
        self._recorded = True

    # ----- one task, never twice ----------------------------------------------------------------------
    @property
    def _id_field(self) -> str:
        name: str = self.spec.job_type.id_field()
        return name

    def _started_before(self, context: Context) -> dict[str, Any] | None:
        if self.reupload_on_retry:
            return None
        return self.ledger(context).get()

    def execute(self, context: Context) -> Any:
        job = self._started_before(context)
        if job is not None and self.unfinished_start(job):
            self.log.info(
                "Try %s: %s import job %s was recorded by an earlier try that did not finish starting it; "
                "finishing that job, not starting another",
                context["ti"].try_number,
                self.vendor,
                job.get(self._id_field),
            )
            job = self._recording_start(context, job)
        elif job is not None:
            self.log.info(
                "Try %s: %s import job %s was started by an earlier try; waiting on it, not uploading again",
                context["ti"].try_number,
                self.vendor,
                job.get(self._id_field),
            )
        else:
            job = self._recording_start(context, None)
        context["ti"].xcom_push(key=JOB_XCOM_KEY, value=job)
        self.bind_job(job)
        if not self.wait_for_completion:
            self.ledger(context).delete()
            return job
        # a trigger that ends the task with a final outcome forgets the ledger, as the worker does
        wait_loop = super().execute
        return self._closing_ledger(
            context,
            lambda: self.waiting.execute(self, context, poke_loop=wait_loop, forget_variable=ledger_key(context)),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        return self.waiting.poke(self, context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        # a resumed task is a fresh operator: the job it started is in XCom (kept across a deferral);
        # its own map index's (a mapped task's pull of its own task id returns every map index's)
        ti = context["ti"]
        self.bind_job(ti.xcom_pull(task_ids=self.task_id, key=JOB_XCOM_KEY, map_indexes=ti.map_index) or {})
        return self._closing_ledger(context, lambda: self.waiting.resume(self, context, event))

    def ledger(self, context: Context) -> Ledger:
        """This task instance's ledger; a Variable when the trigger may end the task (it forgets the ledger then)."""
        return Ledger(context, variable=self.end_from_trigger)

    def bind_job(self, job: Mapping[str, Any]) -> None:
        """Wait on ``job`` (its job fields), started by this task: what polling reads."""
        for name, value in job.items():
            setattr(self, name, value)

    def _closing_ledger(self, context: Context, wait: Callable[[], Any]) -> Any:
        """Wait; forget the job once the task's outcome is final (a retryable failure or a deferral keeps it)."""
        try:
            result = wait()
        except (AirflowFailException, AirflowSensorTimeout, AirflowSkipException):
            self.ledger(context).delete()
            raise
        self.ledger(context).delete()
        return result

    def _recording_start(self, context: Context, resuming: dict[str, Any] | None) -> dict[str, Any]:
        """Start (or finish starting ``resuming``) and record the job; a final failure forgets a recorded one."""
        self._start_context, self._recorded = context, resuming is not None
        try:
            job = self._start_import(resuming)
        except AirflowFailException:
            if self._recorded:
                self.ledger(context).delete()
            raise
        except UploadInterruptedError:
            if self._recorded and context["ti"].try_number > (self.retries or 0):
                self.ledger(context).delete()  # no retry left: the error says what reached the vendor
            raise
        _record(self.ledger(context), context, job)
        return job

    def _contact_upload(self) -> ContactUpload:
        return ContactUpload(
            self.source,
            batch_size=self.batch_size,
            source_format=self.source_format,
            field_mapping=self.field_mapping,
            delimiter=self.csv_delimiter,
            encoding=self.encoding,
            check_row=self.check_row,
            log=self.log,
        )

    def refused_source_rows(self) -> SourceRows | None:
        """The source read again once the import finished: the rows refused before sending, the rows of vendor keys.

        ``None`` for a one-shot iterator source (already consumed): the file then has the vendor's list only.
        """
        if isinstance(self.source, Iterator):
            return None
        upload = self._contact_upload()
        return SourceRows(rows=upload.numbered_rows, check=self.check_row)

    def _start_import(self, resuming: dict[str, Any] | None = None) -> dict[str, Any]:
        upload = self._contact_upload()
        params = {name: getattr(self, name) for name in self.job_fields if name != self._id_field}
        self._start_params = params
        if resuming is not None:
            params = {**params, **resuming}
        self.log.info("Uploading %s to %s", upload.describe_source(), self.vendor)
        try:
            with startup_heap_frozen():
                batches = upload.batches()
                first = next(batches)  # an empty or missing source fails before anything is created
                job_id = self.start(params, itertools.chain([first], batches), upload)
        except SourceError as err:
            raise AirflowFailException(f"{self.vendor} import not started: {err}") from None
        except ImportStatusError as err:
            reached = (
                f"after {upload.progress.batches_sent} batches ({upload.progress.rows_sent} rows) reached the vendor"
            )
            if is_interruption(err):
                raise UploadInterruptedError(
                    f"{self.vendor} upload failed {reached}: {err}. A transient fault: a retry of this task resumes "
                    f"from what {self.vendor} holds"
                ) from None
            raise AirflowFailException(f"{self.vendor} upload failed {reached}: {err}") from None
        if upload.progress.bad_row_count:
            self.log.warning("%s bad rows: %s", upload.progress.bad_row_count, upload.bad_rows_text())
        self.log.info("Started %s job %s: %s", self.vendor, job_id, upload.progress.describe())
        upload_finished(self.vendor, upload.progress)
        job: dict[str, Any] = self.spec.job({**params, self._id_field: job_id}).to_params()
        return job

    def checked(self, batches: Iterator[list[dict[str, Any]]], upload: ContactUpload) -> Iterator[list[dict[str, Any]]]:
        """``batches``, then the ``max_bad_rows`` decision, before a flow sends its start request."""
        yield from batches
        if upload.progress.bad_row_count > self.max_bad_rows:
            raise SourceError(
                f"{upload.progress.bad_row_count} bad rows, more than max_bad_rows={self.max_bad_rows}: "
                f"{upload.bad_rows_text()} (the rows were sent but the import was not started)"
            )


def _refuse_start_from_trigger(cls: type, kwargs: Mapping[str, Any]) -> None:
    if kwargs.get("start_from_trigger"):
        raise TypeError(f"{cls.__name__} uploads on a worker: it cannot start from the trigger")


def _record(ledger: Ledger, context: Context, job: dict[str, Any]) -> None:
    """The job in the ledger (outlives tries) and in XCom (key ``import_job``)."""
    ledger.set(job)
    context["ti"].xcom_push(key=JOB_XCOM_KEY, value=job)
