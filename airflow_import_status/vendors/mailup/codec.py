"""MailUp's requests and pure parsers: ``WSMailUpImport`` over SOAP, zeep offline.

zeep never does I/O here. The WSDL (``{console}/Services/WSMailUpImport.asmx?WSDL``) is a
:class:`~airflow_import_status.transport.Shared` value: fetched once per process and target
by the shared transport, parsed (DTDs, entities and external imports refused) into a zeep
``Client`` whose transport refuses any load. Flows build each envelope with that client's
``create_message`` (so the parameters are checked against the vendor's own WSDL) and send
it as an ordinary :class:`HttpRequest` to the configured console's service path: never to
the WSDL's advertised ``soap:address`` (ASMX services write the address they believe they
were reached at: often plain ``http://``, behind a proxy another host).

Known, from the vendor's page "WSMailUpImport.GetProcessDetails"
(https://help.mailup.com/display/mailupapi/WSMailUpImport.GetProcessDetails) and the real WSDL:
every method returns an ``xs:string`` holding a "MailUp message"
(``<mailupMessage><mailupBody><ReturnCode>...``), sometimes led by a windows-1252 XML
declaration; ReturnCode 0 is success, negative codes are errors.

Known from the vendor's method pages ("WSMailUpImport.StartProcess", ".NewImportProcess", the
authentication page, "WS_Activation"): the ReturnCode meanings below; -601/-602 (another import is
running: MailUp runs one at a time) are retryable.

Uploads ("WSMailUpImport.NewImportProcess", XML feed; "WSMailUpImport.StartImportProcesses", Best
practices): one NewImportProcess per batch, its ``xmlDoc`` holding that batch only (memory bounded
by the batch); one process is started with StartProcess, several with one StartImportProcesses
call without ``xmlDoc``; the status of several reads them in running order and sums them.

Inferred (configurable on the connection): the dates' timezone (default Europe/Rome), the
header namespace of older accounts. -500 (unrecognized error), SOAP ``Server`` faults and HTTP
5xx are transient, SOAP ``Client`` faults bad requests; an undocumented negative ReturnCode
fails at once, quoting the code. "Completed" (StatusCode 3) while ``IsRunning`` is True keeps waiting.
"""

from __future__ import annotations

import copy
import functools
import io
import logging
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import zeep
import zeep.exceptions
from lxml import etree
from lxml.builder import ElementMaker
from zeep.transports import Transport
from zeep.wsdl import Document
from zeep.wsdl.bindings.soap import Soap11Binding

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
from airflow_import_status.parsing import load_xml, local_name, optional_int, xml_children_text
from airflow_import_status.responses import raise_for_http_status
from airflow_import_status.result import (
    ImportResult,
    ImportState,
    StatusTable,
    sum_counters,
    to_utc_iso,
    unrecognized_status_warning,
)
from airflow_import_status.transport import Flow, Fresh, HttpRequest, HttpResponse, Shared, TransportSettings
from airflow_import_status.vendors.mailup.spec import (
    DEFAULT_ENC_TYPE,
    DEFAULT_TIMEZONE,
    LEGACY_SOAP_NAMESPACE,
    SERVICE_PATH,
    STATUS_TABLE,
    MailUpJob,
)
from airflow_import_status.vendors.spec import ConnectionValues, base_url

VENDOR = "mailup"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_ENVELOPE, _BODY, _FAULT = (f"{{{SOAP_ENV}}}{name}" for name in ("Envelope", "Body", "Fault"))
MAILUP_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2})([.:])(\d{1,2})\5(\d{1,2})")
"""``dd/MM/yyyy HH.mm.ss`` ("WSMailUpImport.GetProcessDetails": 30/10/2012 15.39.12) or ``HH:mm:ss``
(a public PHP client parses dd/MM/yyyy HH:mm:ss); a regex, at a fifth of strptime's cost."""
MAILUP_DATE_LENGTH = len("30/10/2012 15.39.12")
"""The longest text :data:`MAILUP_DATE` matches."""
NO_ENC_TYPE = "none"
STATUS_REQUESTS_CACHED = 8192
"""Status envelopes kept (about 1.5 KiB each): one per waiting MailUp job, up to this many."""
MAILUP_DATES_CACHED = 4096
"""Dates kept converted (about 0.2 KiB each): the StartDate of each waiting MailUp process, up to this many."""

_CONFIGURE_HINT = "please report it: MailUp documents StatusCode 1 (queued), 2 (running), 3 (completed), 4 (failed)."

