"""MailUp import-process status over SOAP: ``WSMailUpImport.GetProcessDetails`` through zeep.

Everything MailUp-specific lives here: the settings, the ``Authentication`` SOAP header, the
WSDL cache, zeep's sync and async transports, the ReturnCode table and the pure parser of the
"MailUp message" every method returns (an XML document inside an ``xs:string``).

The flows are sans-I/O like every vendor's, but they yield :class:`SoapCall` objects (an
operation name and its parameters) instead of HTTP requests; :meth:`MailUpHook.send` performs
them with zeep's ``Client`` and :meth:`MailUpHook.asend` with zeep's ``AsyncClient``.

WSDL handling: the WSDL (``{console_url}/Services/WSMailUpImport.asmx?WSDL``) is fetched and
parsed into a zeep ``Document`` once per process and target (WSDL URL, header namespace, TLS
settings), then every zeep client is built from that cached document. zeep's own
``AsyncTransport`` loads WSDLs with a *blocking* ``httpx.Client`` and creates a new
``httpx.AsyncClient`` (new SSL context) per transport, so the async path fetches the WSDL with
the shared per-loop ``httpx.AsyncClient``, parses it in a worker thread, and runs operations
through a small ``AsyncTransport`` subclass over that same shared client (never closed by zeep).

Choices where the vendor's docs are silent (configurable on the connection where it matters):

- Header namespace ``http://ws.mailupnet.it/`` with ``encType`` ``UTF-8``; extra
  ``soap_namespace`` (``http://tempuri.org/`` for older accounts, which then send no encType)
  and extra ``enc_type`` (empty string: omit it).
- Dates ``dd/MM/yyyy HH.mm.ss`` are the account's local time: extra ``timezone``, default
  ``Europe/Rome``. An ambiguous time at the autumn DST change is read as the first occurrence.
- The operation endpoint is the WSDL's ``soap:address`` (zeep's default).
- Negative ReturnCodes: -501 (idProcess not found) is "job not found" (the shared not-found grace
  applies); list errors -100..-102 are bad input; -1000..-1014 are bad credentials (never
  retried); -500 (unrecognized error), SOAP faults and HTTP 5xx are transient; any other negative
  code fails at once, quoting the code.
- ``StatusCode`` 1 pending, 2 running, 3 succeeded, 4 failed; any other value keeps waiting with
  a warning. MailUp reports no progress percentage.
- ``test_connection`` calls ``GetProcessDetails`` for list 0 / process 0: an authentication
  ReturnCode means bad credentials, any other answer proves the credentials were accepted.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
import weakref
import zoneinfo
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

import httpx
import requests
import zeep
import zeep.exceptions
from lxml import etree
from lxml.builder import ElementMaker
from requests.structures import CaseInsensitiveDict
from zeep.transports import AsyncTransport, Transport
from zeep.wsdl import Document
from zeep.wsdl.utils import etree_to_string

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
from airflow_import_status.hooks._legacy import (
    Flow,
    HttpResponse,
    ImportStatusHook,
    TransportSettings,
    base_url_of,
    connection_extra,
    raise_for_http_status,
    shared_async_client,
)
from airflow_import_status.parsing import MAX_PAYLOAD_BYTES, load_xml, local_name, optional_int, xml_children_text
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

VENDOR = "mailup"
DEFAULT_TIMEZONE = "Europe/Rome"
DEFAULT_SOAP_NAMESPACE = "http://ws.mailupnet.it/"
LEGACY_SOAP_NAMESPACE = "http://tempuri.org/"
DEFAULT_ENC_TYPE = "UTF-8"
WSDL_PATH = "/Services/WSMailUpImport.asmx?WSDL"
DATE_FORMAT = "%d/%m/%Y %H.%M.%S"

STATUS_TABLE = StatusTable(
    pending=frozenset({"1"}), running=frozenset({"2"}), succeeded=frozenset({"3"}), failed=frozenset({"4"})
)
_CONFIGURE_HINT = "please report it: MailUp documents StatusCode 1 (queued), 2 (running), 3 (completed), 4 (failed)."

RETURN_CODE_MEANINGS: dict[int, str] = {
    -100: "list check failed: unrecognized error",
    -101: "list verification failed (idList and listGUID do not match an existing list)",
    -102: "listGUID is not a well-formed GUID",
    -500: "unrecognized error",
    -501: "idProcess not found",
    -1000: "authentication failed: unrecognized error",
    -1001: "authentication failed: the account is not valid",
    -1002: "authentication failed: the password is not valid",
    -1003: "authentication failed: the account is suspended",
    -1011: "authentication failed: this IP address is not registered for the account",
    -1013: "authentication failed: authentication data are missing",
}
AUTH_RETURN_CODES = range(-1014, -999)
LIST_RETURN_CODES = range(-102, -99)

ZEEP_SETTINGS = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
"""Parse WSDLs and replies with DTDs, entities and external imports refused."""

_CHANNEL_COUNTERS = ("NewEmail", "NewMobile", "ExistingEmail", "ExistingMobile", "OptOutEmail", "OptOutMobile")
_COUNTER_NAMES = ("TotalContacts", *_CHANNEL_COUNTERS)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_TRUE_FALSE = {"true": True, "false": False}


# ----- settings ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MailUpSettings:
    console_url: str
    user: str
    password: str
    timezone: str = DEFAULT_TIMEZONE
    soap_namespace: str = DEFAULT_SOAP_NAMESPACE
    enc_type: str | None = DEFAULT_ENC_TYPE
    transport: TransportSettings = field(default_factory=TransportSettings)

    def secret_values(self) -> tuple[str, ...]:
        return (self.password,)

    @property
    def wsdl_url(self) -> str:
        return f"{self.console_url}{WSDL_PATH}"

    @property
    def wsdl_target(self) -> WsdlTarget:
        return WsdlTarget(self.wsdl_url, self.soap_namespace, self.transport)


def settings_from_connection(conn: Connection) -> MailUpSettings:
    """MailUp settings (host = console URL, login = API user, password = API password)."""
    extra = connection_extra(conn, VENDOR)
    if not conn.login or not conn.password:
        raise PermanentVendorError(
            f"connection {conn.conn_id!r} needs the MailUp API user (login) and password", vendor=VENDOR
        )
    console_url = base_url_of(conn)
    if not console_url.startswith(("https://", "http://")):
        raise PermanentVendorError(
            f"connection {conn.conn_id!r}: the console URL must be http(s), got {console_url!r}", vendor=VENDOR
        )
    timezone = str(extra.get("timezone") or DEFAULT_TIMEZONE)
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PermanentVendorError(
            f"connection {conn.conn_id!r}: unknown timezone {timezone!r} (use an IANA name such as 'Europe/Rome')",
            vendor=VENDOR,
        ) from None
    namespace = str(extra.get("soap_namespace") or DEFAULT_SOAP_NAMESPACE)
    enc_type = extra.get("enc_type")
    if enc_type is None:
        enc_type = "" if namespace == LEGACY_SOAP_NAMESPACE else DEFAULT_ENC_TYPE
    return MailUpSettings(
        console_url=console_url,
        user=conn.login,
        password=conn.password,
        timezone=timezone,
        soap_namespace=namespace,
        enc_type=str(enc_type) or None,
        transport=TransportSettings.from_extra(extra),
    )


def authentication_header(settings: MailUpSettings) -> etree._Element:
    """The ``Authentication`` SOAP header {User, Password[, encType]} in the account's namespace."""
    maker = ElementMaker(namespace=settings.soap_namespace, nsmap={"ws": settings.soap_namespace})
    children = [maker.User(settings.user), maker.Password(settings.password)]
    if settings.enc_type:
        children.append(maker.encType(settings.enc_type))
    return maker.Authentication(*children)


