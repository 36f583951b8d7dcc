"""MailUpImportOperator: NewImportProcess per batch, start the processes, wait for them, in one task.

**Several processes, summed.** MailUp publishes no size limit for an ``xmlDoc`` but says it was
"successfully tested with 1.2 million characters" and, for larger data, to "split your import
data, call several times NewImportProcess with smaller recipient lists and then use
StartImportProcesses to sequentially start all previously created import processes"
("WSMailUpImport.StartImportProcesses", Best practices). So each batch (at most
:data:`~airflow_import_status.vendors.mailup.codec.MAX_SUBSCRIBERS_PER_PROCESS` subscribers) is one
NewImportProcess, memory bounded by the batch; one process is then started with StartProcess,
several with one StartImportProcesses call without ``xmlDoc`` (MailUp 8.2.1 or later). The job is
the first idProcess plus ``more_process_ids``; the status reads the processes in running order and
sums their counters, so the result covers the whole upload.

**One import per list at a time** ("WSMailUpImport.StartProcess": -601 / -602). A busy list fails
the try with :class:`MailUpListBusyError`, a retryable error: the processes stay prepared, and the
retry starts them without uploading again. Each idProcess is recorded (an Airflow Variable beside
the task's ledger) the moment MailUp returns it, so a retry after a dead worker resumes the upload
after the batches MailUp already holds and never sends one twice (``reupload_on_retry=True``
uploads afresh). The record goes once the import starts, or with the task's final failure (as the
ledger does). MailUp has no published call that deletes a prepared process: an error names the ones it leaves,
and a later StartImportProcesses without ``xmlDoc`` on that list would start them too (MailUp starts
"all pending XML structures"); uploads of one batch use StartProcess, which starts only its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Variable

from airflow_import_status.errors import ImportStatusError
from airflow_import_status.operators.base import LEDGER_DESCRIPTION, ImportStartOperator, ledger_key
from airflow_import_status.operators.upload import ContactUpload, SourceError
from airflow_import_status.vendors.mailup.codec import (
    CODEC,
    MAX_SUBSCRIBERS_PER_PROCESS,
    ListBusyError,
    prepared_note,
    subscriber_problem,
)
from airflow_import_status.vendors.mailup.spec import SPEC
from airflow_import_status.version_compat import AirflowException

if TYPE_CHECKING:
    from airflow.sdk import Context

UPLOAD_DESCRIPTION = "airflow-import-status: the MailUp import processes this task instance prepared"


class MailUpListBusyError(AirflowException):
    """The list is busy with another import: the upload's processes are prepared; a retry starts them."""


