"""MailUp's WSMailUpImport SOAP service, faithful to its documentation page.

``GET /Services/WSMailUpImport.asmx?WSDL`` serves ``vendors/mailup/mailup.wsdl`` (the real interface) with the
``soap:address`` an ASMX service behind a proxy writes: ``http://{host}/Services/WSMailupImport.asmx``,
which clients must not use. ``POST /Services/WSMailUpImport.asmx`` takes SOAP 1.1 envelopes,
checks the SOAPAction, the parameters' names and types as the WSDL declares them (a SOAP
``soap:Client`` fault otherwise, as ASP.NET answers), the ``Authentication`` header (namespace
``http://ws.mailupnet.it/``), runs GetProcessDetails, NewImportProcess, StartProcess and
StartImportProcesses (one running import at a time: -601 / -602; a process keeps the counters
its subscriber document yields, never the subscribers) and answers with
``<{Operation}Result>`` holding the entity-escaped "MailUp message", exactly as the vendor page shows
(comments included), optionally led by the ``windows-1252`` XML declaration the Ruby gem shows.

Job params: ``list_id``, ``list_guid``, ``confirm`` (ConfirmationEmail True), ``confirmation_sent``
(ConfirmationSent True/False once the import completed; empty when not ``confirm``),
``xml_declaration`` (default true). Script counters: ``total``, ``new_email``, ``new_mobile``,
``existing_email``, ``existing_mobile``, ``optout_email``, ``optout_mobile``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_import_status.errors import VendorPayloadError
from airflow_import_status.parsing import load_xml, local_name, xml_children_text
from airflow_import_status.simulators.core import (
    SAMPLE_JOB_ID,
    TERMINAL_STATES,
    SimJob,
    SimulatorState,
    VendorSimulator,
    default_script,
)

USER = "a1234"
PASSWORD = "mailup-sim-password"
SOAP_NAMESPACE = "http://ws.mailupnet.it/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_PATH = "/Services/WSMailUpImport.asmx"
ACCOUNT_TIMEZONE = ZoneInfo("Europe/Rome")
WSDL_TEMPLATE = (Path(__file__).parents[1] / "vendors" / "mailup" / "mailup.wsdl").read_text(encoding="utf-8")
STATUS_CODE_BY_STATE = {"pending": "1", "running": "2", "succeeded": "3", "failed": "4"}
LIST_GUID = "00000000-aaaa-bbbb-cccc-000123456789"  # "WSMailUpImport.GetProcessDetails": the SOAP request
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
XML_DECLARATION = '<?xml version="1.0" encoding="windows-1252" ?>'
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

_XSD = "{http://www.w3.org/2001/XMLSchema}"


def _operation_parameters() -> dict[str, list[tuple[str, str, bool]]]:
    """Each operation's parameters as the bundled (real-shaped) WSDL declares them: (name, type, required)."""
    root = etree.fromstring(WSDL_TEMPLATE.encode())
    schema = root.find(f"{{http://schemas.xmlsoap.org/wsdl/}}types/{_XSD}schema")
    operations: dict[str, list[tuple[str, str, bool]]] = {}
    assert schema is not None, "the bundled WSDL has a schema"
    for element in schema.findall(f"{_XSD}element"):
        if element.find(f"{_XSD}complexType") is not None and not element.get("name", "").endswith("Response"):
            operations[element.get("name", "")] = [
                (child.get("name", ""), (child.get("type") or "").partition(":")[2], child.get("minOccurs") == "1")
                for child in element.iter(f"{_XSD}element")
                if child is not element
            ]
    return operations


OPERATION_PARAMETERS = _operation_parameters()
_VALID: dict[str, Callable[[str], bool]] = {
    "int": lambda text: re.fullmatch(r"-?[0-9]+", text) is not None,
    "boolean": lambda text: text in ("true", "false", "1", "0"),
    "string": lambda text: True,
}


def parameter_problem(operation: str, call: etree._Element) -> str | None:
    """What ASP.NET's deserializer would refuse in a call, checked against the WSDL's declaration."""
    declared = {name: (kind, required) for name, kind, required in OPERATION_PARAMETERS.get(operation, [])}
    given: dict[str, str] = {}
    for child in call:
        if not isinstance(child.tag, str):  # a comment or processing instruction
            continue  # type: ignore[unreachable]
        name = local_name(child)
        if etree.QName(child).namespace != SOAP_NAMESPACE or name not in declared:
            return f"<{name}> is not a parameter of {operation}"
        given[name] = (child.text or "").strip()
    for name, (kind, required) in declared.items():
        if name not in given:
            if required:
                return f"{operation} needs <{name}> ({kind})"
        elif not _VALID[kind](given[name]):
            return f"<{name}> of {operation} must be xs:{kind}, got {given[name]!r}"
    return None


