"""Which50 contact-list ImportJob status: ``GET contactLists/{listId}/import/{jobId}``.

Everything Which50-specific lives here: request building, the pure parser (JSON and the
DataContract XML), the status table and the hook.

Choices where the vendor's docs are silent (all configurable on the connection):

- Base URL: ``https://app.which50.com/Which50API`` (inferred from the documentation site).
- Auth: an API-key header. The scheme is undocumented; the default is ``X-Api-Key: {key}``.
  Set extras ``key_header`` / ``auth_scheme`` (e.g. ``Authorization`` / ``Bearer``).
- ``CurrentStatus`` values are undocumented. Defaults below; override with the extras
  ``success_statuses`` / ``failure_statuses`` / ``running_statuses`` / ``pending_statuses``
  (comma-separated, case-insensitive). An unknown status with ``FinishDate`` set and
  ``ProgressPercent == 100`` counts as finished successfully; any other unknown status is
  never success: the sensor keeps waiting and warns.
- Error bodies: ASP.NET Web API's ``{"Message": "..."}`` (or ``<Error><Message>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_import_status.errors import PermanentVendorError, VendorPayloadError, snippet
from airflow_import_status.hooks.base import (
    Flow,
    HttpRequest,
    HttpResponse,
    ImportStatusHook,
    TransportSettings,
    base_url_of,
    connection_extra,
    raise_for_http_status,
)
from airflow_import_status.parsing import (
    load_json,
    load_json_object,
    load_xml,
    local_name,
    optional_int,
    optional_str,
    parse_iso_datetime,
    xml_children_text,
)
from airflow_import_status.result import (
    ImportResult,
    ImportState,
    StatusTable,
    sum_counters,
    to_utc_iso,
    unrecognized_status_warning,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

VENDOR = "which50"
DEFAULT_BASE_URL = "https://app.which50.com/Which50API"
DEFAULT_CONSOLE_URL = "https://app.which50.com/"

DEFAULT_STATUS_TABLE = StatusTable(
    pending=frozenset({"New", "Created", "Pending", "Queued", "Waiting", "NotStarted"}),
    running=frozenset({"Running", "Processing", "InProgress", "In Progress", "Importing", "Started"}),
    succeeded=frozenset({"Completed", "Complete", "Finished", "Success", "Succeeded", "Done"}),
    failed=frozenset({"Failed", "Error", "Errored", "Cancelled", "Canceled", "Aborted"}),
)

_CONFIGURE_HINT = "add it to the which50 connection extra 'success_statuses' or 'failure_statuses' (comma-separated)."

FORMATS = {"json": "application/json", "xml": "application/xml"}


@dataclass(frozen=True)
class Which50Settings:
    base_url: str
    api_key: str
    auth_header: str = "X-Api-Key"
    auth_scheme: str = ""
    response_format: str = "json"
    status_table: StatusTable = DEFAULT_STATUS_TABLE
    console_url: str = DEFAULT_CONSOLE_URL
    transport: TransportSettings = field(default_factory=TransportSettings)

    def secret_values(self) -> tuple[str, ...]:
        return (self.api_key,)

    def headers(self) -> dict[str, str]:
        value = f"{self.auth_scheme} {self.api_key}" if self.auth_scheme else self.api_key
        return {self.auth_header: value, "Accept": FORMATS[self.response_format]}


def settings_from_connection(conn: Connection) -> Which50Settings:
    """Which50 settings from an Airflow connection (host = base URL, password = API key)."""
    extra = connection_extra(conn, VENDOR)
    if not conn.password:
        raise PermanentVendorError(f"connection {conn.conn_id!r} has no API key (the password field)", vendor=VENDOR)
    response_format = str(extra.get("response_format") or "json").lower()
    if response_format not in FORMATS:
        raise PermanentVendorError(
            f"connection {conn.conn_id!r}: response_format must be 'json' or 'xml', got {response_format!r}",
            vendor=VENDOR,
        )
    return Which50Settings(
        base_url=base_url_of(conn) if conn.host else DEFAULT_BASE_URL,
        api_key=conn.password,
        auth_header=extra.get("key_header") or "X-Api-Key",
        auth_scheme=extra.get("auth_scheme") or "",
        response_format=response_format,
        status_table=DEFAULT_STATUS_TABLE.configured(extra),
        console_url=extra.get("console_url") or DEFAULT_CONSOLE_URL,
        transport=TransportSettings.from_extra(extra),
    )


def status_request(settings: Which50Settings, contact_list_id: Any, import_job_id: Any) -> HttpRequest:
    path = f"contactLists/{quote(str(contact_list_id), safe='')}/import/{quote(str(import_job_id), safe='')}"
    return HttpRequest("GET", f"{settings.base_url}/{path}", headers=settings.headers())


def _error_message(body: bytes) -> str:
    """ASP.NET's error body: ``{"Message": ...}`` or ``<Error><Message>...``; else a snippet."""
    try:
        data = load_json(VENDOR, body)
        if isinstance(data, dict) and data.get("Message"):
            return str(data["Message"])
    except VendorPayloadError:
        pass
    try:
        fields = xml_children_text(load_xml(VENDOR, body))
        if fields.get("Message"):
            return str(fields["Message"])
    except VendorPayloadError:
        pass
    return snippet(body)


