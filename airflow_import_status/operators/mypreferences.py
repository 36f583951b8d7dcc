"""MyPreferencesImportOperator: InitiateBulkImport, stage the profiles in batches, Execute, wait for it.

The vendor's pages ("Import", "Initiate", "Stage", "Execute" under https://docs.possiblenow.com/integration-api/import/):
an import is initiated with a Name (and DataStageDuration, ImportType, MatchCriteria, the
``Refresh*`` flags, AllowPriorConsents), answers an integer access token (the job id, alive six
hours), is staged "multiple times" (each POST a collection of BulkUserProfilePreferences, at
most 25 MB), then executed; only records that passed the staging validation are imported.

The access token is recorded (ledger and XCom) the moment Initiate returns it: a try that dies
while staging leaves it behind, and the retry asks the vendor how many records the import
already received (TotalRecordsReceived), skips those in the source and stages the rest, then
executes that same import; a retry after Execute only waits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_import_status.errors import JobNotFoundError
from airflow_import_status.operators.base import ImportStartOperator
from airflow_import_status.operators.upload import ContactUpload
from airflow_import_status.vendors.mypreferences.codec import (
    CODEC,
    DEFAULT_DATA_STAGE_DURATION,
    STAGE_BATCH_SIZE,
    initiate_body,
    profile_problem,
    profile_record,
)
from airflow_import_status.vendors.mypreferences.spec import NOT_EXECUTED_STATUSES, SPEC

DEFAULT_IMPORT_NAME = "{{ ti.dag_id }}.{{ ti.task_id }} {{ run_id }}"
"""The import's ``Name`` unless one is given: which task instance started it, as the vendor's console shows."""


class MyPreferencesImportOperator(ImportStartOperator):
    """Stage profiles into a MyPreferences bulk import, execute it and wait for it (one task, never twice).

    :param import_name: the import's ``Name`` (templated; default: the DAG, task and run ids).
    :param data_stage_duration: days the vendor keeps the staged data (``DataStageDuration``, 0..10, default 3).
    :param import_type: ``ImportType``, ``"Add"`` or ``"Delete"`` (default: the vendor's, add).
    :param match_alternate_id_type: match profiles on this AlternateIdType instead of the ProfileId
        (``MatchCriteria`` ``AlternateIdType``, ``MatchValue`` this name).
    :param refresh: what the import replaces rather than adds to: any of ``AlternateIds``,
        ``Contacts``, ``CustomFields``, ``Groups``, ``Tags`` (the ``Refresh*`` flags).
    :param allow_prior_consents: ``AllowPriorConsents`` (older consent versions are accepted).
    :param stage_body_key: send each batch as ``{stage_body_key: [...]}`` instead of a bare JSON
        array (inferred: the older Stage page documents the array, the newer names a ``UserProfiles``).
    :param client_id: the MyPreferences clientId (templated; default: the connection's).
    :param mypreferences_conn_id: Airflow connection of type ``mypreferences``.

    Rows: a structured record (``Emails``, ``PhoneNumbers``, ``CustomerName``, ... as the
    CreateBulkUserProfilePreference model has them) is staged as is; a flat row (a CSV line) uses
    ``ProfileId``, ``CustomerType``, ``DefaultLocale``, ``FirstName``/``MiddleName``/``LastName``,
    ``EmailAddress``/``EmailAddressType``, ``PhoneNumber``/``PhoneNumberType`` (map other
    columns with ``field_mapping``). A row that identifies no one or has unknown fields is a bad
    row; invalid addresses are staged and the vendor counts them (``invalid``). Every other
    parameter is :class:`~airflow_import_status.operators.base.ImportStartOperator`'s.
    """

    spec = SPEC
    max_batch_size = STAGE_BATCH_SIZE
    start_template_fields = ("import_name",)

    def __init__(
        self,
        *,
        import_name: str = DEFAULT_IMPORT_NAME,
        data_stage_duration: int = DEFAULT_DATA_STAGE_DURATION,
        import_type: str | None = None,
        match_alternate_id_type: str | None = None,
        refresh: Sequence[str] = (),
        allow_prior_consents: bool = False,
        stage_body_key: str | None = None,
        client_id: str | None = None,
        mypreferences_conn_id: str = "mypreferences_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(job_params={"client_id": client_id, "mypreferences_conn_id": mypreferences_conn_id}, **kwargs)
        self.import_name = import_name
        self.data_stage_duration = data_stage_duration
        self.import_type = import_type
        self.match_alternate_id_type = match_alternate_id_type
        self.refresh = (refresh,) if isinstance(refresh, str) else tuple(refresh)
        self.allow_prior_consents = allow_prior_consents
        self.stage_body_key = stage_body_key
        # a wrong option fails when the DAG is parsed, not half way through a run (the name is rendered later)
        initiate_body(
            "options check",
            data_stage_duration,
            import_type=import_type,
            match_alternate_id_type=match_alternate_id_type,
            refresh=self.refresh,
        )

    def check_row(self, row: Mapping[str, Any]) -> str | None:
        return super().check_row(row) or profile_problem(row)

    def start(self, params: dict[str, Any], batches: Iterator[list[dict[str, Any]]], upload: ContactUpload) -> str:
        settings = self.hook.get_settings()
        client_id = params.get("client_id")
        resuming = params.get("access_token")
        if resuming is not None:
            already = self._received(str(resuming), client_id)
            self.log.info("Import %s already received %s records: staging the rest, then Execute", resuming, already)
            batches = _after(batches, already)
        records = ([profile_record(row) for row in batch] for batch in self.checked(batches, upload))
        if resuming is not None:
            flow = CODEC.stage_and_execute_flow(settings, str(resuming), records, client_id, self.stage_body_key)
        else:
            body = initiate_body(
                self.import_name,
                self.data_stage_duration,
                import_type=self.import_type,
                match_alternate_id_type=self.match_alternate_id_type,
                refresh=self.refresh,
                allow_prior_consents=self.allow_prior_consents,
            )
            flow = CODEC.start_import_flow(
                settings,
                self.import_name,
                records,
                client_id,
                initiate=body,
                on_initiated=self.record_job,
                stage_body_key=self.stage_body_key,
            )
        token: str = self.hook.run_flow(flow, settings)
        return token

    def unfinished_start(self, job: dict[str, Any]) -> bool:
        """Initiated or Staging: an earlier try died before Execute ("Retrieve status": not executed yet).

        An import the vendor no longer knows (its access token expired) is waited on: the
        sensor's not-found handling then fails the task, naming the token.
        """
        try:
            status = self.hook.get_import_status(job["access_token"], client_id=job.get("client_id"))
        except JobNotFoundError:
            return False
        return (status.vendor_status or "").strip().casefold() in NOT_EXECUTED_STATUSES

    def _received(self, access_token: str, client_id: str | None) -> int:
        """How many records the import already received (TotalRecordsReceived, "Retrieve status")."""
        return self.hook.get_import_status(access_token, client_id=client_id).total or 0


def _after(batches: Iterator[list[dict[str, Any]]], count: int) -> Iterator[list[dict[str, Any]]]:
    """``batches`` without their first ``count`` rows (the records an import already received)."""
    for batch in batches:
        if count >= len(batch):
            count -= len(batch)
            continue
        yield batch[count:]
        count = 0
