"""Luminate Online requests and pure parsers: ``getAddressBookImportJobStatus`` and the import start.

The Client API servlet ``{site}/site/CRAddressBookAPI`` answers ``method=getAddressBookImportJobStatus``
(the vendor's Client API page) with ``jobStatus`` PENDING / SUCCESS / FAILURE and a list of ``events``.

Choices (configurable on the connection where it matters):

- Auth: a fixed token (extra ``sso_auth_token``, or ``auth_token`` for an ``[[S86]]`` token sent as
  ``auth``) or a constituent login/password. With a login, the flow calls ``CRConsAPI?method=login``
  and sends the returned token as ``sso_auth_token``. The token is a :class:`Shared` value of the
  process, keyed by a hash of site, API key and credentials; when Luminate rejects it (codes 3, 5
  or 7) the flow asks for it again once with ``refused=token`` and repeats the call.
- No credential in any URL: every call is a POST with a form body carrying ``api_key``, the token
  and the login credentials (Blackbaud's "getSingleSignOnToken" page: the single sign-on token
  "should be included as a POST parameter in all API requests"; the Client API method pages list
  GET and POST for every method used here).
- ``login`` is POST only and answers ``token``, ``JSESSIONID`` and ``routing_id``; the token lives
  for the logged-in session (the vendor's ``login`` page), so the shared value is the whole
  :class:`LuminateSession` and the calls using its token send ``Cookie: JSESSIONID=...`` back.
- Error codes (the vendor's public error-code page; the mapping is ours): 2, 3, 4, 5, 7 and 904 are
  credential errors (not retried); 6, 8 (more than one constituent matched), 9 and 10 (missing
  fields, older pages) bad requests; 907 job not found (the not-found grace
  applies); 908 "job not ready" keeps waiting; 909 contacts gone is a clear permanent error; 1 is
  transient; any other code is permanent and quoted. A failed login is a credential error whatever
  its code (except 1, 2 and 4).
- The status carries no counters and echoes no job id. With ``count_contacts`` (connection extra or
  sensor parameter) a SUCCESS is followed by ``getAddressBookImportContacts`` and ``total`` is the
  number of contacts returned.
- ``check_flow`` asks for the status of job 0: error 907 proves the key and the token.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    ImportStatusError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
    snippet,
)
from airflow_import_status.parsing import load_json_object, load_xml, local_name, optional_str, required
from airflow_import_status.responses import raise_for_http_status
from airflow_import_status.result import ImportResult, ImportState, unrecognized_status_warning
from airflow_import_status.transport import Flow, Fresh, HttpRequest, HttpResponse, Shared, TransportSettings
from airflow_import_status.vendors.luminate.spec import (
    ADDRESS_BOOK_SERVLET,
    API_VERSION,
    BAD_REQUEST_ERRORS,
    CONSTITUENT_SERVLET,
    CONTACTS_GONE,
    CONTACTS_METHOD,
    CREDENTIAL_ERRORS,
    JOB_NOT_FOUND,
    JOB_NOT_READY,
    LOGIN_METHOD,
    SITE_CREDENTIAL_CODES,
    START_METHOD,
    STATUS_METHOD,
    STATUS_TABLE,
    TOKEN_EXTRAS,
    TOKEN_REJECTED_CODES,
    UNABLE_TO_PROCESS,
    LuminateJob,
)
from airflow_import_status.vendors.spec import ConnectionFieldError, ConnectionValues, base_url

if TYPE_CHECKING:
    from lxml import etree

log = logging.getLogger(__name__)

VENDOR = "luminate"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_UNKNOWN_STATUS_HINT = "please report it: Luminate documents only PENDING, SUCCESS and FAILURE."
_TRUE = ("true", "1", "yes", "on")


@dataclass(frozen=True)
class LuminateError:
    """A Luminate ``errorResponse``: its code and message."""

    code: str
    message: str

    def describe(self) -> str:
        return f"Luminate error {self.code}" + (f": {self.message}" if self.message else "")


@dataclass(frozen=True)
class LuminateSettings:
    base_url: str
    """The site's base URL, e.g. ``https://secure2.convio.net/myorg`` (servlets are under ``/site``)."""
    api_key: str
    transport: TransportSettings
    auth_token: str | None = None
    token_param: str = "sso_auth_token"
    login_name: str | None = None
    login_password: str | None = None
    response_format: str = "json"
    suppress_response_codes: bool = False
    count_contacts: bool = False

    def secret_values(self) -> tuple[str, ...]:
        return tuple(value for value in (self.api_key, self.auth_token, self.login_password) if value)

    @property
    def uses_login(self) -> bool:
        return self.auth_token is None

    @property
    def session_key(self) -> tuple[str, str]:
        """Identity of the constituent session: site, API key and credentials (hashed)."""
        identity = "\0".join((self.base_url, self.api_key, self.login_name or "", self.login_password or ""))
        return (VENDOR, hashlib.sha256(identity.encode()).hexdigest())

    @property
    def token_hint(self) -> str:
        if self.uses_login:
            return f"Luminate refused the session token of constituent {self.login_name!r} even after a fresh login."
        return (
            f"The connection's fixed {self.token_param} token was refused: renew it, or set a constituent "
            "login and password so the hook can log in itself."
        )


