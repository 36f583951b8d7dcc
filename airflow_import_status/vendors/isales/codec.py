"""CC-iSales requests and pure parsers: ``queryDataImportTask`` (blacklist and call-data file imports).

Two sibling endpoints with the same body and response (the vendor's queryDataImportTask pages):

- blacklist file imports: ``POST {base}/rest/isales/v1/openapi/campaigns/{vdnId}/blackfile/queryDataImportTask``;
- outbound-call data file imports of one campaign:
  ``POST {base}/rest/isales/v1/openapi/campaigns/{vdnId}/calldatafile/queryDataImportTask/{campaignId}``.

Body ``{"offset", "limit" (1..100), "importTaskIds": [...]}``; response ``{resultCode, resultDesc,
result: [DataImportTask], count, returnCode, returnDesc}`` where ``0200000`` is success.

Choices where the vendor's docs are silent (configurable on the connection where it matters):

- Auth: the AK/SK ``Authorization`` header (:func:`sign_request`, one pure function with an
  injectable clock) is auth-v2 as "Huawei CC-iSales demo / its public ports" compute it: it
  covers the method, path, query, signed headers and the exact body bytes sent; the base64
  variant of two ports is the extra ``signature_encoding``.
- ``importTaskIds`` appears in the example body but not in the request table: it is sent by
  default (extra ``send_task_ids``); either way the flow pages with ``offset``/``limit``
  (extra ``page_size``) through ``count`` until the task is found. A response without
  ``count`` (as in the vendor page's example) is a single page.
- Codes in the vendor page's error table are parameter errors (:class:`BadRequestError`). Any other
  code is permanent too unless listed in the extra ``transient_result_codes``.
- ``beginTime``/``endTime`` without an offset are taken as UTC; ``errMsg`` is read as text.
- ``check_flow`` queries the blacklist tasks of VDN ``vdn_id`` (extra) with a task id that
  cannot exist: any answer but HTTP 401 proves the signature is accepted.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from airflow_import_status.errors import (
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
    snippet,
)
from airflow_import_status.parsing import load_json_object, optional_int, optional_str, parse_iso_datetime, required
from airflow_import_status.responses import raise_for_http_status
from airflow_import_status.result import (
    ImportResult,
    ImportState,
    sum_counters,
    to_utc_iso,
    unrecognized_status_warning,
)
from airflow_import_status.transport import Flow, HttpRequest, HttpResponse, TransportSettings
from airflow_import_status.vendors.isales.spec import (
    API_PREFIX,
    AUTH_VERSION,
    DEFAULT_SIGNED_HEADERS,
    MAX_VDN_ID,
    PARAMETER_ERROR_CODES,
    STATUS_MEANINGS,
    STATUS_TABLE,
    SUCCESS_CODE,
    ISalesJob,
)
from airflow_import_status.vendors.spec import ConnectionValues, base_url

VENDOR = "isales"
CONTENT_TYPE = "application/json;charset=UTF-8"  # the demo's Content-Type
_CONFIGURE_HINT = "note that CC-iSales documents only 0 (preparing), 1 (importing), 2 (imported) and 3 (failed)."


# ----- signing ------------------------------------------------------------------------------------
# auth-v2 as "Huawei CC-iSales demo / its public ports" compute it ("What public
# sources add"): the prefix, the signing key, the six-part canonical request and the encoding rule.
# The encodings (the connection's ``signature_encoding``): hex, the demo's (signing key = hex
# text); base64, two public ports' (raw key bytes, base64 signature).


def percent_encode(value: str | bytes) -> str:
    """Every byte outside ``A-Z a-z 0-9 - . _ ~`` as ``%XX`` (upper-case hex), UTF-8 first."""
    return quote(value if isinstance(value, bytes) else value.encode("utf-8"), safe="-._~")


def signing_timestamp(now: datetime) -> str:
    """UTC ``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`` (with milliseconds)."""
    utc = now.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
        f".{utc.microsecond // 1000:03d}Z"
    )


def canonical_request(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, signed_headers: tuple[str, ...]
) -> str:
    """The six parts joined by newlines: method, path, sorted query, header names, header lines, body."""
    by_name = {name.lower(): value for name, value in headers.items()}
    signed_values = tuple(by_name.get(name, "") for name in signed_headers)
    if body is not None and len(body) > CANONICAL_CACHE_MAX_BODY:  # an upload: built once, never kept
        return _canonical_request(method, url, signed_values, body, signed_headers)
    return _kept_canonical_request(method, url, signed_values, body, signed_headers)


CANONICAL_CACHE_SIZE = 4096
"""Canonical requests kept: a status poll signs the same request every time but for its timestamp."""
CANONICAL_CACHE_MAX_BODY = 4096
"""Bodies longer than this (uploads) are never kept (bytes)."""


def _canonical_request(
    method: str, url: str, signed_values: tuple[str, ...], body: bytes | None, signed_headers: tuple[str, ...]
) -> str:
    parts = urlsplit(url)
    query = "&".join(
        sorted(
            f"{percent_encode(key)}={percent_encode(value)}"
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        )
    )
    header_lines = "\n".join(
        sorted(
            f"{percent_encode(name)}:{percent_encode(value.strip())}"
            for name, value in zip(signed_headers, signed_values, strict=True)
        )
    )
    return "\n".join(
        (method.upper(), parts.path or "/", query, ";".join(signed_headers), header_lines, percent_encode(body or b""))
    )


_kept_canonical_request = functools.lru_cache(maxsize=CANONICAL_CACHE_SIZE)(_canonical_request)


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    access_key: str,
    secret_key: str,
    now: datetime,
    signed_headers: tuple[str, ...] = DEFAULT_SIGNED_HEADERS,
    encoding: str = "hex",
) -> str:
    """The ``Authorization`` value ``auth-v2/{AK}/{timestamp}/{signed headers}/{signature}`` (pure)."""
    names = tuple(sorted({name.lower() for name in (*signed_headers, "host")}))
    prefix = f"{AUTH_VERSION}/{access_key}/{signing_timestamp(now)}/{';'.join(names)}"
    canonical = canonical_request(method, url, headers, body, names).encode("utf-8")
    key = hmac.new(secret_key.encode("utf-8"), prefix.encode("utf-8"), hashlib.sha256)
    if encoding == "base64":
        signature = base64.b64encode(hmac.new(key.digest(), canonical, hashlib.sha256).digest()).decode()
    else:
        signature = hmac.new(key.hexdigest().encode(), canonical, hashlib.sha256).hexdigest()
    return f"{prefix}/{signature}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


# ----- settings -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ISalesSettings:
    base_url: str
    access_key: str
    secret_key: str
    signed_headers: tuple[str, ...] = DEFAULT_SIGNED_HEADERS
    page_size: int = 100
    send_task_ids: bool = True
    transient_result_codes: frozenset[str] = frozenset()
    check_vdn_id: int = 1
    transport: TransportSettings = field(default_factory=TransportSettings)
    signature_encoding: str = "hex"
    locale: str | None = None
    clock: Callable[[], datetime] = _utc_now
    """The time signatures carry (tests pass a fixed clock)."""


def _names(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").replace(";", ",").split(",") if item.strip()]


# ----- requests -------------------------------------------------------------------------------------
def vdn_id_of(value: Any) -> int:
    """A VDN id (integer 1..9999) or a :class:`BadRequestError` naming the bad value."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_VDN_ID:
        raise BadRequestError(f"vdn_id must be an integer within 1..{MAX_VDN_ID}, got {value!r}", vendor=VENDOR)
    return int(text)