class MailUpImportOperator(ImportStartOperator):
    """Upload subscribers to a MailUp list, start the import and wait for it (one task, never twice).

    :param list_id: the list (idList, templated).
    :param list_guid: the list's GUID (listGUID, templated).
    :param group_ids: groups of the list the subscribers join (idGroups).
    :param mailup_conn_id: Airflow connection of type ``mailup``.

    Rows are subscribers: ``email``, ``Name``, ``Prefix``, ``Number`` and the list's fields
    ``campo1``, ``campo2``, ... ("WSMailUpImport.NewImportProcess", XML feed); map CSV columns with
    ``field_mapping``, e.g. ``{"email": "email", "first_name": "campo1", "last_name": "campo2"}``. A
    row with another field, without an email, or with a character XML cannot carry is a bad row; an
    address MailUp cannot use is not: MailUp counts it in ``total`` and imports it nowhere. Every
    other parameter is :class:`~airflow_import_status.operators.base.ImportStartOperator`'s.
    """

    spec = SPEC
    max_batch_size = MAX_SUBSCRIBERS_PER_PROCESS

    def __init__(self, *, group_ids: Sequence[int | str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group_ids = [int(group) for group in group_ids]

    def check_row(self, row: Mapping[str, Any]) -> str | None:
        return super().check_row(row) or subscriber_problem(row)

    def execute(self, context: Context) -> Any:
        self._task_ledger = ledger_key(context)
        self._last_try = context["ti"].try_number > (self.retries or 0)
        return super().execute(context)

    @property
    def _upload_record(self) -> str:
        return f"{self._task_ledger}.mailup_upload"

    def start(self, params: dict[str, Any], batches: Iterator[list[dict[str, Any]]], upload: ContactUpload) -> str:
        job = SPEC.job({**params, "process_id": 0})
        settings = self.hook.get_settings()
        record = self._earlier_upload(job.list_id, job.list_guid)
        prepared: list[int] = list(record["process_ids"]) if record else []
        try:
            if record is None or not record["complete"]:
                if prepared:
                    self.log.info(
                        "An earlier try prepared idProcess %s: resuming the upload after its %s batches",
                        ", ".join(map(str, prepared)),
                        len(prepared),
                    )
                rows = self.checked(_skipping(batches, len(prepared)), upload)

                def on_prepared(process_id: int) -> None:
                    prepared.append(process_id)
                    self._record(job.list_id, job.list_guid, prepared, complete=False)

                flow = CODEC.upload_flow(settings, job.list_id, job.list_guid, rows, self.group_ids, on_prepared)
                self.hook.run_flow(flow, settings)
                self._record(job.list_id, job.list_guid, prepared, complete=True)
            else:
                self.log.info(
                    "An earlier try uploaded everything (%s); starting it, not uploading again",
                    prepared_note(prepared),
                )
            start = CODEC.start_processes_flow(settings, job.list_id, job.list_guid, prepared, self.group_ids)
            self.hook.run_flow(start, settings)
        except ListBusyError as err:
            busy = f"MailUp list {job.list_id} is busy with another import: {err}"
            if self._last_try:
                Variable.delete(self._upload_record)
                raise MailUpListBusyError(
                    f"{busy}. No retry is left: the upload stays on MailUp, not started"
                ) from None
            raise MailUpListBusyError(
                f"{busy}. A retry of this task starts the upload without sending it again"
            ) from None
        except SourceError as err:
            # not started on purpose (bad rows): a fixed file must not resume after these processes
            Variable.delete(self._upload_record)
            raise SourceError(f"{err}; {prepared_note(prepared)}") from None
        except ImportStatusError:
            Variable.delete(self._upload_record)  # the task fails now; the error names the prepared processes
            raise
        except Exception:
            if self._last_try:  # a retry resumes after the batches MailUp holds; a final failure forgets them
                Variable.delete(self._upload_record)
            raise
        params["more_process_ids"] = ",".join(map(str, prepared[1:])) or None  # the job's other field
        started = SPEC.job({**params, "process_id": prepared[0]}).to_params()
        # the task's ledger before this record goes: a worker dying in between still never uploads twice
        Variable.set(self._task_ledger, json.dumps(started), description=LEDGER_DESCRIPTION)
        Variable.delete(self._upload_record)
        return str(prepared[0])

    def _earlier_upload(self, list_id: int, list_guid: str) -> dict[str, Any] | None:
        """The processes an earlier try of this task instance prepared (for the same list)."""
        raw = None if self.reupload_on_retry else Variable.get(self._upload_record, default=None)
        record: dict[str, Any] | None = json.loads(raw) if raw else None
        if record is None or (record.get("list_id"), record.get("list_guid")) != (list_id, list_guid):
            return None
        return record

    def _record(self, list_id: int, list_guid: str, process_ids: list[int], *, complete: bool) -> None:
        value = {"list_id": list_id, "list_guid": list_guid, "process_ids": process_ids, "complete": complete}
        Variable.set(self._upload_record, json.dumps(value), description=UPLOAD_DESCRIPTION)


def _skipping(batches: Iterator[list[dict[str, Any]]], count: int) -> Iterator[list[dict[str, Any]]]:
    """``batches`` after the first ``count`` (read again, not sent: MailUp already has them)."""
    for number, batch in enumerate(batches):
        if number >= count:
            yield batch
