"""Huawei Cloud Contact Center CC-iSales data-file import tasks: ``queryDataImportTask``.

Two sibling endpoints with the same body and response:

- blacklist file imports: ``POST {base}/rest/isales/v1/openapi/campaigns/{vdnId}/blackfile/queryDataImportTask``;
- outbound-call data file imports of one campaign:
  ``POST {base}/rest/isales/v1/openapi/campaigns/{vdnId}/calldatafile/queryDataImportTask/{campaignId}``.

Body ``{"offset", "limit" (1..100), "importTaskIds": [...]}``; response ``{resultCode, resultDesc,
result: [DataImportTask], count, returnCode, returnDesc}`` where ``0200000`` is success.

Choices where the vendor's docs are silent (configurable on the connection where it matters):

- Auth: the AK/SK ``Authorization`` header is *inferred* from public ports of Huawei's CC-CMS
  demo ("the algorithms of CC-iKBS, CC-FS and CC-iSales are similar"). :func:`sign_request`
  computes, for one request::

      timestamp      = UTC now as YYYY-MM-DDTHH:MM:SSZ
      signed_headers = the configured header names, lower-cased, sorted, ';'-joined
                       (extra ``signed_headers``, default ``content-length;content-type;host``)
      auth_prefix    = "auth-v2/{AK}/{timestamp}/{signed_headers}"
      signing_key    = hex(HMAC-SHA256(key=SK, auth_prefix))
      canonical      = METHOD "\\n" percent-encoded path "\\n" sorted query "\\n"
                       one "name:percent-encoded trimmed value" line per signed header
      Authorization  = auth_prefix "/" hex(HMAC-SHA256(key=signing_key, canonical))

  The body is covered through ``content-length`` only (as in the demo's signed header list).
  The hook sets ``Host`` and ``Content-Length`` itself so the signed values are the sent ones.
  The signer is one pure function; a subclass replaces it by overriding ``ISalesHook.sign``.
- ``importTaskIds`` appears in the example body but not in the request table: the hook sends
  it by default (extra ``send_task_ids``); either way it pages with ``offset``/``limit``
  (extra ``page_size``, default 100) through ``count`` until the task is found. A response
  without ``count`` (as in the seed's example) is a single page.
- Codes in the seed's error table are parameter errors (:class:`BadRequestError`, not
  retried). Any other code is permanent too unless listed in the extra
  ``transient_result_codes`` (comma-separated), which are retried.
- ``beginTime``/``endTime`` without an offset are taken as UTC. ``errMsg`` is documented as
  an Integer but is a string in the example: it is read as text.
- ``test_connection`` queries the blacklist tasks of VDN ``vdn_id`` (extra, default 1) with a
  task id that cannot exist: any answer but HTTP 401 proves the signature is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

from airflow_import_status.errors import (
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
    snippet,
)
from airflow_import_status.hooks._legacy import (
    Flow,
    HttpRequest,
    HttpResponse,
    ImportStatusHook,
    TransportSettings,
    base_url_of,
    bool_extra,
    connection_extra,
    raise_for_http_status,
)
from airflow_import_status.parsing import load_json_object, optional_int, optional_str, parse_iso_datetime, required
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

VENDOR = "isales"
API_PREFIX = "rest/isales/v1/openapi/campaigns"
SUCCESS_CODE = "0200000"
AUTH_VERSION = "auth-v2"
DEFAULT_SIGNED_HEADERS: tuple[str, ...] = ("content-length", "content-type", "host")
CONTENT_TYPE = "application/json; charset=UTF-8"
MAX_PAGE_SIZE = 100
MAX_VDN_ID = 9999

PARAMETER_ERROR_CODES: dict[str, str] = {
    "0200001": "Parameter error",
    "0200006": "The parameter contains invalid characters",
    "02000001": "Empty parameter",
    "02000002": "The parameter contains invalid characters",
    "02000003": "The parameter length cannot exceed the maximum length",
    "02000004": "The parameter length cannot be less than the minimum length",
    "02000005": "The parameter length must be within the specified range",
    "02000006": "Incorrect parameter type",
    "02000007": "Incorrect parameter value",
    "02000008": "Parameter conversion error",
    "02000009": "Incorrect parameter combination",
    "02000010": "The hour and minute parameters must be set at the same time",
    "02000011": "The number of parameters cannot exceed the specified number",
}
"""The seed's error table: every documented code is a parameter error."""