RETURN_CODE_MEANINGS: dict[int, str] = {
    # "WS_Activation" ReturnCodes (combinable): activation of the web service
    -2: "activation: the web service name was not specified",
    -4: "activation: the user name was not specified",
    -8: "activation: the password was not specified",
    -16: "activation: the newsletter URL was not specified",
    # "WSMailUpImport" authentication page: the list check of every method taking idList and listGUID
    -100: "list check failed: unrecognized error",
    -101: "list verification failed (idList and listGUID do not match an existing list)",
    -102: "listGUID is not a well-formed GUID",
    # the vendor's pages list these by number only (meaning inferred from their neighbours: method-specific errors)
    -200: "method error (meaning inferred; not published)",
    -300: "method error (meaning inferred; not published)",
    -301: "method error (meaning inferred; not published)",
    -302: "method error (meaning inferred; not published)",
    -303: "method error (meaning inferred; not published)",
    # "WSMailUpImport.NewImportProcess"
    -400: "NewImportProcess: unrecognized error",
    -401: "NewImportProcess: xmlDoc is empty",
    -402: "NewImportProcess: converting the xmlDoc failed",
    -403: "NewImportProcess: creating the import process failed",
    -410: "NewImportProcess: the confirmation email cannot be created",
    # "WSMailUpImport.GetProcessDetails"
    -500: "unrecognized error",
    -501: "idProcess not found",
    # "WSMailUpImport.StartProcess"
    -600: "StartProcess: unrecognized error",
    -601: "an import process is already running for the list",
    -602: "an import process is already running for a different list",
    -603: "StartProcess: error checking the process status",
    -604: "StartProcess: error starting the process job",
    # "WSMailUpImport" authentication page and "WS_Activation" ReturnCodes
    -1000: "authentication failed: unrecognized error",
    -1001: "authentication failed: the account is not valid",
    -1002: "authentication failed: the password is not valid",
    -1003: "authentication failed: the account is suspended",
    -1004: "authentication failed: the account is inactive",
    -1005: "authentication failed: the account has expired",
    -1006: "authentication failed: the web service is not enabled",
    -1007: "authentication failed: the web service is not active",
    -1008: "web service activation: the web service is already active",
    -1009: "web service activation error",
    -1010: "web service activation: IP registration error",
    -1011: "authentication failed: this IP address is not registered for the account",
    -1012: "access denied: this IP address is registered with the 'deny access' flag",
    # -1013 (GetProcessDetails' page) and -1014 (inside the credential range)
    -1013: "authentication failed: authentication data are missing",
    -1014: "authentication failed: the contract is not signed",
}
for _code in range(-450, -403):
    # -400..-450 are NewImportProcess's; only the codes above are described (meaning inferred)
    RETURN_CODE_MEANINGS.setdefault(_code, "NewImportProcess error (meaning inferred; not published)")
AUTH_RETURN_CODES = range(-1014, -999)
LIST_RETURN_CODES = range(-102, -99)
BUSY_RETURN_CODES = (-601, -602)
""""WSMailUpImport.StartProcess": MailUp runs one import at a time; retry once the running one ends."""

MAX_SUBSCRIBERS_PER_PROCESS = 10_000
"""Subscribers per NewImportProcess ``xmlDoc`` (inferred). "WSMailUpImport.StartImportProcesses", Best
practices: no known size limit, "successfully tested with 1.2 million characters" (about 10,000
subscribers of ~120 characters); larger uploads are split over several NewImportProcess calls."""
SUBSCRIBER_ATTRIBUTES = ("email", "Prefix", "Number", "Name")
""""WSMailUpImport.NewImportProcess", XML feed: ``<subscriber email="" Prefix="" Number="" Name="">``."""
CUSTOM_FIELD = re.compile(r"campo[1-9][0-9]*")
""""WSMailUpImport.NewImportProcess", XML feed: the list's fields are child elements ``<campo1>``, ``<campo2>``..."""
_NOT_XML_TEXT = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class ListBusyError(TransientVendorError):
    """ReturnCode -601 / -602: another import is running ("WSMailUpImport.StartProcess"); retry it later."""


ZEEP_SETTINGS = zeep.Settings(
    strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True, force_https=False
)
"""DTDs, entities and external imports refused; the advertised address is never used, so never rewritten."""

PROBE_GUID = "00000000-0000-0000-0000-000000000000"
_CHANNEL_COUNTERS = ("NewEmail", "NewMobile", "ExistingEmail", "ExistingMobile", "OptOutEmail", "OptOutMobile")
_COUNTER_NAMES = ("TotalContacts", *_CHANNEL_COUNTERS)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_TRUE_FALSE = {"true": True, "false": False}
_RETURN_CODE = re.compile(r"-?[0-9]{1,9}")


# ----- settings -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MailUpSettings:
    console_url: str
    user: str
    password: str
    timezone: str
    soap_namespace: str
    enc_type: str | None
    status_table: StatusTable
    transport: TransportSettings

    @property
    def endpoint(self) -> str:
        """Where every SOAP call goes: the configured console's service path, never the WSDL's address."""
        return f"{self.console_url}{SERVICE_PATH}"

    @property
    def wsdl_url(self) -> str:
        return f"{self.endpoint}?WSDL"

    @functools.cached_property
    def wsdl(self) -> Shared[zeep.Client]:
        """The WSDL as flows ask for it at every poll (built once per settings, not per poll)."""
        return _wsdl_value(self)


