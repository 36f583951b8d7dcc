"""Which50's requests and pure parsers: ``GET contactLists/{listId}/import/{jobId}`` and the import flow.

Known, from the vendor's page "Which50 API: ImportJob" (the API help page of
``GET contactLists/{contactListId}/import/{importJobId}`` under https://app.which50.com/Which50API/documentation/):
``POST contactLists/{listId}/import`` {"FieldNames": [...]} creates an ImportJob,
``POST contactLists/{listId}/import/{jobId}`` adds at most 10,000 contacts per request,
``POST contactLists/{listId}/import/{jobId}/run`` starts it, ``GET`` of the same path is the
status; JSON or the DataContract XML by ``Accept``; errors 401, 403, 404, 500.

Inferred (nothing public; configurable on the connection): the base URL, the API-key header
(``X-Api-Key``), the ``CurrentStatus`` values, and ASP.NET's ``{"Message": ...}`` error body.
Our rule (inferred: the vendor documents no status values) "an unknown status with
``FinishDate`` set and ``ProgressPercent`` 100
is finished" applies only to a *string* status the table does not know: a missing, empty or
non-string status is never a success.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_import_status.errors import VendorPayloadError, snippet
from airflow_import_status.parsing import (
    load_json,
    load_json_object,
    load_xml,
    local_name,
    optional_int,
    parse_iso_datetime,
    xml_children_text,
)
from airflow_import_status.responses import raise_for_http_status
from airflow_import_status.result import (
    ImportResult,
    ImportState,
    StatusTable,
    sum_counters,
    to_utc_iso,
    unrecognized_status_warning,
)
from airflow_import_status.transport import Flow, HttpRequest, HttpResponse, TransportSettings
from airflow_import_status.vendors.spec import ConnectionValues, base_url
from airflow_import_status.vendors.which50.spec import DEFAULT_BASE_URL, FORMATS, STATUS_TABLE, Which50Job

VENDOR = "which50"
MAX_CONTACTS_PER_REQUEST = 10_000  # "Which50 API: ImportJob": at most 10,000 contacts per request

_CONFIGURE_HINT = "add it to the which50 connection extra 'success_statuses' or 'failure_statuses' (comma-separated)."


@dataclass(frozen=True)
class Which50Settings:
    base_url: str
    api_key: str
    key_header: str
    auth_scheme: str
    response_format: str
    status_table: StatusTable
    console_url: str
    transport: TransportSettings

    def headers(self) -> dict[str, str]:
        value = f"{self.auth_scheme} {self.api_key}" if self.auth_scheme else self.api_key
        return {self.key_header: value, "Accept": FORMATS[self.response_format]}

    def list_url(self, contact_list_id: Any) -> str:
        return f"{self.base_url}/contactLists/{quote(str(contact_list_id), safe='')}/import"


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
    if not 200 <= response.status < 300:
        raise_for_http_status(VENDOR, response, what, quoted=_error_message(response.body))


def import_job_fields(body: bytes | str, content_type: str = "") -> dict[str, Any]:
    """The ImportJob's fields from a JSON or DataContract XML body (sniffed, not trusted)."""
    body = body.encode() if isinstance(body, str) else body
    if body.lstrip()[:1] == b"<" or "xml" in content_type:
        root = load_xml(VENDOR, body)
        if local_name(root) != "ImportJob":
            raise VendorPayloadError(f"expected an <ImportJob> element, got <{local_name(root)}>", vendor=VENDOR)
        return xml_children_text(root)
    return load_json_object(VENDOR, body)


def _status(fields: dict[str, Any]) -> str | None:
    value = fields.get("CurrentStatus")
    if value is None:
        return None
    if not isinstance(value, str):
        raise VendorPayloadError(
            f"CurrentStatus is not text but {type(value).__name__}: {snippet(str(value))!r}", vendor=VENDOR
        )
    return value.strip() or None


