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
retry starts them without uploading again. Each idProcess is recorded (the task's ledger, entry
``mailup_upload``) the moment MailUp returns it, so a retry after a dead worker or a transient fault
resumes the upload after the batches MailUp already holds and never sends one twice
(``reupload_on_retry=True`` uploads afresh). The record goes once the import starts, or with the
task's final failure (as the ledger does). MailUp has no published call that deletes a prepared
process: an error names the ones it leaves, and a later StartImportProcesses without ``xmlDoc`` on
that list would start them too (MailUp starts "all pending XML structures").

**The orphan of a lost answer is never started.** A NewImportProcess whose answer was lost (a
dropped connection, a timeout, a 5xx) may have prepared a process nobody knows the id of. The
retry sends that batch again as a new process, and then starts only the processes MailUp returned:
one by one with StartProcess ("WSMailUpImport.StartProcess" starts the one idProcess it names),
each after the previous one finished (MailUp runs one import per list at a time), never with
StartImportProcesses, which would start the orphan too and import its rows twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_import_status.errors import ImportStatusError
from airflow_import_status.operators.base import ImportStartOperator, is_interruption
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

UPLOAD_ENTRY = "mailup_upload"
"""The ledger entry holding the processes this task instance prepared (deleted once they start)."""


class MailUpListBusyError(AirflowException):
    """The list is busy with another import: the upload's processes are prepared; a retry starts them."""