# ----- pure parsing ---------------------------------------------------------------------------
def _xml_value(element: etree._Element) -> Any:
    """Convio's XML in the shape of its JSON: repeated children become lists, nil becomes None."""
    if element.get(XSI_NIL) in ("true", "1"):
        return None
    children = [child for child in element if isinstance(child.tag, str)]
    if not children:
        return (element.text or "").strip()
    value: dict[str, Any] = {}
    for child in children:
        name, item = local_name(child), _xml_value(child)
        if name not in value:
            value[name] = item
        elif isinstance(value[name], list):
            value[name].append(item)
        else:
            value[name] = [value[name], item]
    return value


def parse_envelope(body: bytes | str, content_type: str = "") -> tuple[str, Any]:
    """The root name and value of a Luminate response, JSON or XML (sniffed, not trusted)."""
    first = body.lstrip()[:1]
    if first in (b"<", "<") or ("xml" in content_type and first not in (b"{", "{")):
        root = load_xml(VENDOR, body)
        return local_name(root), _xml_value(root)
    data = load_json_object(VENDOR, body)
    if len(data) != 1:
        raise VendorPayloadError(f"expected one top-level response key, got: {snippet(body)!r}", vendor=VENDOR)
    ((name, value),) = data.items()
    return name, value


def envelope_payload(body: bytes | str, content_type: str, method: str) -> Any:
    """The value of ``{method}Response``, or a :class:`LuminateError` for an ``errorResponse``."""
    name, value = parse_envelope(body, content_type)
    if name == "errorResponse":
        if not isinstance(value, dict) or optional_str(value, "code") is None:
            raise VendorPayloadError(f"errorResponse without a code: {snippet(body)!r}", vendor=VENDOR)
        return LuminateError(str(value["code"]).strip(), optional_str(value, "message") or "")
    if name != f"{method}Response":
        raise VendorPayloadError(f"expected {method}Response, got {name}: {snippet(body)!r}", vendor=VENDOR)
    return value


def error_for(error: LuminateError, what: str, token_hint: str = "") -> ImportStatusError:
    """The typed error for a Luminate ``errorResponse`` about ``what``."""
    described = error.describe()
    if error.code == UNABLE_TO_PROCESS:
        return TransientVendorError(f"{what}: {described}", vendor=VENDOR)
    if error.code in CREDENTIAL_ERRORS:
        hint = f" {token_hint}" if error.code in TOKEN_REJECTED_CODES and token_hint else ""
        return AuthenticationError(f"{what}: {CREDENTIAL_ERRORS[error.code]} ({described}).{hint}", vendor=VENDOR)
    if error.code in BAD_REQUEST_ERRORS:
        return BadRequestError(f"{what}: {BAD_REQUEST_ERRORS[error.code]} ({described})", vendor=VENDOR)
    if error.code == JOB_NOT_FOUND:
        return JobNotFoundError(f"{what} was not found ({described})", vendor=VENDOR)
    if error.code == CONTACTS_GONE:
        return PermanentVendorError(
            f"the contacts of {what} are no longer available ({described}); the import itself succeeded. "
            "Turn count_contacts off to wait for the status only.",
            vendor=VENDOR,
        )
    return PermanentVendorError(f"{what}: {described}", vendor=VENDOR)


def _events(value: Any) -> list[str]:
    """``events.event``: a list of strings, a bare string for one event, empty or absent for none."""
    if value is None or value == "":
        return []
    if not isinstance(value, dict):
        raise VendorPayloadError(f"'events' is not an object: {snippet(str(value))!r}", vendor=VENDOR)
    events = value.get("event")
    if events is None or events == "":
        return []
    items = events if isinstance(events, list) else [events]
    for item in items:
        if not isinstance(item, str):
            raise VendorPayloadError(f"an event is not a string: {snippet(str(item))!r}", vendor=VENDOR)
    return list(items)