def authentication_header(settings: MailUpSettings) -> etree._Element:
    """The ``Authentication`` SOAP header {User, Password[, encType]} in the account's namespace."""
    maker = ElementMaker(namespace=settings.soap_namespace, nsmap={"ws": settings.soap_namespace})
    children = [maker.User(settings.user), maker.Password(settings.password)]
    if settings.enc_type:
        children.append(maker.encType(settings.enc_type))
    header: etree._Element = maker.Authentication(*children)
    return header


# ----- the WSDL, parsed offline -------------------------------------------------------------------------
class _OfflineTransport(Transport):
    """zeep's transport for a cached WSDL: it refuses to load anything (the shared transport fetches)."""

    def __init__(self) -> None:
        self.cache = None
        self._close_session = False
        self.logger = logging.getLogger(__name__)

    def load(self, url: str) -> bytes:
        raise VendorPayloadError(f"the MailUp WSDL refers to an external document {url!r}", vendor=VENDOR)

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> Any:
        raise RuntimeError("zeep must not send: flows yield HttpRequest to the shared transport")


def parse_wsdl(content: bytes, wsdl_url: str) -> zeep.Client:
    """A zeep client from the WSDL's bytes, offline (no network: imports are refused)."""
    try:
        document = Document(
            io.BytesIO(content),
            _OfflineTransport(),  # type: ignore[arg-type]  # zeep annotates the class, wants an instance
            base=wsdl_url,
            settings=ZEEP_SETTINGS,
        )
        client = zeep.Client(document, transport=_OfflineTransport(), settings=ZEEP_SETTINGS)
    except ImportStatusError:
        raise
    except (zeep.exceptions.Error, etree.LxmlError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise VendorPayloadError(
            f"the WSDL at {wsdl_url} does not parse ({type(err).__name__}: {snippet(str(err))}): {snippet(content)!r}",
            vendor=VENDOR,
        ) from None
    if "GetProcessDetails" not in _soap11_binding(client, wsdl_url, content).all():
        raise VendorPayloadError(
            f"the document at {wsdl_url} is not the WSMailUpImport WSDL (no GetProcessDetails): {snippet(content)!r}",
            vendor=VENDOR,
        )
    return client


def _soap11_binding(client: zeep.Client, wsdl_url: str = "", content: bytes = b"") -> Soap11Binding:
    """The WSDL's SOAP 1.1 binding (an ASMX WSDL also declares SOAP 1.2, HTTP GET and HTTP POST ports)."""
    for service in client.wsdl.services.values():
        for port in service.ports.values():
            if isinstance(port.binding, Soap11Binding):
                return port.binding
    raise VendorPayloadError(f"the WSDL at {wsdl_url} has no SOAP 1.1 port: {snippet(content)!r}", vendor=VENDOR)


def check_http(response: HttpResponse, what: str) -> None:
    """Typed errors for HTTP answers that are no SOAP answer (a SOAP Fault comes as HTTP 500)."""
    if 200 <= response.status < 300 or (response.status == 500 and b"Fault" in response.body):
        return
    if response.status == 404:
        raise PermanentVendorError(
            f"HTTP 404: no {what} at {response.url.split('?')[0]}; check the console URL", vendor=VENDOR
        )
    raise_for_http_status(VENDOR, response, what)


def decode_wsdl(response: HttpResponse) -> Fresh[zeep.Client]:
    """The WSDL answer to a parsed, offline zeep client (kept until the process ends)."""
    check_http(response, "MailUp WSDL")
    return Fresh(parse_wsdl(response.body, response.url))


def wsdl_value(settings: MailUpSettings) -> Shared[zeep.Client]:
    """The parsed WSDL, shared process-wide per WSDL URL, header namespace and TLS settings."""
    return settings.wsdl


def _wsdl_value(settings: MailUpSettings) -> Shared[zeep.Client]:
    return Shared(
        key=(VENDOR, "wsdl", settings.wsdl_url, settings.soap_namespace, settings.transport),
        request=HttpRequest("GET", settings.wsdl_url),
        decode=decode_wsdl,
        heavy=True,
    )


# ----- requests ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=STATUS_REQUESTS_CACHED)
def status_request(client: zeep.Client, settings: MailUpSettings, job: MailUpJob) -> HttpRequest:
    """GetProcessDetails of ``job``: the same bytes every poll, so zeep builds them once per job and WSDL."""
    params = process_params(job.list_id, job.list_guid, job.process_id)
    return soap_request(client, settings, "GetProcessDetails", params)


def soap_request(
    client: zeep.Client, settings: MailUpSettings, operation: str, params: Mapping[str, Any], idempotent: bool = True
) -> HttpRequest:
    """One operation's envelope, built by zeep from the vendor's WSDL, to the console's service path."""
    binding = _soap11_binding(client)
    envelope = client.create_message(
        client.bind(*_port_of(client, binding)), operation, **params, _soapheaders=[authentication_header(settings)]
    )
    return HttpRequest(
        "POST",
        settings.endpoint,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{binding.get(operation).soapaction}"',
        },
        content=etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
        idempotent=idempotent,
    )