STATUS_TABLE = StatusTable(
    pending=frozenset({"0"}), running=frozenset({"1"}), succeeded=frozenset({"2"}), failed=frozenset({"3"})
)
STATUS_MEANINGS = {"0": "preparing for import", "1": "importing", "2": "imported", "3": "import failed"}
_CONFIGURE_HINT = "note that CC-iSales documents only 0 (preparing), 1 (importing), 2 (imported) and 3 (failed)."


# ----- signing ------------------------------------------------------------------------------------
def _hmac_sha256_hex(key: str, message: str) -> str:
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_request(method: str, url: str, headers: Mapping[str, str], signed_headers: tuple[str, ...]) -> str:
    """The string the signature covers (see the module docstring); ``signed_headers`` lower-case, sorted."""
    parts = urlsplit(url)
    query = "&".join(
        f"{_encode(key)}={_encode(value)}" for key, value in sorted(parse_qsl(parts.query, keep_blank_values=True))
    )
    by_name = {name.lower(): value for name, value in headers.items()}
    header_lines = "\n".join(f"{name}:{_encode(by_name.get(name, '').strip())}" for name in signed_headers)
    return "\n".join((method.upper(), quote(parts.path or "/", safe="/-_.~"), query, header_lines))


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    access_key: str,
    secret_key: str,
    now: datetime,
    signed_headers: tuple[str, ...] = DEFAULT_SIGNED_HEADERS,
) -> str:
    """The ``Authorization`` value ``auth-v2/{AK}/{timestamp}/{signed headers}/{signature}`` (pure)."""
    names = tuple(sorted({name.lower() for name in signed_headers}))
    timestamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    auth_prefix = f"{AUTH_VERSION}/{access_key}/{timestamp}/{';'.join(names)}"
    signing_key = _hmac_sha256_hex(secret_key, auth_prefix)
    signature = _hmac_sha256_hex(signing_key, canonical_request(method, url, headers, names))
    return f"{auth_prefix}/{signature}"


# ----- settings -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ISalesSettings:
    base_url: str
    access_key: str
    secret_key: str
    signed_headers: tuple[str, ...] = DEFAULT_SIGNED_HEADERS
    page_size: int = MAX_PAGE_SIZE
    send_task_ids: bool = True
    transient_result_codes: frozenset[str] = frozenset()
    check_vdn_id: int = 1
    transport: TransportSettings = field(default_factory=TransportSettings)

    def secret_values(self) -> tuple[str, ...]:
        return (self.secret_key,)


