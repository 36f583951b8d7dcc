"""Which50 contact-list ImportJob: what the package knows about the vendor, declared once.

Sources: the vendor's ImportJob API page ("Which50 API: ImportJob", the help page of
``GET contactLists/{contactListId}/import/{importJobId}`` under https://app.which50.com/Which50API/documentation/)
and nothing else public (checked 2026-12). Known: the paths, the ImportJob fields, JSON or XML
by ``Accept``, errors 401/403/404/500. Inferred (configurable on the connection): the base URL,
the auth header, the ``CurrentStatus`` values and ASP.NET's ``{"Message": ...}`` error body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_import_status.result import StatusTable
from airflow_import_status.vendors.spec import (
    ConnectionField,
    ConnectionSchema,
    ImportJob,
    ListDataset,
    StandardField,
    VendorClasses,
    VendorSpec,
    job_field,
    status_fields,
)

DEFAULT_BASE_URL = "https://app.which50.com/Which50API"  # inferred from the documentation site
DEFAULT_CONSOLE_URL = "https://app.which50.com/"
DEFAULT_KEY_HEADER = "X-Api-Key"  # inferred: Which50 documents no auth scheme
FORMATS = {"json": "application/json", "xml": "application/xml"}  # "Which50 API: ImportJob": by Accept

# Inferred: Which50 documents no CurrentStatus values; these are the usual ASP.NET enum names.
STATUS_TABLE = StatusTable(
    pending=frozenset({"New", "Created", "Pending", "Queued", "Waiting", "NotStarted"}),
    running=frozenset({"Running", "Processing", "InProgress", "In Progress", "Importing", "Started"}),
    succeeded=frozenset({"Completed", "Complete", "Finished", "Success", "Succeeded", "Done"}),
    failed=frozenset({"Failed", "Error", "Errored", "Cancelled", "Canceled", "Aborted"}),
)

NOT_RUN_STATUSES = frozenset({"new", "created", "notstarted"})
"""CurrentStatus values (case-insensitive) of an ImportJob that was created but never ``run``.

Inferred, like the table above: "Which50 API: ImportJob" documents no values. A retry that finds
its earlier try's ImportJob in one of these starts a new job from the first row (the old one is
never run, so it imports nothing); in any other status the job was run and the retry waits on it.
"""


@dataclass(frozen=True)
class Which50Job(ImportJob):
    """One ImportJob of a contact list."""

    contact_list_id: int = job_field(label="contact list id", kind=int)
    import_job_id: int = job_field(label="ImportJob id", kind=int, job_id=True)

    label_format = "{import_job_id} of contact list {contact_list_id}"


CONNECTION = ConnectionSchema(
    standard=(
        StandardField("host", "API base URL", placeholder=DEFAULT_BASE_URL, required=False),
        StandardField("password", "API key"),
    ),
    extras=(
        ConnectionField(
            "key_header",
            "API key header name (inferred)",
            default=DEFAULT_KEY_HEADER,
            description="Which50 does not document its auth scheme; the key is sent in this header.",
        ),
        ConnectionField("auth_scheme", "API key scheme (e.g. Bearer; empty for the bare key)", default=""),
        ConnectionField("response_format", "Response format", default="json", choices=tuple(FORMATS)),
        *status_fields("Which50 CurrentStatus"),
        ConnectionField("console_url", "Console URL template", default=DEFAULT_CONSOLE_URL),
    ),
)

SPEC: VendorSpec[Any, Which50Job] = VendorSpec(
    key="which50",
    display_name="Which50",
    api="Which50 contact-list ImportJob (REST, JSON or XML)",
    connection=CONNECTION,
    job_type=Which50Job,
    status_table=STATUS_TABLE,
    classes=VendorClasses(
        codec="airflow_import_status.vendors.which50.codec.CODEC",
        hook="airflow_import_status.hooks.which50.Which50Hook",
        sensor="airflow_import_status.sensors.which50.Which50ImportSensor",
        simulator="airflow_import_status.simulators.which50.Which50Simulator",
        operator="airflow_import_status.operators.which50.Which50ImportOperator",
    ),
    dataset=ListDataset(("contact_list/{contact_list_id}",), default_host=DEFAULT_BASE_URL),
    doc_url="https://app.which50.com/Which50API/Help",  # inferred: ASP.NET Web API help pages live under /Help
    docs={
        "state": "`CurrentStatus` via a configurable table (connection extras `*_statuses`)",
        "total": "TotalContacts (the page: contacts inserted or updated, so invalid ones are not in it)",
        "imported": "inserted + updated",
        "inserted": "InsertedContacts",
        "updated": "UpdatedContacts",
        "unchanged": "NotUpdatedContacts",
        "deleted": "DroppedContacts",
        "invalid": "InvalidEmailCount + InvalidSmsCount",
        "progress": "ProgressPercent",
        "details": "contact_list_id, InvalidEmailCount, InvalidSmsCount",
        "connection": "host: API base URL (default `https://app.which50.com/Which50API`); password: API key. "
        "Which50 does not document its auth scheme or its `CurrentStatus` values, so both are configurable: "
        "`key_header` (default `X-Api-Key`) and `auth_scheme` (e.g. `Bearer`); `success_statuses` / "
        "`failure_statuses` / `running_statuses` / `pending_statuses` (comma-separated, case-insensitive). "
        "An unknown *text* status with `FinishDate` set and `ProgressPercent` 100 counts as finished; a missing "
        "or non-text status never does. An answer about another ImportJob id is never a success.",
        "sources": "Known, from the vendor page *Which50 API: ImportJob* "
        "(<https://app.which50.com/Which50API/documentation/Api"
        "?apiId=GET-contactLists-contactListId-import-importJobId>): "
        "the four import paths (create with `FieldNames`, add at most 10,000 contacts per request, run, status), "
        "the ImportJob fields, JSON or DataContract XML by `Accept`, errors 401/403/404/500. Nothing else is "
        "public (checked 2026-12). **Inferred** (each configurable): the base URL, the API-key header "
        '`X-Api-Key`, the `CurrentStatus` values (usual ASP.NET enum names), ASP.NET\'s `{"Message": ...}` '
        "error body, and the console URL.",
        "rejected_records": (
            "Not listed. Checked (2026-12): the Which50 API's ImportJob page (the import, add and run calls and "
            "`GET contactLists/{listId}/import/{jobId}`) is all that is public; nothing lists an ImportJob's refused "
            "contacts. The file gets the rows the operator refused before sending."
        ),
    },
)