def _port_of(client: zeep.Client, binding: Soap11Binding) -> tuple[str, str]:
    for service_name, service in client.wsdl.services.items():
        for port_name, port in service.ports.items():
            if port.binding is binding:
                return service_name, port_name
    raise AssertionError("the SOAP 1.1 binding belongs to no port")


def process_params(list_id: int, list_guid: str, process_id: int) -> dict[str, Any]:
    """``GetProcessDetails`` / ``StartProcess``: both take (idList, listGUID, idProcess)."""
    return {"idList": int(list_id), "listGUID": str(list_guid), "idProcess": int(process_id)}


def subscriber_problem(contact: Mapping[str, Any]) -> str | None:
    """Why MailUp would refuse a subscriber's document before importing it (``None``: it can be sent).

    An address MailUp cannot use is *not* refused here: MailUp counts it in TotalContacts and
    imports it nowhere. A field outside the XML feed's vocabulary, or a character XML cannot
    carry, would make the whole ``xmlDoc`` unusable (-402 "convert xml to csv failed").
    """
    unknown, _, _ = _field_kinds(tuple(contact))
    if unknown:
        return (
            f"field(s) {', '.join(unknown)} not a MailUp subscriber field "
            f"({', '.join(SUBSCRIBER_ATTRIBUTES)} or campo1, campo2, ...)"
        )
    if not str(contact.get("email") or "").strip():
        return "no email (the import is for the email channel, importType 1)"
    if not _NOT_XML_TEXT.search("\n".join(str(value) for value in contact.values() if value is not None)):
        return None  # one scan of the whole row; the field is looked for only when there is a bad character
    for name, value in contact.items():
        bad = _NOT_XML_TEXT.search(str(value)) if value is not None else None
        if bad:
            return f"field {name} holds U+{ord(bad.group()):04X}, which an XML document cannot carry"
    return None


@functools.lru_cache(maxsize=256)
def _field_kinds(names: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[str], frozenset[str]]:
    """A row's field names as (unknown, attributes, ``campoN`` elements): rows of one file share them."""
    unknown = tuple(
        sorted(name for name in names if name not in SUBSCRIBER_ATTRIBUTES and not CUSTOM_FIELD.fullmatch(name))
    )
    attributes = frozenset(name for name in names if name in SUBSCRIBER_ATTRIBUTES)
    return unknown, attributes, frozenset(name for name in names if CUSTOM_FIELD.fullmatch(name))


_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_NEEDS_ESCAPING = re.compile('[&<>"\n\r\t]')


def _escaped(value: Any, table: dict[int, str]) -> str:
    text = str(value)
    return text.translate(table) if _NEEDS_ESCAPING.search(text) else text  # most values need nothing


def subscribers_xml(contacts: Iterable[Mapping[str, Any]]) -> str:
    """The ``xmlDoc`` of NewImportProcess ("WSMailUpImport.NewImportProcess", XML feed):
    ``<subscribers><subscriber email=".." Name=".."><campo1>..</campo1></subscriber>...``.

    email, Prefix, Number and Name are attributes, ``campoN`` child elements; an empty value
    (``None``) is left out. Callers check each contact with :func:`subscriber_problem` first.
    """
    rows = []
    for contact in contacts:
        _, attribute_names, element_names = _field_kinds(tuple(contact))
        attributes = "".join(
            f' {name}="{_escaped(value, _ATTRIBUTE_ESCAPES)}"'
            for name, value in contact.items()
            if value is not None and name in attribute_names
        )
        fields = "".join(
            f"<{name}>{_escaped(value, _TEXT_ESCAPES)}</{name}>"
            for name, value in contact.items()
            if value is not None and name in element_names
        )
        rows.append(f"<subscriber{attributes}>{fields}</subscriber>")
    return f"<subscribers>{''.join(rows)}</subscribers>"


def new_import_params(list_id: int, list_guid: str, xml_doc: str, group_ids: Iterable[int] = ()) -> dict[str, Any]:
    """``NewImportProcess`` for email subscribers, subscribed at once, no confirmation request.

    Parameters as the real WSDL declares them: ``idGroups`` is a *string*,
    the group ids separated by commas ("WSMailUpImport.NewImportProcess"), "" for none.
    """
    return {
        "idList": int(list_id),
        "listGUID": str(list_guid),
        "xmlDoc": xml_doc,
        "idGroups": ",".join(str(int(group)) for group in group_ids),
        "importType": 1,
        "mobileInputType": 2,
        "asPending": False,
        "ConfirmEmail": False,
        "asOptOut": False,
        "forceOptIn": False,
        "replaceGroups": False,
        "idConfirmNL": 0,
    }