# ----- requests of the flows ----------------------------------------------------------------------
@dataclass(frozen=True)
class SoapCall:
    """One WSMailUpImport operation, as yielded by a flow; the hook answers with the returned string."""

    operation: str
    params: Mapping[str, Any]


def _int_param(name: str, value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise BadRequestError(f"{name} must be an integer, got {value!r}", vendor=VENDOR) from None


def process_call(operation: str, list_id: Any, list_guid: Any, process_id: Any) -> SoapCall:
    """``GetProcessDetails`` / ``StartProcess``: both take (idList, listGUID, idProcess)."""
    return SoapCall(
        operation,
        {
            "idList": _int_param("list_id", list_id),
            "listGUID": str(list_guid),
            "idProcess": _int_param("process_id", process_id),
        },
    )


def subscribers_xml(contacts: list[Mapping[str, Any]]) -> str:
    """The ``xmlDoc`` of NewImportProcess: ``<subscribers><subscriber email=... Name=...>``."""
    rows = []
    for contact in contacts:
        attributes = " ".join(f"{name}={quoteattr(str(value))}" for name, value in contact.items())
        rows.append(f"<subscriber {attributes}></subscriber>")
    return f"<subscribers>{''.join(rows)}</subscribers>"


def new_import_call(list_id: Any, list_guid: Any, contacts: list[Mapping[str, Any]]) -> SoapCall:
    """``NewImportProcess`` for email subscribers, subscribed at once, no confirmation request."""
    return SoapCall(
        "NewImportProcess",
        {
            "idList": _int_param("list_id", list_id),
            "listGUID": str(list_guid),
            "xmlDoc": subscribers_xml(contacts),
            "idGroup": 0,
            "importType": 1,
            "mobileInputType": 2,
            "asPending": False,
            "ConfirmEmail": False,
            "asOptOut": False,
            "forceOptIn": False,
            "replaceGroups": False,
            "idConfirmNL": 0,
        },
    )


# ----- pure parsing -------------------------------------------------------------------------------
def mailup_body(message: str | bytes | None) -> etree._Element:
    """The ``<mailupBody>`` of a MailUp message (a str may carry a windows-1252 XML declaration)."""
    if message is None or not message.strip():
        raise VendorPayloadError("the operation returned no MailUp message", vendor=VENDOR)
    if isinstance(message, str):
        # zeep already decoded the string; a leftover encoding declaration would mislead lxml.
        message = _XML_DECLARATION.sub("", message, count=1)
    root = load_xml(VENDOR, message)
    if local_name(root) != "mailupMessage":
        raise VendorPayloadError(f"expected a <mailupMessage>, got <{local_name(root)}>", vendor=VENDOR)
    body = next((child for child in root if isinstance(child.tag, str) and local_name(child) == "mailupBody"), None)
    if body is None:
        raise VendorPayloadError(f"MailUp message without <mailupBody>: {snippet(message)!r}", vendor=VENDOR)
    return body


def raise_for_return_code(code: int, operation: str, detail: str = "") -> None:
    """Raise the typed error a negative ReturnCode stands for; return for zero or positive codes."""
    if code >= 0:
        return
    meaning = RETURN_CODE_MEANINGS.get(code) or (
        "authentication failed" if code in AUTH_RETURN_CODES else "error not documented for this method"
    )
    message = f"{operation} returned ReturnCode {code}: {meaning}" + (f" ({detail})" if detail else "")
    if code in AUTH_RETURN_CODES:
        raise AuthenticationError(message, vendor=VENDOR)
    if code == -501:
        raise JobNotFoundError(message, vendor=VENDOR)
    if code in LIST_RETURN_CODES:
        raise BadRequestError(message, vendor=VENDOR)
    if code == -500:
        raise TransientVendorError(message, vendor=VENDOR)
    raise PermanentVendorError(message, vendor=VENDOR)


def optional_int_code(text: str | None) -> int | None:
    """A ReturnCode (negative allowed) or ``None`` when it is not a plain integer."""
    text = (text or "").strip()
    return int(text) if re.fullmatch(r"-?[0-9]{1,9}", text) else None


def return_code(body: etree._Element, operation: str) -> int:
    """The message's ReturnCode, after raising for a negative one."""
    fields = xml_children_text(body)
    code = optional_int_code(fields.get("ReturnCode"))
    if code is None:
        raise VendorPayloadError(
            f"{operation}: ReturnCode is not an integer: {snippet(fields.get('ReturnCode'))!r}", vendor=VENDOR
        )
    detail = "; ".join(f"{name}={value.strip()}" for name, value in fields.items() if name != "ReturnCode" and value)
    raise_for_return_code(code, operation, snippet(detail))
    return code


def parse_return_code(message: str | bytes | None, operation: str) -> int:
    """Pure parser for methods that answer with a ReturnCode only (NewImportProcess, StartProcess)."""
    return return_code(mailup_body(message), operation)


def _optional_bool(fields: Mapping[str, str | None], name: str) -> bool | None:
    value = (fields.get(name) or "").strip()
    if not value:
        return None
    if value.lower() not in _TRUE_FALSE:
        raise VendorPayloadError(f"field {name!r} is not True/False: {snippet(value)!r}", vendor=VENDOR)
    return _TRUE_FALSE[value.lower()]


def parse_mailup_date(value: str | None, name: str, timezone: str = DEFAULT_TIMEZONE) -> str | None:
    """``dd/MM/yyyy HH.mm.ss`` in the account's timezone to ISO 8601 UTC (``None`` when empty)."""
    if value is None or not value.strip():
        return None
    try:
        local = datetime.strptime(value.strip(), DATE_FORMAT)
    except ValueError:
        raise VendorPayloadError(
            f"field {name!r} is not a dd/MM/yyyy HH.mm.ss date: {snippet(value)!r}", vendor=VENDOR
        ) from None
    return to_utc_iso(local.replace(tzinfo=zoneinfo.ZoneInfo(timezone)))


def parse_process_details(message: str | bytes | None, timezone: str = DEFAULT_TIMEZONE) -> ImportResult:
    """Pure parser: the string GetProcessDetails returns to the normalized result."""
    body = mailup_body(message)
    return_code(body, "GetProcessDetails")
    process = next(
        (child for child in body if isinstance(child.tag, str) and local_name(child) == "ImportProcess"), None
    )
    if process is None or not (process.get("idProcess") or "").strip():
        raise VendorPayloadError(
            f"GetProcessDetails answered without <ImportProcess idProcess=...>: {snippet(etree.tostring(body))!r}",
            vendor=VENDOR,
        )
    fields = xml_children_text(process)
    counter = {name: optional_int(VENDOR, fields, name) for name in _COUNTER_NAMES}
    status = (fields.get("StatusCode") or "").strip() or None
    state = STATUS_TABLE.classify(status)
    warnings = []
    if state is None:
        state = ImportState.PENDING
        warnings.append(unrecognized_status_warning(VENDOR, status, _CONFIGURE_HINT))
    inserted = sum_counters(counter["NewEmail"], counter["NewMobile"])
    updated = sum_counters(counter["ExistingEmail"], counter["ExistingMobile"])
    return ImportResult(
        vendor=VENDOR,
        job_id=process.get("idProcess").strip(),
        state=state,
        vendor_status=status,
        total=counter["TotalContacts"],
        imported=sum_counters(inserted, updated),
        inserted=inserted,
        updated=updated,
        opted_out=sum_counters(counter["OptOutEmail"], counter["OptOutMobile"]),
        started_at=parse_mailup_date(fields.get("StartDate"), "StartDate", timezone),
        finished_at=parse_mailup_date(fields.get("EndDate"), "EndDate", timezone),
        message=(
            "MailUp reports the import failed (StatusCode 4); the console's Import Status page has the details"
            if state is ImportState.FAILED
            else None
        ),
        details={
            **{name: counter[name] for name in _CHANNEL_COUNTERS},
            "IsRunning": _optional_bool(fields, "IsRunning"),
            "ConfirmationEmail": _optional_bool(fields, "ConfirmationEmail"),
            "ConfirmationSent": _optional_bool(fields, "ConfirmationSent"),
        },
        warnings=warnings,
    )


# ----- HTTP under zeep ------------------------------------------------------------------------------
def check_http_status(status: int, headers: Mapping[str, str], body: bytes, url: str, what: str) -> None:
    """Typed errors for HTTP answers zeep should not see; SOAP faults (HTTP 500) go on to zeep."""
    if 200 <= status < 300 or (status == 500 and b"Fault" in body):
        return
    if status == 404:
        raise PermanentVendorError(f"HTTP 404: no {what} at {url.split('?')[0]}; check the console URL", vendor=VENDOR)
    raise_for_http_status(VENDOR, HttpResponse(status, headers, body, url), what)


def _network_error(url: str, err: Exception) -> TransientVendorError:
    kind = "timed out" if isinstance(err, (requests.Timeout, httpx.TimeoutException)) else "failed"
    return TransientVendorError(
        f"request to {url.split('?')[0]} {kind}: {type(err).__name__}: {snippet(str(err))}", vendor=VENDOR
    )


def _too_large() -> VendorPayloadError:
    return VendorPayloadError(f"response exceeds the {MAX_PAYLOAD_BYTES}-byte cap", vendor=VENDOR)


def _requests_get(session: requests.Session, url: str, transport: TransportSettings, what: str) -> bytes:
    try:
        with session.get(
            url,
            timeout=transport.timeout,
            verify=(transport.ca_bundle or True) if transport.verify else False,
            stream=True,
        ) as response:
            body = _read_capped(response.iter_content(64 * 1024))
            check_http_status(
                response.status_code, {k.lower(): v for k, v in response.headers.items()}, body, url, what
            )
            return body
    except requests.RequestException as err:
        raise _network_error(url, err) from None


def _read_capped(chunks: Iterator[bytes]) -> bytes:
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > MAX_PAYLOAD_BYTES:
            raise _too_large()
    return bytes(body)


async def _afetch(
    client: httpx.AsyncClient, method: str, url: str, what: str, **kwargs: Any
) -> tuple[httpx.Response, bytes]:
    """One request over the shared async client: capped body, typed network and HTTP errors."""
    try:
        async with client.stream(method, url, **kwargs) as reply:
            body = bytearray()
            async for chunk in reply.aiter_bytes():
                body += chunk
                if len(body) > MAX_PAYLOAD_BYTES:
                    raise _too_large()
    except httpx.HTTPError as err:
        raise _network_error(url, err) from None
    check_http_status(reply.status_code, dict(reply.headers), bytes(body), url, what)
    return reply, bytes(body)


class _OfflineTransport(Transport):
    """The transport a cached WSDL document keeps: it refuses to load anything more."""

    def __init__(self) -> None:
        self.cache = None
        self._close_session = False
        self.logger = logging.getLogger(__name__)

    def load(self, url: str) -> bytes:
        raise VendorPayloadError(f"the MailUp WSDL refers to an external document {url!r}", vendor=VENDOR)


class _RequestsSoapTransport(_OfflineTransport):
    """zeep's sync transport over the hook's ``requests`` session: capped bodies, typed errors."""

    def __init__(self, session: requests.Session, transport: TransportSettings) -> None:
        super().__init__()
        self.session = session
        self.transport = transport

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        transport = self.transport
        try:
            with self.session.post(
                address,
                data=message,
                headers=headers,
                timeout=transport.timeout,
                verify=(transport.ca_bundle or True) if transport.verify else False,
                stream=True,
            ) as response:
                response._content = _read_capped(response.iter_content(64 * 1024))
        except requests.RequestException as err:
            raise _network_error(address, err) from None
        headers = {k.lower(): v for k, v in response.headers.items()}
        check_http_status(response.status_code, headers, response.content, address, "MailUp import service")
        return response


class _HttpxSoapTransport(_OfflineTransport, AsyncTransport):
    """zeep's async transport over a shared ``httpx.AsyncClient`` it neither creates nor closes.

    zeep's own ``AsyncTransport.__init__`` would build a blocking ``httpx.Client`` for WSDLs and a
    new ``httpx.AsyncClient`` per transport (and overwrite the client's headers), so it is not called.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__()
        self.client = client

    async def aclose(self) -> None:
        """The shared client belongs to the event loop's users, not to one zeep client."""

    async def post_xml(self, address: str, envelope: etree._Element, headers: dict[str, str]) -> requests.Response:
        reply, body = await _afetch(
            self.client, "POST", address, "MailUp import service", content=etree_to_string(envelope), headers=headers
        )
        response = requests.Response()
        response._content = body
        response.status_code = reply.status_code
        response.headers = CaseInsensitiveDict(reply.headers)
        response.encoding = reply.encoding
        response.url = address
        return response


# ----- the WSDL cache ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WsdlTarget:
    """What a cached WSDL document is keyed on."""

    wsdl_url: str
    soap_namespace: str
    transport: TransportSettings


_DOCUMENTS: dict[WsdlTarget, Document] = {}
_DOCUMENTS_LOCK = threading.Lock()
_LOADING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[WsdlTarget, asyncio.Task[Document]]] = (
    weakref.WeakKeyDictionary()
)


