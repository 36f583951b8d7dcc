"""Which50ImportOperator: create an ImportJob, add the contacts in batches, run it, wait for it.

**A transient fault starts afresh, exactly once.** The ImportJob's id is recorded (ledger and
XCom) the moment Which50 creates it. A try that ends on a transient fault before ``run`` leaves
a job that was never run, and a job that is never run imports nothing ("Which50 API: ImportJob":
contacts added to an ImportJob are imported by ``POST .../import/{jobId}/run``). Which50 publishes
no way to ask which contacts a job holds, so the retry creates a new ImportJob and adds every row
from the first; the log names the abandoned job. A retry that finds its job run (a status other
than :data:`~airflow_import_status.vendors.which50.spec.NOT_RUN_STATUSES`, e.g. the answer to
``run`` was lost) waits on it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_import_status.errors import JobNotFoundError
from airflow_import_status.operators.base import ImportStartOperator
from airflow_import_status.operators.upload import ContactUpload
from airflow_import_status.rejected import SourceRows
from airflow_import_status.vendors.which50.codec import CODEC, MAX_CONTACTS_PER_REQUEST
from airflow_import_status.vendors.which50.spec import NOT_RUN_STATUSES, SPEC


class Which50ImportOperator(ImportStartOperator):
    """Upload contacts to a Which50 contact list and wait for the ImportJob (one task, never twice).

    :param contact_list_id: the contact list to import into (templated).
    :param which50_conn_id: Airflow connection of type ``which50``.

    The ImportJob's ``FieldNames`` are the first batch's fields (a CSV's header); a later row with
    another field is a bad row. Every other parameter is
    :class:`~airflow_import_status.operators.base.ImportStartOperator`'s.
    """

    spec = SPEC

    def __init__(self, *, contact_list_id: int | str, which50_conn_id: str = "which50_default", **kwargs: Any) -> None:
        super().__init__(job_params={"contact_list_id": contact_list_id, "which50_conn_id": which50_conn_id}, **kwargs)

    max_batch_size = MAX_CONTACTS_PER_REQUEST

    def check_row(self, row: Mapping[str, Any]) -> str | None:
        reason = super().check_row(row)
        known = getattr(self, "_known_fields", None)
        if reason is None and known is not None and not known.issuperset(row):
            return f"field(s) {', '.join(sorted(set(row) - known))} not among the ImportJob's FieldNames"
        return reason

    def refused_source_rows(self) -> SourceRows | None:
        """The source read again; a resumed task first learns the FieldNames again (the first batch's fields)."""
        source = super().refused_source_rows()
        if source is not None and getattr(self, "_known_fields", None) is None:
            base_check = super().check_row
            usable = (row for _, row in source.rows() if not isinstance(row, str) and not base_check(row))
            self._known_fields = frozenset(name for row in itertools.islice(usable, self.batch_size) for name in row)
        return source

    def start(self, params: dict[str, Any], batches: Iterator[list[dict[str, Any]]], upload: ContactUpload) -> str:
        abandoned = params.get("import_job_id")
        if abandoned is not None:
            self.log.info(
                "ImportJob %s of contact list %s, created by an earlier try, was never run: it is abandoned "
                "(never run, it imports nothing); a new ImportJob gets every row from the first",
                abandoned,
                params["contact_list_id"],
            )
        first = next(batches)
        self._field_names = sorted({name for row in first for name in row})
        self._known_fields = frozenset(self._field_names)
        rows = self.checked(_chain(first, batches), upload)
        settings = self.hook.get_settings()
        flow = CODEC.start_import_flow(
            settings, params["contact_list_id"], self._field_names, rows, on_created=self.record_job
        )
        job_id: str = self.hook.run_flow(flow, settings)
        return job_id

    def unfinished_start(self, job: dict[str, Any]) -> bool:
        """Created by an earlier try and never run (:data:`NOT_RUN_STATUSES`): start a new ImportJob instead."""
        try:
            status = self.hook.get_import_status(job["contact_list_id"], job["import_job_id"])
        except JobNotFoundError:
            return False
        return (status.vendor_status or "").strip().casefold() in NOT_RUN_STATUSES


def _chain(first: list[dict[str, Any]], rest: Iterator[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    yield first
    yield from rest