def start_import_processes_params(list_id: int, list_guid: str, group_ids: Iterable[int] = ()) -> dict[str, Any]:
    """``StartImportProcesses`` *without* ``xmlDoc``: start the list's prepared processes in sequence.

    "WSMailUpImport.StartImportProcesses": "If not specified (NULL): method sequentially imports all
    pending XML structures that have been previously submitted using NewImportProcess" (MailUp 8.2.1
    or later); listsIDs / listsGUIDs / groupsIDs are strings (semicolons between lists, commas between
    a list's groups). ``xmlDoc`` is left out: "an HTTP 500 Error is returned if optional parameters
    are included in the request with an empty value". The flags are NewImportProcess's.
    """
    flags = new_import_params(list_id, list_guid, "", group_ids)
    return {
        "listsIDs": str(int(list_id)),
        "listsGUIDs": str(list_guid),
        "groupsIDs": flags["idGroups"],
        **{name: flags[name] for name in ("importType", "mobileInputType", "asPending", "ConfirmEmail")},
        **{name: flags[name] for name in ("asOptOut", "forceOptIn", "replaceGroups")},
    }


# ----- pure parsing -------------------------------------------------------------------------------------
def soap_result(response: HttpResponse, operation: str) -> str | None:
    """The ``<{operation}Result>`` string of a SOAP 1.1 answer; a SOAP Fault is transient."""
    check_http(response, "MailUp import service")
    try:
        envelope = load_xml(VENDOR, response.body)
    except VendorPayloadError as err:
        raise VendorPayloadError(f"{operation}: unreadable SOAP answer: {err}", vendor=VENDOR) from None
    if envelope.tag != _ENVELOPE:
        raise VendorPayloadError(
            f"{operation}: unreadable SOAP answer (no SOAP 1.1 Envelope): {snippet(response.body)!r}", vendor=VENDOR
        )
    body = _child(envelope, _BODY)
    if body is None:
        raise VendorPayloadError(f"{operation}: unreadable SOAP answer (no Body)", vendor=VENDOR)
    fault = _child(body, _FAULT)
    if fault is not None:
        fields = xml_children_text(fault)
        code = (fields.get("faultcode") or "").strip()
        message = f"{operation}: SOAP fault{' ' + code if code else ''}: {snippet(fields.get('faultstring') or '')}"
        if code.rpartition(":")[2] == "Client":
            # SOAP 1.1 (W3C note, 4.4.1): "Client" faults mean the message was wrong; resending will not help.
            raise BadRequestError(message, vendor=VENDOR)
        raise TransientVendorError(message, vendor=VENDOR)
    reply = _first_element(body)
    if reply is None or local_name(reply) != f"{operation}Response":
        raise VendorPayloadError(
            f"{operation}: unreadable SOAP answer (no {operation}Response): {snippet(response.body)!r}", vendor=VENDOR
        )
    result = _first_element(reply)
    if result is None or local_name(result) != f"{operation}Result" or len(result):
        raise VendorPayloadError(
            f"{operation}: unreadable SOAP answer (no {operation}Result string): {snippet(response.body)!r}",
            vendor=VENDOR,
        )
    return result.text


def _first_element(parent: etree._Element, name: str | None = None) -> etree._Element | None:
    """``parent``'s first child element (whose local name is ``name``, when given); ``None`` if there is none."""
    for child in parent:
        if isinstance(child.tag, str) and (name is None or local_name(child) == name):
            return child
    return None


def _child(parent: etree._Element, tag: str) -> etree._Element | None:
    """``parent.find(tag)`` for a qualified tag, at a fifth of its cost (no path to compile)."""
    for child in parent:
        if child.tag == tag:
            return child
    return None


def mailup_body(message: str | bytes | None) -> etree._Element:
    """The ``<mailupBody>`` of a MailUp message (a str may carry a windows-1252 XML declaration)."""
    if message is None or not message.strip():
        raise VendorPayloadError("the operation returned no MailUp message", vendor=VENDOR)
    if isinstance(message, str):
        # Already decoded from the envelope: a leftover encoding declaration would mislead lxml.
        message = _XML_DECLARATION.sub("", message, count=1)
    root = load_xml(VENDOR, message)
    if local_name(root) != "mailupMessage":
        raise VendorPayloadError(f"expected a <mailupMessage>, got <{local_name(root)}>", vendor=VENDOR)
    body = _first_element(root, "mailupBody")
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
    if code in BUSY_RETURN_CODES:
        raise ListBusyError(
            f"{message}; MailUp runs one import at a time: retry when the running import has finished",
            vendor=VENDOR,
        )
    if code == -500:
        raise TransientVendorError(message, vendor=VENDOR)
    raise PermanentVendorError(message, vendor=VENDOR)


def optional_int_code(text: str | None) -> int | None:
    """A ReturnCode (negative allowed) or ``None`` when it is not a plain integer."""
    text = (text or "").strip()
    return int(text) if _RETURN_CODE.fullmatch(text) else None


def return_code(body: etree._Element, operation: str, note: str = "") -> int:
    """The message's ReturnCode, after raising for a negative one (its error text ends with ``note``)."""
    fields = xml_children_text(body)
    code = optional_int_code(fields.get("ReturnCode"))
    if code is None:
        raise VendorPayloadError(
            f"{operation}: ReturnCode is not an integer: {snippet(fields.get('ReturnCode'))!r}", vendor=VENDOR
        )
    if code < 0:  # the detail is for the error only
        detail = "; ".join(
            f"{name}={value.strip()}" for name, value in fields.items() if name != "ReturnCode" and value
        )
        raise_for_return_code(
            code, operation, "; ".join(part for part in (snippet(detail) if detail else "", note) if part)
        )
    return code