def parse_wsdl(content: bytes, wsdl_url: str) -> Document:
    """A zeep document from the WSDL's bytes (no network: imports are refused)."""
    try:
        document = Document(io.BytesIO(content), _OfflineTransport(), base=wsdl_url, settings=ZEEP_SETTINGS)
    except ImportStatusError:
        raise
    except (zeep.exceptions.Error, etree.LxmlError, ValueError, KeyError) as err:
        raise VendorPayloadError(
            f"the WSDL at {wsdl_url} does not parse ({type(err).__name__}: {snippet(str(err))}): {snippet(content)!r}",
            vendor=VENDOR,
        ) from None
    operations = {
        name for service in document.services.values() for port in service.ports.values() for name in port.binding.all()
    }
    if "GetProcessDetails" not in operations:
        raise VendorPayloadError(
            f"the document at {wsdl_url} is not the WSMailUpImport WSDL (no GetProcessDetails service): "
            f"{snippet(content)!r}",
            vendor=VENDOR,
        )
    return document


def wsdl_document(target: WsdlTarget, session: requests.Session) -> Document:
    """The parsed WSDL, fetched with blocking I/O on first use, then from the process cache."""
    document = _DOCUMENTS.get(target)
    if document is None:
        with _DOCUMENTS_LOCK:
            document = _DOCUMENTS.get(target)
            if document is None:
                content = _requests_get(session, target.wsdl_url, target.transport, "MailUp WSDL")
                document = _DOCUMENTS[target] = parse_wsdl(content, target.wsdl_url)
    return document