def query_url(base: str, vdn_id: Any, campaign_id: Any = None) -> str:
    """The blacklist query URL, or the call-data query URL of ``campaign_id``."""
    vdn = vdn_id_of(vdn_id)
    if campaign_id is None or str(campaign_id).strip() == "":
        return f"{base}/{API_PREFIX}/{vdn}/blackfile/queryDataImportTask"
    return f"{base}/{API_PREFIX}/{vdn}/calldatafile/queryDataImportTask/{quote(str(campaign_id).strip(), safe='')}"


def signed_json_request(settings: ISalesSettings, url: str, payload: Any, *, idempotent: bool = True) -> HttpRequest:
    """A POST with a JSON body, ``Host``/``Content-Length`` set explicitly, signed over the bytes sent."""
    headers = {"Content-Type": CONTENT_TYPE, "Host": urlsplit(url).netloc}
    if settings.locale:
        headers["locale"] = settings.locale  # the optional locale header of the CC-iSales pages
    request = HttpRequest.with_json("POST", url, payload, headers=headers, idempotent=idempotent)
    headers = {**request.headers, "Content-Length": str(len(request.content or b""))}
    headers["Authorization"] = sign_request(
        "POST",
        url,
        headers,
        request.content,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        now=settings.clock(),
        signed_headers=settings.signed_headers,
        encoding=settings.signature_encoding,
    )
    return dataclasses.replace(request, headers=headers)


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