def job_status_result(payload: Any, job_id: str, token_hint: str = "") -> ImportResult:
    """The normalized result from a ``getAddressBookImportJobStatus`` payload (or its error)."""
    what = f"address book import job {job_id}"
    if isinstance(payload, LuminateError):
        if payload.code == JOB_NOT_READY:
            return ImportResult(
                vendor=VENDOR,
                job_id=job_id,
                state=ImportState.PENDING,
                vendor_status=None,
                message=payload.message or None,
                details={"events": [], "error_code": payload.code},
            )
        raise error_for(payload, what, token_hint)
    if not isinstance(payload, dict):
        raise VendorPayloadError(f"{STATUS_METHOD}Response is not an object: {snippet(str(payload))!r}", vendor=VENDOR)
    status = str(required(VENDOR, payload, "jobStatus")).strip()
    events = _events(payload.get("events"))
    state = STATUS_TABLE.classify(status)
    warnings = []
    if state is None:
        state = ImportState.PENDING
        warnings.append(unrecognized_status_warning(VENDOR, status, _UNKNOWN_STATUS_HINT))
    return ImportResult(
        vendor=VENDOR,
        job_id=job_id,
        state=state,
        vendor_status=status,
        message=events[-1] if events else None,
        details={"events": events},
        warnings=warnings,
    )


def parse_job_status(body: bytes | str, job_id: int | str, content_type: str = "") -> ImportResult:
    """Pure parser: a ``getAddressBookImportJobStatus`` body (JSON or XML) to the normalized result."""
    return job_status_result(envelope_payload(body, content_type, STATUS_METHOD), str(job_id))


def contacts_count(payload: Any) -> int:
    """The number of contacts in a ``getAddressBookImportContacts`` payload."""
    if payload is None or payload == "":
        return 0
    if not isinstance(payload, dict):
        raise VendorPayloadError(
            f"{CONTACTS_METHOD}Response is not an object: {snippet(str(payload))!r}", vendor=VENDOR
        )
    contacts = payload.get("contact")
    if contacts is None or contacts == "":
        return 0
    if isinstance(contacts, list):
        return len(contacts)
    if isinstance(contacts, dict):
        return 1
    raise VendorPayloadError(f"'contact' is neither an object nor a list: {snippet(str(contacts))!r}", vendor=VENDOR)


def with_contacts(result: ImportResult, payload: Any, token_hint: str = "") -> ImportResult:
    """A succeeded result with ``total`` from the contacts payload; still running while 908."""
    if isinstance(payload, LuminateError):
        if payload.code == JOB_NOT_READY:
            return dataclasses.replace(
                result,
                state=ImportState.RUNNING,
                warnings=[*result.warnings, f"status is {result.vendor_status} but the contacts are not ready yet"],
            )
        raise error_for(payload, f"the contacts of address book import job {result.job_id}", token_hint)
    return dataclasses.replace(result, total=contacts_count(payload))


@dataclass(frozen=True)
class LuminateSession:
    """A constituent's logged-in session: the ``login`` answer's ``token``, ``JSESSIONID`` and ``routing_id``.

    The token lives for the logged-in session (the vendor's Client API ``login`` page; its
    ``loginResponse`` carries ``token``, ``JSESSIONID`` and ``routing_id``), so the calls that use
    it send the session's ``JSESSIONID`` back as a cookie; the shared transport keeps no cookie
    jar, so the session carries it explicitly.
    """

    token: str
    jsessionid: str | None = None
    routing_id: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Cookie": f"JSESSIONID={self.jsessionid}"} if self.jsessionid else {}


def login_session(payload: Any, login_name: str | None) -> LuminateSession:
    """The session from a ``loginResponse``."""
    token = optional_str(payload, "token") if isinstance(payload, dict) else None
    if token is None:
        raise AuthenticationError(f"login of constituent {login_name!r} returned no token", vendor=VENDOR)
    return LuminateSession(token, optional_str(payload, "JSESSIONID"), optional_str(payload, "routing_id"))


class LuminateImportStart(NamedTuple):
    """What ``startOnlineAddressBookImport`` returns: the job id and the provider consent URL."""

    job_id: str
    oauth_url: str | None


# ----- requests and flows -------------------------------------------------------------------
def servlet_url(settings: LuminateSettings, servlet: str) -> str:
    return f"{settings.base_url}/site/{servlet}"