async def awsdl_document(target: WsdlTarget) -> Document:
    """The parsed WSDL without blocking the loop: one async fetch per loop and target, parsed in a thread."""
    document = _DOCUMENTS.get(target)
    if document is not None:
        return document
    loop = asyncio.get_running_loop()
    loading = _LOADING.setdefault(loop, {})
    task = loading.get(target)
    if task is None:
        task = loading[target] = loop.create_task(_aload_document(target))
        task.add_done_callback(lambda _: loading.pop(target, None))
    return await asyncio.shield(task)


async def _aload_document(target: WsdlTarget) -> Document:
    _, body = await _afetch(
        shared_async_client(target.transport, target.wsdl_url), "GET", target.wsdl_url, "MailUp WSDL"
    )
    document = await asyncio.to_thread(parse_wsdl, body, target.wsdl_url)
    return _DOCUMENTS.setdefault(target, document)  # atomic; the lock may be held by a blocking sync fetch


def forget_wsdl_documents() -> None:
    """Drop every cached WSDL (the next call fetches it again), e.g. after MailUp changed its WSDL."""
    with _DOCUMENTS_LOCK:
        _DOCUMENTS.clear()


# ----- zeep errors ----------------------------------------------------------------------------------
@contextmanager
def zeep_errors(operation: str) -> Iterator[None]:
    """Turn what zeep raises into the provider's typed errors (never a zeep traceback)."""
    try:
        yield
    except ImportStatusError:
        raise
    except zeep.exceptions.Fault as err:
        code = f" {err.code}" if err.code else ""
        raise TransientVendorError(f"{operation}: SOAP fault{code}: {snippet(err.message)}", vendor=VENDOR) from None
    except zeep.exceptions.ValidationError as err:
        raise BadRequestError(
            f"{operation}: parameters refused by the WSDL: {snippet(str(err))}", vendor=VENDOR
        ) from None
    except (TypeError, AttributeError, ValueError, LookupError) as err:
        raise VendorPayloadError(
            f"{operation}: SOAP answer does not fit the MailUp WSDL ({type(err).__name__}: {snippet(str(err))})",
            vendor=VENDOR,
        ) from None
    except (zeep.exceptions.Error, etree.LxmlError) as err:
        raise VendorPayloadError(f"{operation}: unreadable SOAP answer: {snippet(str(err))}", vendor=VENDOR) from None