TASK_ID_FIELDS = ("id", "importTaskId")
"""Where a DataImportTask names itself (``id`` in the query answer; ``importTaskId`` on the upload pages)."""


def _task_ids(task: Mapping[str, Any]) -> set[str]:
    return {str(task[name]).strip() for name in TASK_ID_FIELDS if task.get(name) not in (None, "")}


def find_task(page: QueryPage, import_task_id: str) -> dict[str, Any] | None:
    """The task asked for on this page (named by ``id`` or ``importTaskId``), ``None`` if absent."""
    return next((task for task in page.tasks if import_task_id in _task_ids(task)), None)


def parse_import_task(task: Mapping[str, Any], job: ISalesJob) -> ImportResult:
    """Pure parser: one ``DataImportTask`` (about ``job``) to the normalized result."""
    fields = dict(task)
    ids = _task_ids(fields)
    if not ids:
        raise VendorPayloadError(f"a DataImportTask names no id: {snippet(json.dumps(fields))!r}", vendor=VENDOR)
    if ids != {job.import_task_id}:
        raise VendorPayloadError(
            f"asked for import task {job.import_task_id} but the answer names {', '.join(sorted(ids))}", vendor=VENDOR
        )
    task_id = job.import_task_id
    status = optional_str(fields, "status")
    succeeded = optional_int(VENDOR, fields, "succNum")
    duplicates = optional_int(VENDOR, fields, "repeatNum")
    failed = optional_int(VENDOR, fields, "failNum")
    blacklisted = optional_int(VENDOR, fields, "blackNum")  # the call-data import page: written to the blacklist
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
            "vdn_id": job.vdn_id,
            "campaign_id": job.campaign_id,
            "import_type": "blacklist" if job.is_blacklist else "calldata",
            "status_meaning": STATUS_MEANINGS.get(status or ""),
            "blackNum": blacklisted,
        },
        warnings=warnings,
    )


def parse_import_status(body: bytes | str, job: ISalesJob) -> ImportResult | None:
    """Pure parser of one answer for one task: its normalized result, ``None`` if not on this page."""
    task = find_task(parse_query_page(body), job.import_task_id)
    return None if task is None else parse_import_task(task, job)


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
    if not 200 <= response.status < 300:
        raise_for_http_status(VENDOR, response, what)


# ----- the simulator-only upload ----------------------------------------------------------------------
def upload_url(base: str, vdn_id: Any, campaign_id: Any = None) -> str:
    """**Simulator-only** upload endpoint (the vendor's pages document none): ``.../blackfile/importFile``
    or ``.../calldatafile/importFile/{campaignId}``. Real deployments import through the
    CC-iSales file-server interfaces, outside this provider."""
    return query_url(base, vdn_id, campaign_id).replace("/queryDataImportTask", "/importFile")


def parse_upload_response(body: bytes | str) -> str:
    data = load_json_object(VENDOR, body)
    check_result_codes(data)
    result = data.get("result")
    if not isinstance(result, dict):
        raise VendorPayloadError(f"upload answer has no result object: {snippet(body)!r}", vendor=VENDOR)
    return str(required(VENDOR, result, "importTaskId"))