def common_params(settings: LuminateSettings, method: str) -> dict[str, str]:
    params = {
        "method": method,
        "api_key": settings.api_key,
        "v": API_VERSION,
        "response_format": settings.response_format,
    }
    if settings.suppress_response_codes:
        params["suppress_response_codes"] = "true"
    return params


def api_request(
    settings: LuminateSettings,
    method: str,
    params: Mapping[str, str],
    token: str,
    *,
    headers: Mapping[str, str] | None = None,
    idempotent: bool = True,
) -> HttpRequest:
    """A ``CRAddressBookAPI`` call: POST, every parameter (key and token too) in the form body."""
    return _api_request(settings, method, tuple(params.items()), token, tuple((headers or {}).items()), idempotent)


REQUESTS_KEPT = 4096
"""Built calls kept: a status poll sends the same call (same job, same session) every time."""


@functools.lru_cache(maxsize=REQUESTS_KEPT)
def _api_request(
    settings: LuminateSettings,
    method: str,
    params: tuple[tuple[str, str], ...],
    token: str,
    headers: tuple[tuple[str, str], ...],
    idempotent: bool,
) -> HttpRequest:
    form = {**common_params(settings, method), **dict(params), settings.token_param: token}
    url = servlet_url(settings, ADDRESS_BOOK_SERVLET)
    return HttpRequest.with_form("POST", url, form, headers=dict(headers), idempotent=idempotent)


def login_request(settings: LuminateSettings) -> HttpRequest:
    """``CRConsAPI?method=login`` (POST only; the credentials go in the form body)."""
    form = {
        **common_params(settings, LOGIN_METHOD),
        "user_name": settings.login_name or "",
        "password": settings.login_password or "",
    }
    return HttpRequest.with_form("POST", servlet_url(settings, CONSTITUENT_SERVLET), form)


def read_response(response: HttpResponse, method: str, secrets: tuple[str, ...]) -> Any:
    """The payload or :class:`LuminateError` of one call (HTTP 403 or, suppressed, 200); other HTTP errors raise."""
    success = 200 <= response.status < 300
    try:
        payload = envelope_payload(response.body, response.content_type, method)
    except VendorPayloadError:
        if success:
            raise
        payload = None
    if isinstance(payload, LuminateError):
        return LuminateError(payload.code, snippet(payload.message, secrets))
    if not success:
        scrubbed = HttpResponse(response.status, response.headers, snippet(response.body, secrets).encode(), "")
        raise_for_http_status(VENDOR, scrubbed, f"the {method} call")
    return payload


def decode_login(response: HttpResponse, settings: LuminateSettings) -> Fresh[LuminateSession]:
    """Pure parser of a ``login`` answer: the session (kept until Luminate refuses its token)."""
    payload = read_response(response, LOGIN_METHOD, settings.secret_values())
    if isinstance(payload, LuminateError):
        if payload.code == UNABLE_TO_PROCESS or payload.code in SITE_CREDENTIAL_CODES:
            raise error_for(payload, "login")
        raise AuthenticationError(
            f"login of constituent {settings.login_name!r} failed ({payload.describe()})", vendor=VENDOR
        )
    session = login_session(payload, settings.login_name)
    return Fresh(session, secrets=tuple(value for value in (session.token, session.jsessionid) if value))


def login_shared(settings: LuminateSettings, refused: LuminateSession | None = None) -> Shared[LuminateSession]:
    """The process-wide login session of this site, key and constituent (one login in flight)."""
    key, request = _login(settings)
    return Shared(key, request, lambda response: decode_login(response, settings), refused=refused)


LOGINS_KEPT = 256
"""Login requests kept, one per connection's settings: built once, though sent once per session only."""


@functools.lru_cache(maxsize=LOGINS_KEPT)
def _login(settings: LuminateSettings) -> tuple[tuple[str, str], HttpRequest]:
    return settings.session_key, login_request(settings)


def call_flow(
    settings: LuminateSettings, method: str, params: Mapping[str, str], *, idempotent: bool = True
) -> Flow[Any]:
    """One authenticated ``CRAddressBookAPI`` call; a rejected login session is renewed once."""
    if settings.auth_token is not None:
        response = yield api_request(settings, method, params, settings.auth_token, idempotent=idempotent)
        return read_response(response, method, settings.secret_values())
    session: LuminateSession = yield login_shared(settings)
    response = yield api_request(
        settings, method, params, session.token, headers=session.headers(), idempotent=idempotent
    )
    payload = read_response(response, method, (*settings.secret_values(), session.token))
    if isinstance(payload, LuminateError) and payload.code in TOKEN_REJECTED_CODES:
        log.info("Luminate rejected the session token (%s); logging in again", payload.describe())
        session = yield login_shared(settings, refused=session)
        response = yield api_request(
            settings, method, params, session.token, headers=session.headers(), idempotent=idempotent
        )
        payload = read_response(response, method, (*settings.secret_values(), session.token))
    return payload