def check_response(response: HttpResponse, what: str) -> None:
    """Raise the typed error for a non-2xx answer, quoting Which50's own message."""
    if 200 <= response.status < 300:
        return
    message = _error_message(response.body)
    raise_for_http_status(VENDOR, HttpResponse(response.status, response.headers, message.encode(), response.url), what)


def import_job_fields(body: bytes | str, content_type: str = "") -> dict[str, Any]:
    """The ImportJob's fields from a JSON or DataContract XML body (sniffed, not trusted)."""
    text = body.lstrip()[:1]
    if text in (b"<", "<") or "xml" in content_type:
        root = load_xml(VENDOR, body)
        if local_name(root) != "ImportJob":
            raise VendorPayloadError(f"expected an <ImportJob> element, got <{local_name(root)}>", vendor=VENDOR)
        return xml_children_text(root)
    return load_json_object(VENDOR, body)


def parse_import_job(
    body: bytes | str, content_type: str = "", status_table: StatusTable = DEFAULT_STATUS_TABLE
) -> ImportResult:
    """Pure parser: a Which50 ImportJob (JSON or XML) to the normalized result."""
    fields = import_job_fields(body, content_type)
    job_id = optional_int(VENDOR, fields, "Id")
    if job_id is None:
        raise VendorPayloadError(f"ImportJob has no Id: {snippet(str(fields))!r}", vendor=VENDOR)
    status = optional_str(fields, "CurrentStatus")
    progress = optional_int(VENDOR, fields, "ProgressPercent")
    if progress is not None and progress > 100:
        raise VendorPayloadError(f"ProgressPercent {progress} is over 100", vendor=VENDOR)
    finish = parse_iso_datetime(VENDOR, optional_str(fields, "FinishDate"), "FinishDate")
    inserted = optional_int(VENDOR, fields, "InsertedContacts")
    updated = optional_int(VENDOR, fields, "UpdatedContacts")
    invalid_email = optional_int(VENDOR, fields, "InvalidEmailCount")
    invalid_sms = optional_int(VENDOR, fields, "InvalidSmsCount")

    warnings: list[str] = []
    state = status_table.classify(status)
    if state is None:
        if finish is not None and progress == 100:
            state = ImportState.SUCCEEDED
            warnings.append(
                f"unrecognized CurrentStatus {status!r} taken as finished (FinishDate set, ProgressPercent 100)"
            )
        else:
            state = ImportState.PENDING
            warnings.append(unrecognized_status_warning(VENDOR, status, _CONFIGURE_HINT))
    return ImportResult(
        vendor=VENDOR,
        job_id=str(job_id),
        state=state,
        vendor_status=status,
        total=optional_int(VENDOR, fields, "TotalContacts"),
        imported=sum_counters(inserted, updated),
        inserted=inserted,
        updated=updated,
        unchanged=optional_int(VENDOR, fields, "NotUpdatedContacts"),
        deleted=optional_int(VENDOR, fields, "DroppedContacts"),
        invalid=sum_counters(invalid_email, invalid_sms),
        progress_percent=progress,
        started_at=to_utc_iso(parse_iso_datetime(VENDOR, optional_str(fields, "StartDate"), "StartDate")),
        finished_at=to_utc_iso(finish),
        details={
            "contact_list_id": optional_int(VENDOR, fields, "ContactListId"),
            "InvalidEmailCount": invalid_email,
            "InvalidSmsCount": invalid_sms,
        },
        warnings=warnings,
    )