CONFIRMATION_COMMENTS = {
    None: "<!-- ConfirmationSent is empty if Confirmation request was not set during import -->",
    False: "<!-- Value of ConfirmationSent field is False until MailUp user proceeds with manually sending "
    "the enqueued confirmation requests -->",
    True: "<!-- User has manually sent enqueued confirmation messages -->",
}


def _local_time() -> str:
    """Now, as MailUp writes dates: the account's local time, ``dd/MM/yyyy HH.mm.ss``."""
    return datetime.now(ACCOUNT_TIMEZONE).strftime("%d/%m/%Y %H.%M.%S")


def mailup_message(body: str, declaration: bool = False) -> str:
    """A MailUp message around ``body`` (the inner XML of ``<mailupBody>``)."""
    message = f"<mailupMessage> <mailupBody> {body} </mailupBody> </mailupMessage>"
    return XML_DECLARATION + message if declaration else message


def return_code_message(code: int) -> str:
    return mailup_message(f"<ReturnCode>{code}</ReturnCode>")


def soap_envelope(operation: str, result: str) -> str:
    """The SOAP 1.1 answer of an .asmx method returning ``result`` (a string, escaped here)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>'
        f'<{operation}Response xmlns="{SOAP_NAMESPACE}"><{operation}Result>{escape(result)}</{operation}Result>'
        f"</{operation}Response></soap:Body></soap:Envelope>"
    )


def soap_fault(code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><soap:Fault>'
        f"<faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring><detail />"
        "</soap:Fault></soap:Body></soap:Envelope>"
    )
    return Response(body, status_code=500, media_type="text/xml; charset=utf-8")


def valid_address(email: str) -> bool:
    """An address MailUp can import (inferred: MailUp publishes no rule; one ``@``, a dotted domain)."""
    return EMAIL.fullmatch(email.strip()) is not None


def subscriber_counters(xml_doc: str) -> dict[str, int] | int:
    """The counters a NewImportProcess document yields, or its ReturnCode when MailUp refuses it.

    "WSMailUpImport.NewImportProcess": -401 xmlDoc is empty, -402 converting it failed. Every
    ``<subscriber>`` counts in TotalContacts; a valid address is a new email subscriber, an invalid
    one is imported nowhere (MailUp reports no separate counter for it).
    """
    if not xml_doc.strip():
        return -401
    try:
        root = load_xml("mailup", xml_doc)
    except VendorPayloadError:
        return -402
    subscribers = [child for child in root if isinstance(child.tag, str)]
    if local_name(root) != "subscribers" or any(local_name(child) != "subscriber" for child in subscribers):
        return -402
    valid = sum(1 for child in subscribers if valid_address(child.get("email", "")))
    return {"total": len(subscribers), "new_email": valid}


class MailUpSimulator(VendorSimulator):
    name = "mailup"
    conn_id = "mailup_default"
    secrets = (PASSWORD,)
    bad_credentials = {"password": "wrong-mailup-password"}
    job_params = {"list_id": 1, "list_guid": LIST_GUID}
    status_request = {"method": "POST", "path_contains": "WSMailUpImport.asmx"}
    upload_request = {"method": "POST", "soap_action": "NewImportProcess"}
    start_request = {"method": "POST", "soap_action": "StartImportProcesses"}
    contact_mapping = {"email": "email", "first_name": "campo1", "last_name": "campo2"}
    """contacts.csv's columns -> MailUp subscriber fields (importType 1, the email channel, discards phones)."""

    @classmethod
    def sample_status(cls) -> bytes:
        step = {
            "state": "succeeded",
            "progress": 100,
            "counters": {"total": 4, "new_email": 2, "existing_email": 1, "optout_email": 1},
        }
        job = SimJob(cls.name, SAMPLE_JOB_ID, [step], params=dict(cls.job_params), data={"StartDate": _local_time()})
        return soap_envelope("GetProcessDetails", cls(SimulatorState()).process_details(job, step)).encode()

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        return {"conn_type": "mailup", "host": f"{base_url}/mailup", "login": USER, "password": PASSWORD}

    def routes(self) -> list[BaseRoute]:
        return [
            Route(SERVICE_PATH, self.wsdl, methods=["GET"]),
            Route(SERVICE_PATH, self.soap, methods=["POST"]),
        ]

    async def wsdl(self, request: Request) -> Response:
        if "wsdl" not in {key.lower() for key in request.query_params}:
            return Response("Use ?WSDL for the service description.", media_type="text/plain")
        # An ASMX service behind a proxy advertises http:// and its own spelling: clients must not use it.
        return Response(WSDL_TEMPLATE.replace("{{HOST}}", escape(request.url.netloc)), media_type="text/xml")

    async def soap(self, request: Request) -> Response:
        try:
            envelope = load_xml(self.name, await request.body())
        except VendorPayloadError as err:
            return soap_fault("soap:Client", f"Server was unable to read request. {err}")
        header = envelope.find(f"{{{SOAP_ENV}}}Header")
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        call = next((child for child in body if isinstance(child.tag, str)), None) if body is not None else None
        action = request.headers.get("soapaction", "").strip('"')
        if call is None or etree.QName(call).namespace != SOAP_NAMESPACE or action != SOAP_NAMESPACE + local_name(call):
            return soap_fault("soap:Client", "Server did not recognize the value of HTTP Header SOAPAction: " + action)
        operation = local_name(call)
        problem = parameter_problem(operation, call)
        if problem:
            return soap_fault("soap:Client", f"Server was unable to read request. ---> {problem}")
        handler = {
            "GetProcessDetails": self.get_process_details,
            "NewImportProcess": self.new_import_process,
            "StartProcess": self.start_process,
            "StartImportProcesses": self.start_import_processes,
        }.get(operation)
        if handler is None:
            return soap_fault("soap:Server", f"the simulator does not implement {operation}")
        auth_code = self._authenticate(header)
        params = xml_children_text(call)
        result = return_code_message(auth_code) if auth_code else handler(params)
        return Response(soap_envelope(operation, result), media_type="text/xml; charset=utf-8")

    @staticmethod
    def _authenticate(header: etree._Element | None) -> int:
        """0, or the ReturnCode MailUp gives for the Authentication header."""
        auth = header.find(f"{{{SOAP_NAMESPACE}}}Authentication") if header is not None else None
        if auth is None:
            return -1013
        fields = xml_children_text(auth)
        if not fields.get("User") or not fields.get("Password"):
            return -1013
        if fields["User"] != USER:
            return -1001
        if fields["Password"] != PASSWORD:
            return -1002
        return 0

    @staticmethod
    def _list_code(params: dict[str, Any]) -> int:
        """The list check's ReturnCode: -102 for a malformed GUID, -100 for a non-numeric idList."""
        if not GUID.match((params.get("listGUID") or "").strip()):
            return -102
        if not str(params.get("idList") or "").isdigit():
            return -100
        return 0

    def _job_for(self, params: dict[str, Any]) -> tuple[int, SimJob | None]:
        code = self._list_code(params)
        if code:
            return code, None
        job = self.find_job(str(params.get("idProcess")))
        if job is None:
            return -501, None
        if str(job.params.get("list_id")) != str(params["idList"]) or str(job.params.get("list_guid", "")).lower() != (
            params["listGUID"].lower()
        ):
            return -101, None
        return 0, job

    def get_process_details(self, params: dict[str, Any]) -> str:
        code, job = self._job_for(params)
        if code:
            return return_code_message(code)
        job, step = self.poll_job(str(params["idProcess"]))
        if job is None:
            return return_code_message(-501)
        return self.process_details(job, step)

    def new_import_process(self, params: dict[str, Any]) -> str:
        code = self._list_code(params)
        if code:
            return return_code_message(code)
        counters = subscriber_counters(params.get("xmlDoc") or "")
        if isinstance(counters, int):
            return return_code_message(counters)
        job = self._prepare(int(params["idList"]), params["listGUID"], counters)
        job.data["id_groups"] = params.get("idGroups") or ""
        return return_code_message(int(job.job_id))

    def _prepare(self, list_id: int, list_guid: str, counters: dict[str, int]) -> SimJob:
        """A prepared (not started) process holding only its counters, never the subscribers."""
        job = self.create_job({"params": {"list_id": list_id, "list_guid": list_guid}, "started": False})
        job.data["counters"] = counters
        return job

    def start_process(self, params: dict[str, Any]) -> str:
        code, job = self._job_for(params)
        if code:
            return return_code_message(code)
        assert job is not None
        busy = self._busy_code(job)
        if busy:
            return return_code_message(busy)
        self._start(job)
        return return_code_message(0)

    def start_import_processes(self, params: dict[str, Any]) -> str:
        """ "WSMailUpImport.StartImportProcesses" for one or more lists (``;``-separated strings).

        With ``xmlDoc``: a new process per list, started at once; without: every prepared process of
        the lists, in the order they were prepared (MailUp runs them one after the other). Busy while
        another import runs, with StartProcess's codes (inferred: the page says only that the call fails).
        """
        ids = [part.strip() for part in (params.get("listsIDs") or "").split(";")]
        guids = [part.strip() for part in (params.get("listsGUIDs") or "").split(";")]
        if len(ids) != len(guids):
            return return_code_message(-100)
        for list_id, guid in zip(ids, guids, strict=True):
            code = self._list_code({"idList": list_id, "listGUID": guid})
            if code:
                return return_code_message(code)
        lists = {(int(list_id), guid.lower()) for list_id, guid in zip(ids, guids, strict=True)}
        if params.get("xmlDoc") is not None:
            counters = subscriber_counters(params["xmlDoc"])
            if isinstance(counters, int):
                return return_code_message(counters)
            jobs = [self._prepare(list_id, guid, counters) for list_id, guid in sorted(lists)]
        else:
            jobs = [
                job
                for job in self.state.jobs[self.name].values()
                if not job.started
                and (int(job.params.get("list_id", -1)), str(job.params.get("list_guid", "")).lower()) in lists
            ]
        for job in jobs:
            busy = self._busy_code(job)
            if busy:
                return return_code_message(busy)
        for job in sorted(jobs, key=lambda job: int(job.job_id)):
            self._start(job)
        return return_code_message(0)

    def _busy_code(self, job: SimJob) -> int:
        """ "WSMailUpImport.StartProcess": -601 already running for the list, -602 for a different list."""
        running = [other for other in self._running() if other is not job]
        if not running:
            return 0
        same_list = any(str(other.params.get("list_id")) == str(job.params.get("list_id")) for other in running)
        return -601 if same_list else -602

    @staticmethod
    def _start(job: SimJob) -> None:
        if not job.started:
            job.script = default_script(job.data.get("counters"))
            job.started = True
            job.data["started_by_call"] = True

    def _running(self) -> list[SimJob]:
        """Imports started with StartProcess whose terminal step no poll has shown yet."""
        return [
            job
            for job in self.state.jobs[self.name].values()
            if job.data.get("started_by_call")
            and not (job.polls and job.script[min(job.polls, len(job.script)) - 1]["state"] in TERMINAL_STATES)
        ]

    def process_details(self, job: SimJob, step: dict[str, Any]) -> str:
        """Render a scripted step as the vendor page's GetProcessDetails message."""
        counters = self._final_counters(job)
        terminal = step["state"] in ("succeeded", "failed")
        scale = 1.0 if terminal else int(step.get("progress", 0)) / 100
        if job.started and "StartDate" not in job.data:
            job.data["StartDate"] = _local_time()
        if terminal and "EndDate" not in job.data:
            job.data["EndDate"] = _local_time()
        confirm = bool(job.params.get("confirm"))
        sent = bool(job.params.get("confirmation_sent")) if confirm else None
        fields = {
            "StartDate": job.data.get("StartDate", "") if job.started else "",
            "EndDate": job.data.get("EndDate", "") if terminal else "",
            "TotalContacts": int(counters.get("total", 0)),
            "NewMobile": int(counters.get("new_mobile", 0) * scale),
            "NewEmail": int(counters.get("new_email", 0) * scale),
            "OptOutMobile": int(counters.get("optout_mobile", 0) * scale),
            "OptOutEmail": int(counters.get("optout_email", 0) * scale),
            "ExistingMobile": int(counters.get("existing_mobile", 0) * scale),
            "ExistingEmail": int(counters.get("existing_email", 0) * scale),
            "StatusCode": step.get("vendor_status") or STATUS_CODE_BY_STATE[step["state"]],
            "IsRunning": "True" if step["state"] == "running" else "False",
            "ConfirmationEmail": "True" if confirm else "False",
            "ConfirmationSent": "" if sent is None else str(sent and terminal),
        }
        fields.update(step.get("fields") or {})
        rendered = " ".join(
            (CONFIRMATION_COMMENTS[sent] + " " if name == "ConfirmationSent" else "")
            + f"<{name}>{escape(str(value))}</{name}>"
            for name, value in fields.items()
        )
        body = f'<ReturnCode>0</ReturnCode> <ImportProcess idProcess="{job.job_id}"> {rendered} </ImportProcess>'
        return mailup_message(body, declaration=job.params.get("xml_declaration", True))

    @staticmethod
    def _final_counters(job: SimJob) -> dict[str, Any]:
        for step in reversed(job.script):
            if step.get("counters"):
                counters: dict[str, Any] = step["counters"]
                return counters
        return dict(job.data.get("counters") or {})