def parse_return_code(message: str | bytes | None, operation: str, note: str = "") -> int:
    """Pure parser for methods that answer with a ReturnCode only (NewImportProcess, StartProcess)."""
    return return_code(mailup_body(message), operation, note)


def parse_start_import_processes(message: str | bytes | None, note: str = "") -> None:
    """Pure parser of StartImportProcesses: success only when *every* ReturnCode in it is 0.

    "WSMailUpImport.StartImportProcesses", Best practices: the response "contains either a global
    ReturnCode or a specific ReturnCode for each import process"; "call is successful only when all
    ReturnCodes are equal to 0". Where the per-process codes sit is not published (inferred: any
    ``<ReturnCode>`` in the body counts).
    """
    body = mailup_body(message)
    return_code(body, "StartImportProcesses", note)
    for element in body.iter():
        if isinstance(element.tag, str) and local_name(element) == "ReturnCode":
            code = optional_int_code(element.text)
            if code is not None and code < 0:
                raise_for_return_code(code, "StartImportProcesses", note)
            if code != 0:
                raise VendorPayloadError(
                    f"StartImportProcesses: a ReturnCode is {snippet(element.text)!r}, not 0"
                    + (f" ({note})" if note else ""),
                    vendor=VENDOR,
                )


def _optional_bool(fields: Mapping[str, str | None], name: str) -> bool | None:
    value = (fields.get(name) or "").strip()
    if not value:
        return None
    if value.lower() not in _TRUE_FALSE:
        raise VendorPayloadError(f"field {name!r} is not True/False: {snippet(value)!r}", vendor=VENDOR)
    return _TRUE_FALSE[value.lower()]


def parse_mailup_date(value: str | None, name: str, timezone: str = DEFAULT_TIMEZONE) -> str | None:
    """``dd/MM/yyyy HH.mm.ss`` (or ``HH:mm:ss``) in the account's timezone to ISO 8601 UTC (``None`` when empty)."""
    text = "" if value is None else value.strip()
    if not text:
        return None
    utc = _mailup_date_utc(text, timezone) if len(text) <= MAILUP_DATE_LENGTH else None  # the cache holds no junk
    if utc is None:
        raise VendorPayloadError(f"field {name!r} is not a dd/MM/yyyy HH.mm.ss date: {snippet(value)!r}", vendor=VENDOR)
    return utc


@functools.lru_cache(maxsize=MAILUP_DATES_CACHED)
def _mailup_date_utc(text: str, timezone: str) -> str | None:
    """:func:`parse_mailup_date` of a stripped, non-empty ``text``; ``None`` when it is not such a date.

    Cached: a process's StartDate is the same at every poll.
    """
    match = MAILUP_DATE.fullmatch(text)
    if match:
        day, month, year, hour, _, minute, second = match.groups()
        with suppress(ValueError):
            local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
            return to_utc_iso(local.replace(tzinfo=zoneinfo.ZoneInfo(timezone)))
    return None


def parse_process_details(
    message: str | bytes | None,
    timezone: str = DEFAULT_TIMEZONE,
    expected_id: int | None = None,
    status_table: StatusTable | None = None,
) -> ImportResult:
    """Pure parser: the MailUp message GetProcessDetails returns to the normalized result.

    ``expected_id``: the idProcess asked for; an answer about another process is a payload error.
    """
    table = status_table or STATUS_TABLE
    body = mailup_body(message)
    return_code(body, "GetProcessDetails")
    process = _first_element(body, "ImportProcess")
    process_id = (process.get("idProcess") or "").strip() if process is not None else ""
    if process is None or not process_id:
        raise VendorPayloadError(
            f"GetProcessDetails answered without <ImportProcess idProcess=...>: {snippet(etree.tostring(body))!r}",
            vendor=VENDOR,
        )
    if expected_id is not None and process_id != str(expected_id):
        raise VendorPayloadError(
            f"asked for idProcess {expected_id} but the answer is about {snippet(process_id)!r}", vendor=VENDOR
        )
    fields = xml_children_text(process)
    counter = {name: optional_int(VENDOR, fields, name) for name in _COUNTER_NAMES}
    status = (fields.get("StatusCode") or "").strip() or None
    state = table.classify(status)
    warnings = []
    if state is None:
        state = ImportState.PENDING
        warnings.append(unrecognized_status_warning(VENDOR, status, _CONFIGURE_HINT))
    is_running = _optional_bool(fields, "IsRunning")
    if state is ImportState.SUCCEEDED and is_running:
        # Inferred: "completed" while the vendor page's IsRunning still says True is not over yet.
        state = ImportState.RUNNING
        warnings.append(f"StatusCode {status} (completed) while IsRunning is True: waiting until IsRunning is False")
    inserted = sum_counters(counter["NewEmail"], counter["NewMobile"])
    updated = sum_counters(counter["ExistingEmail"], counter["ExistingMobile"])
    return ImportResult(
        vendor=VENDOR,
        job_id=process_id,
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
            "IsRunning": is_running,
            "ConfirmationEmail": _optional_bool(fields, "ConfirmationEmail"),
            "ConfirmationSent": _optional_bool(fields, "ConfirmationSent"),
        },
        warnings=warnings,
    )