def parse_import_job(
    body: bytes | str, content_type: str = "", status_table: StatusTable | None = None, expected_id: int | None = None
) -> ImportResult:
    """Pure parser: a Which50 ImportJob (JSON or XML) to the normalized result.

    ``expected_id``: the job asked for; an answer about another job is a payload error, never its success.
    """
    table = status_table or STATUS_TABLE
    fields = import_job_fields(body, content_type)
    job_id = optional_int(VENDOR, fields, "Id")
    if job_id is None:
        raise VendorPayloadError(f"ImportJob has no Id: {snippet(str(fields))!r}", vendor=VENDOR)
    if expected_id is not None and job_id != expected_id:
        raise VendorPayloadError(f"asked for ImportJob {expected_id} but the answer is about {job_id}", vendor=VENDOR)
    status = _status(fields)
    progress = optional_int(VENDOR, fields, "ProgressPercent")
    if progress is not None and progress > 100:
        raise VendorPayloadError(f"ProgressPercent {progress} is over 100", vendor=VENDOR)
    finish_value = fields.get("FinishDate")
    if finish_value is not None and not isinstance(finish_value, str):
        raise VendorPayloadError(f"FinishDate is not text: {snippet(str(finish_value))!r}", vendor=VENDOR)
    finish = parse_iso_datetime(VENDOR, finish_value, "FinishDate")
    start_value = fields.get("StartDate")
    start = parse_iso_datetime(VENDOR, start_value if isinstance(start_value, str) else None, "StartDate")
    inserted = optional_int(VENDOR, fields, "InsertedContacts")
    updated = optional_int(VENDOR, fields, "UpdatedContacts")
    invalid_email = optional_int(VENDOR, fields, "InvalidEmailCount")
    invalid_sms = optional_int(VENDOR, fields, "InvalidSmsCount")

    warnings: list[str] = []
    state = table.classify(status)
    if state is None:
        if status is not None and finish is not None and progress == 100:
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
        started_at=to_utc_iso(start),
        finished_at=to_utc_iso(finish),
        details={
            "contact_list_id": optional_int(VENDOR, fields, "ContactListId"),
            "InvalidEmailCount": invalid_email,
            "InvalidSmsCount": invalid_sms,
        },
        warnings=warnings,
    )


class Which50Codec:
    """Which50's side of the shared flow driver."""

    def settings(self, values: ConnectionValues) -> Which50Settings:
        return Which50Settings(
            base_url=base_url(values, DEFAULT_BASE_URL),
            api_key=values.require("password", "API key"),
            key_header=values["key_header"],
            auth_scheme=values["auth_scheme"],
            response_format=values["response_format"],
            status_table=values.status_table(STATUS_TABLE),
            console_url=values["console_url"],
            transport=values.transport(),
        )

    def transport(self, settings: Which50Settings) -> TransportSettings:
        return settings.transport

    def status_request(self, settings: Which50Settings, job: Which50Job) -> HttpRequest:
        url = f"{settings.list_url(job.contact_list_id)}/{quote(str(job.import_job_id), safe='')}"
        return HttpRequest("GET", url, headers=settings.headers())

    def decode_status(self, response: HttpResponse, settings: Which50Settings, job: Which50Job) -> ImportResult:
        check_response(response, f"contact list {job.contact_list_id} or import job {job.import_job_id}")
        return parse_import_job(response.body, response.content_type, settings.status_table, job.import_job_id)

    def status_flow(self, settings: Which50Settings, job: Which50Job) -> Flow[ImportResult]:
        response = yield self.status_request(settings, job)
        return self.decode_status(response, settings, job)

    def check_flow(self, settings: Which50Settings) -> Flow[str]:
        response = yield HttpRequest("GET", f"{settings.base_url}/contactLists", headers=settings.headers())
        check_response(response, "the contact lists")
        return f"Connected to Which50 at {settings.base_url}"

    def console_url(self, settings: Which50Settings, job: Which50Job) -> str | None:
        return settings.console_url.format(**job.to_params())

    def start_import_flow(
        self,
        settings: Which50Settings,
        contact_list_id: int | str,
        field_names: list[str],
        batches: Iterable[list[dict[str, Any]]],
        on_created: Callable[[str], None] | None = None,
    ) -> Flow[str]:
        """Create an ImportJob, add each batch (at most 10,000 contacts), run it; return the job id.

        ``on_created`` hears the job id the moment Which50 returns it, before any contact is added.
        """
        base = settings.list_url(contact_list_id)
        response = yield HttpRequest.with_json(
            "POST", base, {"FieldNames": field_names}, headers=settings.headers(), idempotent=False
        )
        check_response(response, f"contact list {contact_list_id}")
        job_id = parse_import_job(response.body, response.content_type, settings.status_table).job_id
        if on_created is not None:
            on_created(job_id)
        for batch in batches:
            if len(batch) > MAX_CONTACTS_PER_REQUEST:
                raise ValueError(f"a Which50 batch holds at most {MAX_CONTACTS_PER_REQUEST} contacts")
            response = yield HttpRequest.with_json(
                "POST",
                f"{base}/{job_id}",
                [{"Values": contact} for contact in batch],
                headers=settings.headers(),
                idempotent=False,
            )
            check_response(response, f"import job {job_id} of contact list {contact_list_id}")
        response = yield HttpRequest("POST", f"{base}/{job_id}/run", headers=settings.headers(), idempotent=False)
        check_response(response, f"import job {job_id} of contact list {contact_list_id}")
        return job_id


CODEC = Which50Codec()
"""The codec the spec names (``VendorClasses.codec``); hooks and operators use it typed."""