def _wants_count(settings: LuminateSettings, job: LuminateJob) -> bool:
    return settings.count_contacts if job.count_contacts is None else job.count_contacts


class LuminateCodec:
    """Luminate's side of the shared flow driver."""

    def settings(self, values: ConnectionValues) -> LuminateSettings:
        conn = values.conn_id
        tokens = {param: values[name] for param, name in TOKEN_EXTRAS.items() if values[name]}
        login, password = values["login"], values["password"]
        if len(tokens) > 1:
            raise ConnectionFieldError(
                f"connection {conn!r}: set either extra 'sso_auth_token' or 'auth_token', not both"
            )
        if tokens and (login or password):
            raise ConnectionFieldError(
                f"connection {conn!r}: set either a fixed token (extra 'sso_auth_token'/'auth_token') "
                "or a login and password, not both"
            )
        if not tokens and not (login and password):
            raise ConnectionFieldError(
                f"connection {conn!r} needs a fixed token (extra 'sso_auth_token' or 'auth_token') "
                "or a constituent login and password"
            )
        token_param, auth_token = next(iter(tokens.items()), ("sso_auth_token", None))
        return LuminateSettings(
            base_url=base_url(values).removesuffix("/site"),
            api_key=values["api_key"],
            transport=values.transport(),
            auth_token=auth_token,
            token_param=token_param,
            login_name=None if tokens else login,
            login_password=None if tokens else password,
            response_format=values["response_format"],
            suppress_response_codes=values["suppress_response_codes"],
            count_contacts=values["count_contacts"],
        )

    def transport(self, settings: LuminateSettings) -> TransportSettings:
        return settings.transport

    def decode_status(self, response: HttpResponse, settings: LuminateSettings, job: LuminateJob) -> ImportResult:
        payload = read_response(response, STATUS_METHOD, settings.secret_values())
        return job_status_result(payload, job.job_id, settings.token_hint)

    def status_flow(self, settings: LuminateSettings, job: LuminateJob) -> Flow[ImportResult]:
        """The job's status, then (optionally, on SUCCESS) its contact count."""
        payload = yield from call_flow(settings, STATUS_METHOD, {"import_job_id": job.job_id})
        result = job_status_result(payload, job.job_id, settings.token_hint)
        if result.state is ImportState.SUCCEEDED and _wants_count(settings, job):
            payload = yield from call_flow(settings, CONTACTS_METHOD, {"import_job_id": job.job_id})
            result = with_contacts(result, payload, settings.token_hint)
        return result

    def check_flow(self, settings: LuminateSettings) -> Flow[str]:
        payload = yield from call_flow(settings, STATUS_METHOD, {"import_job_id": "0"})
        if isinstance(payload, LuminateError) and payload.code not in (JOB_NOT_FOUND, JOB_NOT_READY):
            raise error_for(payload, "test call", settings.token_hint)
        how = f"constituent {settings.login_name!r}" if settings.uses_login else f"a fixed {settings.token_param}"
        return f"Connected to Luminate Online at {settings.base_url} as {how}"

    def console_url(self, settings: LuminateSettings, job: LuminateJob) -> str | None:
        return None

    def start_import_flow(
        self, settings: LuminateSettings, import_source: str, callback_url: str
    ) -> Flow[LuminateImportStart]:
        """``startOnlineAddressBookImport``: the new job id and the consent URL for the constituent."""
        params = {"import_source": import_source, "callback_url": callback_url}
        payload = yield from call_flow(settings, START_METHOD, params, idempotent=False)
        if isinstance(payload, LuminateError):
            raise error_for(payload, f"starting an address book import from {import_source}", settings.token_hint)
        if not isinstance(payload, dict):
            raise VendorPayloadError(
                f"{START_METHOD}Response is not an object: {snippet(str(payload))!r}", vendor=VENDOR
            )
        return LuminateImportStart(str(required(VENDOR, payload, "jobId")), optional_str(payload, "oauthUrl"))


CODEC = LuminateCodec()
"""The codec the spec names (``VendorClasses.codec``); hooks and operators use it typed."""