def combine_processes(job: MailUpJob, results: list[ImportResult]) -> ImportResult:
    """One upload's result from its processes' results (read in running order, up to the first unfinished).

    Succeeded once every process succeeded, with the counters summed; failed as soon as one failed;
    otherwise pending (nothing started yet) or running, with the counters known so far and no total.
    """
    count = len(job.process_ids)
    last = results[-1]
    complete = len(results) == count and all(result.state is ImportState.SUCCEEDED for result in results)
    if last.state is ImportState.FAILED:
        state = ImportState.FAILED
    elif complete:
        state = ImportState.SUCCEEDED
    elif len(results) == 1 and last.state is ImportState.PENDING:
        state = ImportState.PENDING
    else:
        state = ImportState.RUNNING
    position = f"process {len(results)} of {count} (idProcess {last.job_id})"
    message = None
    if state is ImportState.FAILED:
        message = (
            f"MailUp reports the upload's {position} failed (StatusCode 4); "
            "the console's Import Status page has the details"
        )

    def total(name: str) -> int | None:
        return sum_counters(*(getattr(result, name) for result in results))

    return ImportResult(
        vendor=VENDOR,
        job_id=str(job.process_id),
        state=state,
        vendor_status=last.vendor_status,
        total=total("total") if complete else None,
        imported=total("imported"),
        inserted=total("inserted"),
        updated=total("updated"),
        opted_out=total("opted_out"),
        started_at=results[0].started_at,
        finished_at=last.finished_at if complete else None,
        message=message,
        details={
            **{name: sum_counters(*(result.details.get(name) for result in results)) for name in _CHANNEL_COUNTERS},
            "IsRunning": any(result.details.get("IsRunning") for result in results),
            "processes": count,
            "processes_finished": sum(1 for result in results if result.state.is_terminal),
            "process": position,
        },
        warnings=[warning for result in results for warning in result.warnings],
    )


# ----- the codec --------------------------------------------------------------------------------------
class MailUpCodec:
    """MailUp's side of the shared flow driver."""

    def settings(self, values: ConnectionValues) -> MailUpSettings:
        namespace = values["soap_namespace"]
        enc_type = values["enc_type"]
        if enc_type is None:
            enc_type = "" if namespace == LEGACY_SOAP_NAMESPACE else DEFAULT_ENC_TYPE
        return MailUpSettings(
            console_url=base_url(values),
            user=values.require("login", "MailUp API user"),
            password=values.require("password", "MailUp API password"),
            timezone=values["timezone"],
            soap_namespace=namespace,
            enc_type=None if enc_type.lower() in ("", NO_ENC_TYPE) else enc_type,
            status_table=values.status_table(STATUS_TABLE),
            transport=values.transport(),
        )

    def transport(self, settings: MailUpSettings) -> TransportSettings:
        return settings.transport

    def decode_status(self, response: HttpResponse, settings: MailUpSettings, job: MailUpJob) -> ImportResult:
        message = soap_result(response, "GetProcessDetails")
        return parse_process_details(message, settings.timezone, job.process_id, settings.status_table)

    def status_flow(self, settings: MailUpSettings, job: MailUpJob) -> Flow[ImportResult]:
        """GetProcessDetails of the job's process; of an upload's processes in running order, summed.

        Processes started together run one after the other ("WSMailUpImport.NewImportProcess"), so a
        poll reads them in order and stops at the first one not finished (the later ones wait behind it).
        """
        client = yield wsdl_value(settings)
        if len(job.process_ids) == 1:
            response = yield status_request(client, settings, job)
            return self.decode_status(response, settings, job)
        results = []
        for process_id in job.process_ids:
            process = replace(job, process_id=process_id, more_process_ids=None)
            response = yield status_request(client, settings, process)
            result = self.decode_status(response, settings, process)
            results.append(result)
            if not result.state.is_terminal or result.state is ImportState.FAILED:
                break
        return combine_processes(job, results)

    def check_flow(self, settings: MailUpSettings) -> Flow[str]:
        """``GetProcessDetails`` of list 0 / process 0: an authentication ReturnCode means bad credentials."""
        client = yield wsdl_value(settings)
        response = yield soap_request(client, settings, "GetProcessDetails", process_params(0, PROBE_GUID, 0))
        with suppress(JobNotFoundError, BadRequestError):  # no such list/process, but the credentials passed
            parse_return_code(soap_result(response, "GetProcessDetails"), "GetProcessDetails")
        return f"Connected to MailUp at {settings.console_url} as {settings.user}"

    def console_url(self, settings: MailUpSettings, job: MailUpJob) -> str | None:
        return settings.console_url + "/"

    def upload_flow(
        self,
        settings: MailUpSettings,
        list_id: int,
        list_guid: str,
        batches: Iterable[Iterable[Mapping[str, Any]]],
        group_ids: Iterable[int] = (),
        on_prepared: Callable[[int], None] | None = None,
    ) -> Flow[tuple[int, ...]]:
        """One NewImportProcess per batch (an ``xmlDoc`` of at most one batch); the prepared idProcess values.

        "WSMailUpImport.StartImportProcesses", Best practices: "split your import data, call several times
        NewImportProcess with smaller recipient lists and then use StartImportProcesses to sequentially
        start all previously created import processes". ``on_prepared`` hears each idProcess the moment
        MailUp returns it. Nothing is started here; a refused batch says which processes are prepared.
        """
        client = yield wsdl_value(settings)
        return (yield from _prepare_processes(client, settings, list_id, list_guid, batches, group_ids, on_prepared))

    def start_processes_flow(
        self,
        settings: MailUpSettings,
        list_id: int,
        list_guid: str,
        process_ids: Iterable[int],
        group_ids: Iterable[int] = (),
    ) -> Flow[None]:
        """Start prepared processes: StartProcess for one, StartImportProcesses (no ``xmlDoc``) for several.

        A list busy with another import raises :class:`ListBusyError` (-601 / -602): the processes stay
        prepared, and starting them later is the retry.
        """
        client = yield wsdl_value(settings)
        yield from _start_processes(client, settings, list_id, list_guid, tuple(process_ids), group_ids)

    def start_import_flow(
        self,
        settings: MailUpSettings,
        list_id: int,
        list_guid: str,
        batches: Iterable[Iterable[Mapping[str, Any]]],
        group_ids: Iterable[int] = (),
    ) -> Flow[tuple[int, ...]]:
        """:meth:`upload_flow`, then :meth:`start_processes_flow`; every idProcess, in running order."""
        client = yield wsdl_value(settings)
        groups = tuple(group_ids)
        process_ids = yield from _prepare_processes(client, settings, list_id, list_guid, batches, groups)
        if not process_ids:
            raise BadRequestError("no subscribers to import: nothing was sent", vendor=VENDOR)
        yield from _start_processes(client, settings, list_id, list_guid, process_ids, groups)
        return process_ids