# ----- the hook -------------------------------------------------------------------------------------
_CREDENTIALS_PROBE = process_call("GetProcessDetails", 0, "00000000-0000-0000-0000-000000000000", 0)


class MailUpHook(ImportStatusHook[MailUpSettings]):
    """Read MailUp import processes through the WSMailUpImport SOAP service (zeep).

    Connection: host = console URL (e.g. ``https://a1b2c3.s99.it``), login = API user, password =
    API password; extras ``timezone`` (default Europe/Rome), ``soap_namespace`` (default
    ``http://ws.mailupnet.it/``; ``http://tempuri.org/`` for older accounts), ``enc_type``,
    ``timeout``, ``verify_ssl``, ``ca_bundle``.
    """

    vendor = VENDOR
    conn_name_attr = "mailup_conn_id"
    default_conn_name = "mailup_default"
    conn_type = "mailup"
    hook_name = "MailUp"

    def __init__(self, mailup_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=mailup_conn_id, **kwargs)
        self.mailup_conn_id = mailup_conn_id
        self._zeep_client: zeep.Client | None = None

    @classmethod
    def parse_connection(cls, conn: Connection) -> MailUpSettings:
        return settings_from_connection(conn)

    @classmethod
    def job_label(cls, job: Mapping[str, Any]) -> str:
        return f"{job['process_id']} of list {job['list_id']}"

    def status_flow(self, settings: MailUpSettings, job: Mapping[str, Any]) -> Flow[ImportResult]:
        message = yield process_call("GetProcessDetails", job["list_id"], job["list_guid"], job["process_id"])
        return parse_process_details(message, settings.timezone)

    def check_flow(self, settings: MailUpSettings) -> Flow[str]:
        message = yield _CREDENTIALS_PROBE
        with suppress(JobNotFoundError, BadRequestError):  # no such list/process, but the credentials passed
            parse_return_code(message, _CREDENTIALS_PROBE.operation)
        return f"Connected to MailUp at {settings.console_url} as {settings.user}"

    def start_import_flow(
        self, settings: MailUpSettings, list_id: Any, list_guid: Any, contacts: list[Mapping[str, Any]]
    ) -> Flow[int]:
        """NewImportProcess, then StartProcess; return the new idProcess."""
        message = yield new_import_call(list_id, list_guid, contacts)
        process_id = parse_return_code(message, "NewImportProcess")
        if process_id <= 0:
            raise VendorPayloadError(f"NewImportProcess returned no idProcess (ReturnCode {process_id})", vendor=VENDOR)
        message = yield process_call("StartProcess", list_id, list_guid, process_id)
        parse_return_code(message, "StartProcess")
        return process_id

    # ----- zeep transport ---------------------------------------------------------------------------
    def send(self, request: SoapCall, settings: MailUpSettings) -> Any:
        """Perform one SOAP call with zeep's sync ``Client`` (built once per hook on the cached WSDL)."""
        if self._session is None:
            self._session = requests.Session()
        with zeep_errors(request.operation):
            if self._zeep_client is None:
                self._zeep_client = zeep.Client(
                    wsdl_document(settings.wsdl_target, self._session),
                    transport=_RequestsSoapTransport(self._session, settings.transport),
                    settings=ZEEP_SETTINGS,
                )
            operation = getattr(self._zeep_client.service, request.operation)
            return operation(**request.params, _soapheaders=[authentication_header(settings)])

    async def asend(self, request: SoapCall, settings: MailUpSettings) -> Any:
        """Perform one SOAP call with zeep's ``AsyncClient`` over the loop's shared httpx client."""
        with zeep_errors(request.operation):
            client = zeep.AsyncClient(
                await awsdl_document(settings.wsdl_target),
                transport=_HttpxSoapTransport(shared_async_client(settings.transport, settings.wsdl_url)),
                settings=ZEEP_SETTINGS,
            )
            operation = getattr(client.service, request.operation)
            return await operation(**request.params, _soapheaders=[authentication_header(settings)])

    # ----- public API -------------------------------------------------------------------------------
    def console_url(self, job: Mapping[str, Any]) -> str | None:
        return self.get_settings().console_url + "/"

    def start_import(self, list_id: int | str, list_guid: str, contacts: list[Mapping[str, Any]]) -> int:
        """Create and start an import of ``contacts`` (dicts of subscriber attributes, e.g.
        ``{"email": ..., "Name": ...}``) into a list; return the idProcess for :class:`MailUpImportSensor`."""
        settings = self.get_settings()
        return self.run_flow(self.start_import_flow(settings, list_id, list_guid, contacts), settings)

    def get_import_status(self, list_id: int | str, list_guid: str, process_id: int | str) -> ImportResult:
        """The normalized status of one import process (sync)."""
        return self.poll({"list_id": list_id, "list_guid": list_guid, "process_id": process_id})

    async def aget_import_status(self, list_id: int | str, list_guid: str, process_id: int | str) -> ImportResult:
        """The normalized status of one import process (async)."""
        return await self.apoll({"list_id": list_id, "list_guid": list_guid, "process_id": process_id})