class ISalesCodec:
    """CC-iSales' side of the shared flow driver."""

    def settings(self, values: ConnectionValues) -> ISalesSettings:
        signed = tuple(sorted({name.lower() for name in _names(values["signed_headers"])} | {"host"}))
        return ISalesSettings(
            base_url=base_url(values),
            access_key=values.require("login", "AK"),
            secret_key=values.require("password", "SK"),
            signed_headers=signed,
            page_size=values["page_size"],
            send_task_ids=values["send_task_ids"],
            transient_result_codes=frozenset(_names(values["transient_result_codes"])),
            check_vdn_id=values["vdn_id"],
            transport=values.transport(),
            signature_encoding=values["signature_encoding"],
            locale=values["locale"] or None,
        )

    def transport(self, settings: ISalesSettings) -> TransportSettings:
        return settings.transport

    def status_request(self, settings: ISalesSettings, job: ISalesJob, offset: int = 0) -> HttpRequest:
        body = query_body(offset, settings.page_size, job.import_task_id if settings.send_task_ids else None)
        return signed_json_request(settings, query_url(settings.base_url, job.vdn_id, job.campaign_id), body)

    def decode_page(self, response: HttpResponse, settings: ISalesSettings, job: ISalesJob) -> QueryPage:
        check_response(response, f"import task {job.describe()}", settings.transient_result_codes)
        return parse_query_page(response.body, settings.transient_result_codes)

    def decode_status(self, response: HttpResponse, settings: ISalesSettings, job: ISalesJob) -> ImportResult:
        """One answer: the task's result; a page without it is "not found" (the grace applies)."""
        page = self.decode_page(response, settings, job)
        task = find_task(page, job.import_task_id)
        if task is None:
            raise JobNotFoundError(f"import task {job.describe()} is not in the answer", vendor=VENDOR)
        return parse_import_task(task, job)

    def status_flow(self, settings: ISalesSettings, job: ISalesJob) -> Flow[ImportResult]:
        if not job.import_task_id:
            raise BadRequestError("import_task_id is empty", vendor=VENDOR)
        offset = 0
        while True:
            response = yield self.status_request(settings, job, offset)
            page = self.decode_page(response, settings, job)
            task = find_task(page, job.import_task_id)
            if task is not None:
                return parse_import_task(task, job)
            offset += settings.page_size
            if not page.tasks or page.count is None or offset >= page.count:
                raise JobNotFoundError(
                    f"import task {job.describe()} was not found among {page.count or 0} tasks", vendor=VENDOR
                )

    def check_flow(self, settings: ISalesSettings) -> Flow[str]:
        url = query_url(settings.base_url, settings.check_vdn_id)
        response = yield signed_json_request(settings, url, query_body(0, 1, "0"))
        connected = f"Connected to CC-iSales at {settings.base_url} (AK/SK signature accepted)"
        try:
            check_response(response, "the blacklist import tasks", settings.transient_result_codes)
            parse_query_page(response.body, settings.transient_result_codes)
        except BadRequestError as err:
            return f"{connected}; the probe query was refused: {err}"
        return connected

    def console_url(self, settings: ISalesSettings, job: ISalesJob) -> str | None:
        return None

    def upload_flow(
        self, settings: ISalesSettings, vdn_id: int | str, file_name: str, content: str, campaign_id: str | None = None
    ) -> Flow[str]:
        """Upload a data file to the **simulator-only** import endpoint; return the import task id."""
        url = upload_url(settings.base_url, vdn_id, campaign_id)
        payload = {"fileName": file_name, "content": content}
        response = yield signed_json_request(settings, url, payload, idempotent=False)
        check_response(response, "the import endpoint", settings.transient_result_codes)
        return parse_upload_response(response.body)


CODEC = ISalesCodec()
"""The codec the spec names (``VendorClasses.codec``); hooks and operators use it typed."""