def _prepare_processes(
    client: zeep.Client,
    settings: MailUpSettings,
    list_id: int,
    list_guid: str,
    batches: Iterable[Iterable[Mapping[str, Any]]],
    group_ids: Iterable[int] = (),
    on_prepared: Callable[[int], None] | None = None,
) -> Flow[tuple[int, ...]]:
    groups = tuple(group_ids)
    prepared: list[int] = []
    for batch in batches:
        if not batch:
            continue
        params = new_import_params(list_id, list_guid, subscribers_xml(batch), groups)
        try:
            response = yield soap_request(client, settings, "NewImportProcess", params, idempotent=False)
            process_id = parse_return_code(soap_result(response, "NewImportProcess"), "NewImportProcess")
        except ImportStatusError as err:
            raise with_note(err, prepared_note(prepared)) from None
        if process_id <= 0:
            raise VendorPayloadError(
                f"NewImportProcess returned no idProcess (ReturnCode {process_id}); {prepared_note(prepared)}",
                vendor=VENDOR,
            )
        prepared.append(process_id)
        if on_prepared is not None:
            on_prepared(process_id)
    return tuple(prepared)


def _start_processes(
    client: zeep.Client,
    settings: MailUpSettings,
    list_id: int,
    list_guid: str,
    process_ids: tuple[int, ...],
    group_ids: Iterable[int] = (),
) -> Flow[None]:
    note = prepared_note(list(process_ids))
    if len(process_ids) == 1:
        params = process_params(list_id, list_guid, process_ids[0])
        response = yield soap_request(client, settings, "StartProcess", params, idempotent=False)
        parse_return_code(soap_result(response, "StartProcess"), "StartProcess", note)
        return
    params = start_import_processes_params(list_id, list_guid, group_ids)
    response = yield soap_request(client, settings, "StartImportProcesses", params, idempotent=False)
    parse_start_import_processes(soap_result(response, "StartImportProcesses"), note)


def prepared_note(process_ids: list[int]) -> str:
    """What a failed start leaves on MailUp (no published method deletes a prepared process)."""
    if not process_ids:
        return "no import process was prepared"
    shown = ", ".join(str(process_id) for process_id in process_ids)
    return f"idProcess {shown} {'is' if len(process_ids) == 1 else 'are'} prepared, not started"


def with_note(err: ImportStatusError, note: str) -> ImportStatusError:
    """The same error (same type) with ``note`` appended to its message."""
    noted = copy.copy(err)
    noted.args = (f"{err.args[0]}; {note}", *err.args[1:]) if err.args else (note,)
    return noted


CODEC = MailUpCodec()
"""The codec the spec names (``VendorClasses.codec``); hooks and operators use it typed."""