def _names(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value).replace(";", ",").split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _bounded_int(conn_id: str, extra: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = extra.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if not low <= number <= high:
        raise PermanentVendorError(
            f"connection {conn_id!r}: {name} must be an integer within {low}..{high}, got {value!r}", vendor=VENDOR
        )
    return number


def settings_from_connection(conn: Connection) -> ISalesSettings:
    """CC-iSales settings: host (+ port) = ``https://ip:port``, login = AK, password = SK."""
    extra = connection_extra(conn, VENDOR)
    if not conn.login or not conn.password:
        raise PermanentVendorError(
            f"connection {conn.conn_id!r} needs the AK (login) and the SK (password)", vendor=VENDOR
        )
    signed_headers = tuple(sorted({name.lower() for name in _names(extra.get("signed_headers") or "")}))
    return ISalesSettings(
        base_url=base_url_of(conn),
        access_key=conn.login,
        secret_key=conn.password,
        signed_headers=signed_headers or DEFAULT_SIGNED_HEADERS,
        page_size=_bounded_int(conn.conn_id, extra, "page_size", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        send_task_ids=bool_extra(extra, "send_task_ids", True),
        transient_result_codes=frozenset(_names(extra.get("transient_result_codes") or "")),
        check_vdn_id=_bounded_int(conn.conn_id, extra, "vdn_id", 1, 1, MAX_VDN_ID),
        transport=TransportSettings.from_extra(extra),
    )


# ----- requests -------------------------------------------------------------------------------------
def vdn_id_of(value: Any) -> int:
    """A VDN id (integer 1..9999) or a :class:`BadRequestError` naming the bad value."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_VDN_ID:
        raise BadRequestError(f"vdn_id must be an integer within 1..{MAX_VDN_ID}, got {value!r}", vendor=VENDOR)
    return int(text)


def query_url(base_url: str, vdn_id: Any, campaign_id: Any = None) -> str:
    """The blacklist query URL, or the call-data query URL of ``campaign_id``."""
    vdn = vdn_id_of(vdn_id)
    if campaign_id is None or str(campaign_id).strip() == "":
        return f"{base_url}/{API_PREFIX}/{vdn}/blackfile/queryDataImportTask"
    return f"{base_url}/{API_PREFIX}/{vdn}/calldatafile/queryDataImportTask/{quote(str(campaign_id).strip(), safe='')}"


def signed_json_request(
    settings: ISalesSettings, url: str, payload: Any, now: datetime, signer: Callable[..., str] = sign_request
) -> HttpRequest:
    """A POST with a JSON body, ``Host``/``Content-Length`` set explicitly and signed."""
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": CONTENT_TYPE, "Host": urlsplit(url).netloc, "Content-Length": str(len(body))}
    headers["Authorization"] = signer(
        "POST",
        url,
        headers,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        now=now,
        signed_headers=settings.signed_headers,
    )
    return HttpRequest("POST", url, headers=headers, content=body)


def query_body(offset: int, limit: int, import_task_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"offset": offset, "limit": limit}
    if import_task_id is not None:
        body["importTaskIds"] = [import_task_id]
    return body


# ----- pure parsing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueryPage:
    """One page of ``queryDataImportTask``: the tasks and the total count (``None`` if absent)."""

    tasks: list[dict[str, Any]]
    count: int | None


def result_code_error(
    code: str, description: str | None, transient_codes: frozenset[str] = frozenset(), name: str = "resultCode"
) -> PermanentVendorError | TransientVendorError:
    """The typed error for a non-success ``resultCode``/``returnCode``, naming its documented meaning."""
    meaning = PARAMETER_ERROR_CODES.get(code)
    text = f"{name} {code} ({meaning or 'not in the documented error table'})"
    if description:
        text += f": {snippet(description)}"
    if code in transient_codes:
        return TransientVendorError(text, vendor=VENDOR)
    if meaning is not None:
        return BadRequestError(text, vendor=VENDOR)
    return PermanentVendorError(text, vendor=VENDOR)


def check_result_codes(data: Mapping[str, Any], transient_codes: frozenset[str] = frozenset()) -> None:
    """Raise unless every ``resultCode``/``returnCode`` present is ``0200000`` (and one is present)."""
    codes = [(name, data.get(name)) for name in ("resultCode", "returnCode") if data.get(name) not in (None, "")]
    if not codes:
        raise VendorPayloadError(f"response has no resultCode/returnCode: {snippet(json.dumps(data))!r}", vendor=VENDOR)
    for name, code in codes:
        if str(code) != SUCCESS_CODE:
            description = data.get("resultDesc" if name == "resultCode" else "returnDesc")
            raise result_code_error(str(code), str(description) if description else None, transient_codes, name)


def parse_query_page(body: bytes | str, transient_codes: frozenset[str] = frozenset()) -> QueryPage:
    """Pure parser of one ``queryDataImportTask`` answer; raises the typed error for error codes."""
    data = load_json_object(VENDOR, body)
    check_result_codes(data, transient_codes)
    tasks = data.get("result")
    if tasks is None:
        tasks = []
    if not isinstance(tasks, list) or not all(isinstance(task, dict) for task in tasks):
        raise VendorPayloadError(f"'result' is not a list of tasks: {snippet(body)!r}", vendor=VENDOR)
    return QueryPage(tasks=tasks, count=optional_int(VENDOR, data, "count"))


def find_task(page: QueryPage, import_task_id: str) -> dict[str, Any] | None:
    return next((task for task in page.tasks if str(task.get("id", "")).strip() == import_task_id), None)


def parse_import_task(task: Mapping[str, Any], *, vdn_id: Any = None, campaign_id: Any = None) -> ImportResult:
    """Pure parser: one ``DataImportTask`` to the normalized result."""
    fields = dict(task)
    task_id = str(required(VENDOR, fields, "id")).strip()
    status = optional_str(fields, "status")
    succeeded = optional_int(VENDOR, fields, "succNum")
    duplicates = optional_int(VENDOR, fields, "repeatNum")
    failed = optional_int(VENDOR, fields, "failNum")
    state = STATUS_TABLE.classify(status)
    warnings: list[str] = []
    if state is None:
        state = ImportState.PENDING
        warnings.append(unrecognized_status_warning(VENDOR, status, _CONFIGURE_HINT))
    begin = parse_iso_datetime(VENDOR, optional_str(fields, "beginTime"), "beginTime")
    end = parse_iso_datetime(VENDOR, optional_str(fields, "endTime"), "endTime")
    return ImportResult(
        vendor=VENDOR,
        job_id=task_id,
        state=state,
        vendor_status=status,
        total=sum_counters(succeeded, duplicates, failed),
        imported=succeeded,
        duplicates=duplicates,
        failed=failed,
        started_at=to_utc_iso(begin),
        finished_at=to_utc_iso(end) if state.is_terminal else None,
        message=optional_str(fields, "errMsg"),
        details={
            "vdn_id": vdn_id,
            "campaign_id": campaign_id,
            "import_type": "blacklist" if campaign_id in (None, "") else "calldata",
            "status_meaning": STATUS_MEANINGS.get(status or ""),
        },
        warnings=warnings,
    )


def parse_import_status(
    body: bytes | str, import_task_id: str, *, vdn_id: Any = None, campaign_id: Any = None
) -> ImportResult | None:
    """Pure parser of one answer for one task: its normalized result, ``None`` if not on this page."""
    task = find_task(parse_query_page(body), import_task_id)
    return None if task is None else parse_import_task(task, vdn_id=vdn_id, campaign_id=campaign_id)


def check_response(response: HttpResponse, what: str, transient_codes: frozenset[str] = frozenset()) -> None:
    """HTTP-level errors. 401/403 is the signature check; a 4xx carrying an error code names it."""
    if 400 <= response.status < 500 and response.status not in (401, 403):
        try:
            data = load_json_object(VENDOR, response.body)
        except VendorPayloadError:
            data = {}
        code = str(data.get("resultCode") or data.get("returnCode") or "")
        if code and code != SUCCESS_CODE:
            description = optional_str(data, "resultDesc") or optional_str(data, "returnDesc")
            raise result_code_error(code, description, transient_codes)
    raise_for_http_status(VENDOR, response, what)


# ----- the simulator-only upload ----------------------------------------------------------------------
def upload_url(base_url: str, vdn_id: Any, campaign_id: Any = None) -> str:
    """**Simulator-only** upload endpoint (the seed documents none): ``.../blackfile/importFile``
    or ``.../calldatafile/importFile/{campaignId}``. Real deployments import through the
    CC-iSales file-server interfaces, outside this provider."""
    return query_url(base_url, vdn_id, campaign_id).replace("/queryDataImportTask", "/importFile")


def parse_upload_response(body: bytes | str) -> str:
    data = load_json_object(VENDOR, body)
    check_result_codes(data)
    result = data.get("result")
    if not isinstance(result, dict):
        raise VendorPayloadError(f"upload answer has no result object: {snippet(body)!r}", vendor=VENDOR)
    return str(required(VENDOR, result, "importTaskId"))


# ----- the hook ---------------------------------------------------------------------------------------
class ISalesHook(ImportStatusHook[ISalesSettings]):
    """Read CC-iSales blacklist and outbound-call data file import tasks.

    Connection: host (+ port) = ``https://ip:port`` of the CC-iSales server, login = AK,
    password = SK; extras ``signed_headers``, ``page_size`` (1..100), ``send_task_ids``,
    ``transient_result_codes``, ``vdn_id`` (for ``test_connection``), ``timeout``,
    ``verify_ssl`` (on by default), ``ca_bundle`` (private CAs).

    :param clock: returns the current time for signatures (tests pass a fixed clock).
    """

    vendor = VENDOR
    conn_name_attr = "isales_conn_id"
    default_conn_name = "isales_default"
    conn_type = "isales"
    hook_name = "Huawei CC-iSales"

    sign = staticmethod(sign_request)
    """The ``Authorization`` signer; override in a subclass if your deployment signs differently."""

    def __init__(
        self,
        isales_conn_id: str = default_conn_name,
        clock: Callable[[], datetime] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=isales_conn_id, **kwargs)
        self.isales_conn_id = isales_conn_id
        self.clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def parse_connection(cls, conn: Connection) -> ISalesSettings:
        return settings_from_connection(conn)

    @classmethod
    def job_label(cls, job: Mapping[str, Any]) -> str:
        campaign_id = job.get("campaign_id")
        kind = "blacklist file" if campaign_id in (None, "") else f"call data file of campaign {campaign_id}"
        return f"{job['import_task_id']} ({kind}, VDN {job['vdn_id']})"

    def _request(self, settings: ISalesSettings, url: str, payload: Any) -> HttpRequest:
        return signed_json_request(settings, url, payload, self.clock(), self.sign)

    def status_flow(self, settings: ISalesSettings, job: Mapping[str, Any]) -> Flow[ImportResult]:
        task_id = str(job["import_task_id"]).strip()
        if not task_id:
            raise BadRequestError("import_task_id is empty", vendor=VENDOR)
        campaign_id = job.get("campaign_id")
        url = query_url(settings.base_url, job["vdn_id"], campaign_id)
        what = f"import task {self.job_label(job)}"
        offset = 0
        while True:
            body = query_body(offset, settings.page_size, task_id if settings.send_task_ids else None)
            response: HttpResponse = yield self._request(settings, url, body)
            check_response(response, what, settings.transient_result_codes)
            page = parse_query_page(response.body, settings.transient_result_codes)
            task = find_task(page, task_id)
            if task is not None:
                return parse_import_task(task, vdn_id=job["vdn_id"], campaign_id=campaign_id)
            offset += settings.page_size
            if not page.tasks or page.count is None or offset >= page.count:
                raise JobNotFoundError(f"{what} was not found among {page.count or 0} tasks", vendor=VENDOR)

    def check_flow(self, settings: ISalesSettings) -> Flow[str]:
        url = query_url(settings.base_url, settings.check_vdn_id)
        response: HttpResponse = yield self._request(settings, url, query_body(0, 1, "0"))
        connected = f"Connected to CC-iSales at {settings.base_url} (AK/SK signature accepted)"
        try:
            check_response(response, "the blacklist import tasks", settings.transient_result_codes)
            parse_query_page(response.body, settings.transient_result_codes)
        except BadRequestError as err:
            return f"{connected}; the probe query was refused: {err}"
        return connected

    def get_import_status(self, vdn_id: int | str, import_task_id: str, campaign_id: str | None = None) -> ImportResult:
        """The normalized status of one import task (sync); a campaign selects the call-data import."""
        return self.poll({"vdn_id": vdn_id, "import_task_id": import_task_id, "campaign_id": campaign_id})

    async def aget_import_status(
        self, vdn_id: int | str, import_task_id: str, campaign_id: str | None = None
    ) -> ImportResult:
        """The normalized status of one import task (async)."""
        return await self.apoll({"vdn_id": vdn_id, "import_task_id": import_task_id, "campaign_id": campaign_id})

    def upload_import_file(
        self, vdn_id: int | str, file_name: str, content: str, campaign_id: str | None = None
    ) -> str:
        """Upload a data file to the **simulator-only** import endpoint; return the import task id.

        CC-iSales documents no such call in the seed; this exists for the demo and tests.
        """
        settings = self.get_settings()
        payload = {"fileName": file_name, "content": content}
        flow = self._upload_flow(settings, upload_url(settings.base_url, vdn_id, campaign_id), payload)
        return self.run_flow(flow, settings)

    def _upload_flow(self, settings: ISalesSettings, url: str, payload: dict[str, Any]) -> Flow[str]:
        response: HttpResponse = yield self._request(settings, url, payload)
        check_response(response, f"the import endpoint {url}", settings.transient_result_codes)
        return parse_upload_response(response.body)