class MailUpImportOperator(ImportStartOperator):
    """Upload subscribers to a MailUp list, start the import and wait for it (one task, never twice).

    :param list_id: the list (idList, templated).
    :param list_guid: the list's GUID (listGUID, templated).
    :param group_ids: groups of the list the subscribers join (idGroups).
    :param more_process_ids: a job field of the spec; leave it unset: the operator fills it with the
        upload's later import processes.
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

    def __init__(
        self,
        *,
        list_id: int | str,
        list_guid: str,
        group_ids: Sequence[int | str] = (),
        more_process_ids: str | None = None,
        mailup_conn_id: str = "mailup_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            job_params={
                "list_id": list_id,
                "list_guid": list_guid,
                "more_process_ids": more_process_ids,
                "mailup_conn_id": mailup_conn_id,
            },
            **kwargs,
        )
        self.group_ids = [int(group) for group in group_ids]

    def check_row(self, row: Mapping[str, Any]) -> str | None:
        return super().check_row(row) or subscriber_problem(row)

    def execute(self, context: Context) -> Any:
        self._ledger = self.ledger(context)
        self._last_try = context["ti"].try_number > (self.retries or 0)
        return super().execute(context)

    def start(self, params: dict[str, Any], batches: Iterator[list[dict[str, Any]]], upload: ContactUpload) -> str:
        job = SPEC.job({**params, "process_id": 0})
        settings = self.hook.get_settings()
        record = self._earlier_upload(job.list_id, job.list_guid) or {
            "list_id": job.list_id,
            "list_guid": job.list_guid,
            "process_ids": [],
            "complete": False,
        }
        prepared: list[int] = record["process_ids"]
        start_lost = bool(record.get("start_sent"))
        try:
            if not record["complete"]:
                if prepared:
                    self.log.info(
                        "An earlier try prepared idProcess %s: resuming the upload after its %s batches",
                        ", ".join(map(str, prepared)),
                        len(prepared),
                    )
                rows = self.checked(_skipping(batches, len(prepared)), upload)

                def on_prepared(process_id: int) -> None:
                    prepared.append(process_id)
                    self._ledger.set(record, UPLOAD_ENTRY)

                flow = CODEC.upload_flow(settings, job.list_id, job.list_guid, rows, self.group_ids, on_prepared)
                self.hook.run_flow(flow, settings)
                record["complete"] = True
            else:
                self.log.info(
                    "An earlier try uploaded everything (%s); starting it, not uploading again",
                    prepared_note(prepared),
                )
            record["start_sent"] = True
            self._ledger.set(record, UPLOAD_ENTRY)
            if record.get("orphan_possible") and len(prepared) > 1:
                self._start_one_by_one(job.list_id, job.list_guid, record, start_lost)
            else:
                try:
                    start = CODEC.start_processes_flow(settings, job.list_id, job.list_guid, prepared, self.group_ids)
                    self.hook.run_flow(start, settings)
                except ListBusyError:
                    if not start_lost:
                        raise
                    self._lost_start_took(prepared)
        except ListBusyError as err:
            busy = f"MailUp list {job.list_id} is busy with another import: {err}"
            if self._last_try:
                self._ledger.delete(UPLOAD_ENTRY)
                raise MailUpListBusyError(
                    f"{busy}. No retry is left: the upload stays on MailUp, not started"
                ) from None
            raise MailUpListBusyError(
                f"{busy}. A retry of this task starts the upload without sending it again"
            ) from None
        except SourceError as err:
            # not started on purpose (bad rows): a fixed file must not resume after these processes
            self._ledger.delete(UPLOAD_ENTRY)
            raise SourceError(f"{err}; {prepared_note(prepared)}") from None
        except ImportStatusError as err:
            if is_interruption(err) and not self._last_try:
                # the retry goes on after the processes MailUp returned; a lost NewImportProcess answer
                # may have prepared an orphan, which only a one-by-one start keeps from starting
                if not record["complete"]:
                    record["orphan_possible"] = True
                self._ledger.set(record, UPLOAD_ENTRY)
                raise
            self._ledger.delete(UPLOAD_ENTRY)  # the task fails now; the error names the prepared processes
            raise
        except Exception:
            if self._last_try:  # a retry resumes after the batches MailUp holds; a final failure forgets them
                self._ledger.delete(UPLOAD_ENTRY)
            raise
        params["more_process_ids"] = ",".join(map(str, prepared[1:])) or None  # the job's other field
        started = SPEC.job({**params, "process_id": prepared[0]}).to_params()
        # the task's ledger before this record goes: a worker dying in between still never uploads twice
        self._ledger.set(started)
        self._ledger.delete(UPLOAD_ENTRY)
        return str(prepared[0])

    def _earlier_upload(self, list_id: int, list_guid: str) -> dict[str, Any] | None:
        """The processes an earlier try of this task instance prepared (for the same list)."""
        record = None if self.reupload_on_retry else self._ledger.get(UPLOAD_ENTRY)
        if record is None or (record.get("list_id"), record.get("list_guid")) != (list_id, list_guid):
            return None
        return record

    def _lost_start_took(self, process_ids: list[int]) -> None:
        """An earlier try's start lost its answer and MailUp now says the list is busy: that start took.

        Inferred: MailUp documents neither a second start of a started process nor a way to tell a
        started process waiting its turn from a prepared one (GetProcessDetails: StatusCode 1, "to be
        executed", for both). Waiting on the processes is safe either way: it never imports twice,
        and the sensor's ``timeout`` ends a wait on processes that were never started.
        """
        self.log.warning(
            "An earlier try's start of %s lost its answer and MailUp says the list is busy: taking that start "
            "as done and waiting on the processes",
            prepared_note(process_ids),
        )

    def _start_one_by_one(self, list_id: int, list_guid: str, record: dict[str, Any], start_lost: bool) -> None:
        """StartProcess for each known process, each once the previous one finished (never the orphan)."""
        settings = self.hook.get_settings()
        process_ids: list[int] = record["process_ids"]
        started: list[int] = record.setdefault("started", [])
        self.log.info(
            "An earlier try may have left a process MailUp prepared but never answered for: starting only "
            "idProcess %s, one after the other",
            ", ".join(map(str, process_ids)),
        )
        for number, process_id in enumerate(process_ids):
            if process_id in started:
                continue
            if number:
                self._wait_for(list_id, list_guid, process_ids[number - 1])
            try:
                self.hook.run_flow(CODEC.start_processes_flow(settings, list_id, list_guid, [process_id]), settings)
            except ListBusyError:
                if not start_lost:
                    raise
                self._lost_start_took([process_id])
            start_lost = False  # only the first start this try sends can be the one whose answer was lost
            started.append(process_id)
            self._ledger.set(record, UPLOAD_ENTRY)

    def _wait_for(self, list_id: int, list_guid: str, process_id: int) -> None:
        """Until ``process_id`` ended, within the sensor's ``timeout`` (the next one may start only then)."""
        deadline = time.monotonic() + float(self.timeout)
        while not self.hook.get_import_status(list_id, list_guid, process_id).state.is_terminal:
            if time.monotonic() > deadline:
                raise MailUpListBusyError(
                    f"idProcess {process_id} did not end within timeout={self.timeout}s, so the next process of this "
                    "upload cannot start yet; a retry of this task starts it without sending anything again"
                )
            time.sleep(self.poke_interval)


def _skipping(batches: Iterator[list[dict[str, Any]]], count: int) -> Iterator[list[dict[str, Any]]]:
    """``batches`` after the first ``count`` (read again, not sent: MailUp already has them)."""
    for number, batch in enumerate(batches):
        if number >= count:
            yield batch