def start_import_flow(
    settings: Which50Settings, contact_list_id: int | str, contacts: list[dict[str, Any]]
) -> Flow[str]:
    """Create, fill (10,000 contacts per request) and run an ImportJob; return its id."""
    base = f"{settings.base_url}/contactLists/{quote(str(contact_list_id), safe='')}/import"
    field_names = sorted({name for contact in contacts for name in contact})
    response: HttpResponse = yield HttpRequest(
        "POST", base, headers=settings.headers(), json={"FieldNames": field_names}
    )
    check_response(response, f"contact list {contact_list_id}")
    job_id = parse_import_job(response.body, response.content_type, settings.status_table).job_id
    for start in range(0, len(contacts), 10_000):
        batch = [{"Values": contact} for contact in contacts[start : start + 10_000]]
        response = yield HttpRequest("POST", f"{base}/{job_id}", headers=settings.headers(), json=batch)
        check_response(response, f"import job {job_id} of contact list {contact_list_id}")
    response = yield HttpRequest("POST", f"{base}/{job_id}/run", headers=settings.headers())
    check_response(response, f"import job {job_id} of contact list {contact_list_id}")
    return job_id


class Which50Hook(ImportStatusHook[Which50Settings]):
    """Read Which50 contact-list import jobs.

    Connection: host = API base URL (default ``https://app.which50.com/Which50API``),
    password = API key; extras ``key_header``, ``auth_scheme``, ``response_format``
    (json|xml), ``success_statuses``, ``failure_statuses``, ``timeout``, ``verify_ssl``,
    ``ca_bundle``, ``console_url``.
    """

    vendor = VENDOR
    conn_name_attr = "which50_conn_id"
    default_conn_name = "which50_default"
    conn_type = "which50"
    hook_name = "Which50"

    def __init__(self, which50_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=which50_conn_id, **kwargs)
        self.which50_conn_id = which50_conn_id

    @classmethod
    def parse_connection(cls, conn: Connection) -> Which50Settings:
        return settings_from_connection(conn)

    @classmethod
    def job_label(cls, job: Mapping[str, Any]) -> str:
        return f"{job['import_job_id']} of contact list {job['contact_list_id']}"

    def status_flow(self, settings: Which50Settings, job: Mapping[str, Any]) -> Flow[ImportResult]:
        response: HttpResponse = yield status_request(settings, job["contact_list_id"], job["import_job_id"])
        check_response(response, f"contact list {job['contact_list_id']} or import job {job['import_job_id']}")
        return parse_import_job(response.body, response.content_type, settings.status_table)

    def check_flow(self, settings: Which50Settings) -> Flow[str]:
        response: HttpResponse = yield HttpRequest(
            "GET", f"{settings.base_url}/contactLists", headers=settings.headers()
        )
        check_response(response, "the contact lists")
        return f"Connected to Which50 at {settings.base_url}"

    def console_url(self, job: Mapping[str, Any]) -> str | None:
        return self.get_settings().console_url.format(**job)

    def start_import(self, contact_list_id: int | str, contacts: list[dict[str, Any]]) -> str:
        """Create an ImportJob, upload ``contacts`` (dicts of field values) in batches, run it.

        Returns the ImportJob id to hand to :class:`Which50ImportSensor`.
        """
        settings = self.get_settings()
        return self.run_flow(start_import_flow(settings, contact_list_id, contacts), settings)

    def get_import_status(self, contact_list_id: int | str, import_job_id: int | str) -> ImportResult:
        """The normalized status of one import job (sync)."""
        return self.poll({"contact_list_id": contact_list_id, "import_job_id": import_job_id})

    async def aget_import_status(self, contact_list_id: int | str, import_job_id: int | str) -> ImportResult:
        """The normalized status of one import job (async)."""
        return await self.apoll({"contact_list_id": contact_list_id, "import_job_id": import_job_id})
