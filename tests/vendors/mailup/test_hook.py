"""MailUpHook over a real socket against the simulator (sync and async): the WSDL fetched once through
the shared transport, zeep's envelopes, the simulator's SOAP answers, typed errors, the start-import helper."""

from __future__ import annotations

import asyncio
import json
from xml.sax.saxutils import escape

import pytest
import requests
from lxml import etree

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
)
from airflow_import_status.hooks.mailup import MailUpHook
from airflow_import_status.result import ImportState
from airflow_import_status.runtime import RUNTIME
from airflow_import_status.simulators.mailup import PASSWORD, USER, MailUpSimulator
from airflow_import_status.vendors.mailup.codec import ListBusyError, parse_process_details
from airflow_import_status.vendors.mailup.spec import LEGACY_SOAP_NAMESPACE
from tests.vendors.mailup.test_codec import COUNTERS, LIST, LIST_GUID, SOAP_FAULT

# ----- the simulator's WSDL and SOAP answers ---------------------------------------------------------------
WSDL_NS = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "s": "http://www.w3.org/2001/XMLSchema",
}


def test_wsdl_is_the_real_interface_with_the_address_a_proxied_asmx_writes(simulator_server):
    response = requests.get(f"{simulator_server.url}/mailup/Services/WSMailUpImport.asmx?WSDL", timeout=10)
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    assert root.get("targetNamespace") == "http://ws.mailupnet.it/"
    [address] = root.xpath("//soap:address/@location", namespaces=WSDL_NS)
    host = simulator_server.url.split("://")[1]
    assert address == f"http://{host}/Services/WSMailupImport.asmx"  # not where the service is reached
    assert set(root.xpath("//wsdl:service/wsdl:port/@name", namespaces=WSDL_NS)) == {
        "WSMailUpImportSoap",
        "WSMailUpImportSoap12",
        "WSMailUpImportHttpGet",
        "WSMailUpImportHttpPost",
    }
    assert set(root.xpath("//wsdl:portType[@name='WSMailUpImportSoap']/wsdl:operation/@name", namespaces=WSDL_NS)) == {
        "GetProcessDetails",
        "NewImportProcess",
        "StartImportProcesses",
        "StartProcess",
        "CreateGroup",
        "GetNlLists",
    }

    def parameters(operation: str) -> list[tuple[str, str]]:
        path = f"//s:schema/s:element[@name='{operation}']//s:element"
        return [(e.get("name"), e.get("type")) for e in root.xpath(path, namespaces=WSDL_NS)]

    assert ("idGroups", "s:string") in parameters("NewImportProcess")
    assert "idGroup" not in dict(parameters("NewImportProcess"))
    assert len(parameters("NewImportProcess")) == 12
    assert len(parameters("StartImportProcesses")) == 11
    results = root.xpath(
        "//s:schema/s:element[substring(@name, string-length(@name) - 7) = 'Response']", namespaces=WSDL_NS
    )
    assert len(results) == 6
    assert {r.xpath(".//s:element/@type", namespaces=WSDL_NS)[0] for r in results} == {"s:string"}


def _raw_call(simulator_server, operation: str, params: str, action: str | None = None) -> requests.Response:
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ws="http://ws.mailupnet.it/">'
        f"<soapenv:Header><ws:Authentication><ws:User>{USER}</ws:User><ws:Password>{PASSWORD}</ws:Password>"
        f"</ws:Authentication></soapenv:Header><soapenv:Body><ws:{operation}>{params}</ws:{operation}>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    return requests.post(
        f"{simulator_server.url}/mailup/Services/WSMailUpImport.asmx",
        data=envelope,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"http://ws.mailupnet.it/{action or operation}"',
        },
        timeout=10,
    )


NEW_IMPORT_FLAGS = (
    "<ws:importType>1</ws:importType><ws:mobileInputType>2</ws:mobileInputType><ws:asPending>false</ws:asPending>"
    "<ws:ConfirmEmail>false</ws:ConfirmEmail><ws:asOptOut>false</ws:asOptOut><ws:forceOptIn>false</ws:forceOptIn>"
    "<ws:replaceGroups>false</ws:replaceGroups><ws:idConfirmNL>0</ws:idConfirmNL>"
)


@pytest.mark.parametrize(
    ("groups", "refusal"),
    [
        ("<ws:idGroup>0</ws:idGroup>", "<idGroup> is not a parameter of NewImportProcess"),
        ("", None),
        ("<ws:idGroups>3,4</ws:idGroups>", None),
    ],
    ids=["idGroup-int", "no-groups", "idGroups-string"],
)
def test_simulator_checks_parameters_as_the_wsdl_declares_them(sim, simulator_server, groups, refusal):
    params = (
        f"<ws:idList>1</ws:idList><ws:listGUID>{LIST_GUID}</ws:listGUID><ws:xmlDoc>&lt;subscribers/&gt;</ws:xmlDoc>"
    )
    response = _raw_call(simulator_server, "NewImportProcess", params + groups + NEW_IMPORT_FLAGS)
    if refusal:
        assert response.status_code == 500
        assert b"<faultcode>soap:Client</faultcode>" in response.content
        assert refusal.encode().replace(b"<", b"&lt;").replace(b">", b"&gt;") in response.content
    else:
        assert response.status_code == 200, response.text


def _start_import_processes(simulator_server, xml_doc: str | None = None) -> str:
    """StartImportProcesses for list 1; the MailUp message's ReturnCode."""
    doc = f"<ws:xmlDoc>{escape(xml_doc)}</ws:xmlDoc>" if xml_doc is not None else ""
    params = (
        f"<ws:listsIDs>1</ws:listsIDs><ws:listsGUIDs>{LIST_GUID}</ws:listsGUIDs>{doc}<ws:groupsIDs></ws:groupsIDs>"
        "<ws:importType>1</ws:importType><ws:mobileInputType>2</ws:mobileInputType><ws:asPending>false</ws:asPending>"
        "<ws:ConfirmEmail>false</ws:ConfirmEmail><ws:asOptOut>false</ws:asOptOut><ws:forceOptIn>false</ws:forceOptIn>"
        "<ws:replaceGroups>false</ws:replaceGroups>"
    )
    response = _raw_call(simulator_server, "StartImportProcesses", params)
    assert response.status_code == 200, response.text
    message = etree.fromstring(response.content).findtext(".//{http://ws.mailupnet.it/}StartImportProcessesResult")
    return etree.fromstring(message).findtext(".//ReturnCode")


def test_simulator_start_import_processes_with_and_without_xml_doc(sim, simulator_server):
    hook = MailUpHook()
    assert _start_import_processes(simulator_server) == "0", "nothing prepared: nothing to start"
    assert (
        _start_import_processes(simulator_server, '<subscribers><subscriber email="a@example.com"/></subscribers>')
        == "0"
    )
    assert _start_import_processes(simulator_server, "<subscribers/>") == "-601", "MailUp runs one import at a time"
    with pytest.raises(ListBusyError, match="-601"):
        hook.start_import(1, LIST_GUID, [{"email": "b@example.com"}])
    assert _start_import_processes(simulator_server, "<subscribers") == "-402", "convert xml to csv failed"


def test_simulator_checks_types_and_soapaction(sim, simulator_server):
    bad_int = _raw_call(
        simulator_server, "GetProcessDetails", "<ws:idList>one</ws:idList><ws:idProcess>1</ws:idProcess>"
    )
    assert bad_int.status_code == 500 and b"must be xs:int" in bad_int.content
    missing = _raw_call(simulator_server, "GetProcessDetails", f"<ws:listGUID>{LIST_GUID}</ws:listGUID>")
    assert missing.status_code == 500 and b"needs &lt;idList&gt;" in missing.content
    wrong_action = _raw_call(simulator_server, "GetProcessDetails", "", action="StartProcess")
    assert wrong_action.status_code == 500 and b"SOAPAction" in wrong_action.content


def test_simulator_answers_the_seed_message_escaped_in_a_soap_envelope(sim, simulator_server):
    job = sim.create_job(
        "mailup", params={**LIST, "confirm": True, "xml_declaration": False}, counters={"new_email": 1}, polls=1
    )
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ws="http://ws.mailupnet.it/">'
        f"<soapenv:Header><ws:Authentication><ws:User>{USER}</ws:User><ws:Password>{PASSWORD}</ws:Password>"
        "<ws:encType>UTF-8</ws:encType></ws:Authentication></soapenv:Header><soapenv:Body><ws:GetProcessDetails>"
        f"<ws:idList>1</ws:idList><ws:listGUID>{LIST_GUID}</ws:listGUID><ws:idProcess>{job['job_id']}</ws:idProcess>"
        "</ws:GetProcessDetails></soapenv:Body></soapenv:Envelope>"
    )
    response = requests.post(
        f"{simulator_server.url}/mailup/Services/WSMailUpImport.asmx",
        data=envelope,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"http://ws.mailupnet.it/GetProcessDetails"'},
        timeout=10,
    )
    assert response.status_code == 200
    assert b"&lt;mailupMessage&gt; &lt;mailupBody&gt; &lt;ReturnCode&gt;0&lt;/ReturnCode&gt;" in response.content
    [result] = etree.fromstring(response.content).xpath("//*[local-name()='GetProcessDetailsResult']/text()")
    prefix = '<mailupMessage> <mailupBody> <ReturnCode>0</ReturnCode> <ImportProcess idProcess="{}"> <StartDate>'
    assert result.startswith(prefix.format(job["job_id"]))
    assert "<ConfirmationEmail>True</ConfirmationEmail> <!-- Value of ConfirmationSent field is False" in result
    assert parse_process_details(result).details["ConfirmationSent"] is False


# ----- the hook through zeep over a real socket ------------------------------------------------------------
def _status(hook: MailUpHook, job_id, use_async: bool, list_id=1, list_guid=LIST_GUID):
    if use_async:
        return asyncio.run(hook.aget_import_status(list_id, list_guid, job_id))
    return hook.get_import_status(list_id, list_guid, job_id)


def _posts(sim) -> list[dict]:
    return [r for r in sim.requests("mailup") if r["method"] == "POST"]


@pytest.fixture
def custom_conn(simulator_server, monkeypatch):
    """Define an extra mailup connection in the environment, pointing at the simulator."""

    def define(conn_id: str, **fields) -> str:
        base = MailUpSimulator.connection(simulator_server.url)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**base, **fields}))
        return conn_id

    return define


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_progress_then_success(sim, use_async):
    job = sim.create_job("mailup", params=LIST, counters=COUNTERS, polls=3)
    hook = MailUpHook()
    results = [_status(hook, job["job_id"], use_async) for _ in range(3)]
    assert [r.state for r in results] == [ImportState.PENDING, ImportState.RUNNING, ImportState.SUCCEEDED]
    final = results[-1]
    assert (final.total, final.inserted, final.updated, final.imported, final.opted_out) == (12, 6, 4, 10, 2)
    assert final.job_id == job["job_id"]
    assert final.started_at.endswith("+00:00") and final.finished_at is not None
    assert final.details["ConfirmationSent"] is None
    assert len(_posts(sim)) == 3


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_confirmation_variants_round_trip(sim, use_async):
    job = sim.create_job("mailup", params={**LIST, "confirm": True, "confirmation_sent": True}, polls=1)
    result = _status(MailUpHook(), job["job_id"], use_async)
    assert (result.details["ConfirmationEmail"], result.details["ConfirmationSent"]) == (True, True)


def test_wsdl_is_fetched_once_per_process_for_both_paths(sim):
    RUNTIME.reset()
    job = sim.create_job("mailup", params=LIST, polls=5)

    async def concurrent_polls():
        hook = MailUpHook()
        return await asyncio.gather(*(hook.aget_import_status(1, LIST_GUID, job["job_id"]) for _ in range(3)))

    asyncio.run(concurrent_polls())
    MailUpHook().get_import_status(1, LIST_GUID, job["job_id"])
    MailUpHook().get_import_status(1, LIST_GUID, job["job_id"])
    methods = [r["method"] for r in sim.requests("mailup")]
    assert methods.count("GET") == 1
    assert methods.count("POST") == 5


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_wrong_password_is_an_authentication_error_sent_once(sim, custom_conn, use_async):
    job = sim.create_job("mailup", params=LIST, polls=1)
    hook = MailUpHook(custom_conn("mailup_wrong_password", password="not-the-password"))
    with pytest.raises(AuthenticationError, match="ReturnCode -1002: authentication failed: the password"):
        _status(hook, job["job_id"], use_async)
    assert len(_posts(sim)) == 1


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_unknown_process_is_not_found(sim, use_async):
    with pytest.raises(JobNotFoundError, match="-501: idProcess not found"):
        _status(MailUpHook(), 987654, use_async)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_list_errors_are_bad_requests(sim, use_async):
    job = sim.create_job("mailup", params=LIST, polls=1)
    with pytest.raises(BadRequestError, match="-101"):
        _status(MailUpHook(), job["job_id"], use_async, list_id=2)
    with pytest.raises(BadRequestError, match="-102"):
        _status(MailUpHook(), job["job_id"], use_async, list_guid="not-a-guid")


def test_hidden_process_becomes_visible(sim):
    job = sim.create_job("mailup", params=LIST, polls=1, hidden_polls=1)
    with pytest.raises(JobNotFoundError):
        MailUpHook().get_import_status(1, LIST_GUID, job["job_id"])
    assert MailUpHook().get_import_status(1, LIST_GUID, job["job_id"]).state is ImportState.SUCCEEDED


def test_legacy_namespace_is_sent_where_configured(sim, custom_conn):
    """The simulator is a modern account: a tempuri.org header reads as missing credentials."""
    job = sim.create_job("mailup", params=LIST, polls=1)
    hook = MailUpHook(custom_conn("mailup_legacy", extra=json.dumps({"soap_namespace": LEGACY_SOAP_NAMESPACE})))
    with pytest.raises(AuthenticationError, match="-1013: authentication failed: authentication data are missing"):
        hook.get_import_status(1, LIST_GUID, job["job_id"])


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        ({"kind": "status", "status": 503, "headers": {"Retry-After": "7"}}, TransientVendorError, "HTTP 503"),
        (
            {"kind": "status", "status": 500, "body": SOAP_FAULT, "content_type": "text/xml"},
            TransientVendorError,
            "SOAP fault soap:Server: Server was unable to process request",
        ),
        ({"kind": "status", "status": 401, "body": "<html>401</html>"}, AuthenticationError, "HTTP 401"),
        ({"kind": "disconnect"}, TransientVendorError, "failed"),
        ({"kind": "truncate", "keep": 120}, VendorPayloadError, "unreadable SOAP answer"),
        (
            {"kind": "body", "body": "<html>maintenance</html>", "content_type": "text/html"},
            VendorPayloadError,
            "unreadable",
        ),
    ],
    ids=["503", "soap-fault", "401", "disconnect", "truncated", "html"],
)
def test_transport_faults_are_typed(sim, use_async, fault, error, match):
    job = sim.create_job("mailup", params=LIST, polls=1)
    hook = MailUpHook()
    _status(hook, job["job_id"], use_async)  # the WSDL is cached: the fault hits the SOAP call
    sim.add_fault("mailup", **fault)
    with pytest.raises(error, match=match) as caught:
        _status(hook, job["job_id"], use_async)
    if fault.get("status") == 503:
        assert caught.value.retry_after == 7


def test_wsdl_errors_are_typed_and_not_cached(sim, custom_conn):
    RUNTIME.reset()
    sim.add_fault("mailup", kind="status", status=502)
    with pytest.raises(TransientVendorError, match="HTTP 502"):
        asyncio.run(MailUpHook().aget_import_status(1, LIST_GUID, 1))
    missing = MailUpHook(custom_conn("mailup_wrong_console", host=f"{sim.base_url}/nowhere"))
    with pytest.raises(PermanentVendorError, match=r"no MailUp WSDL at .*check the console URL"):
        missing.get_import_status(1, LIST_GUID, 1)
    job = sim.create_job("mailup", params=LIST, polls=1)
    assert MailUpHook().get_import_status(1, LIST_GUID, job["job_id"]).state is ImportState.SUCCEEDED


def test_test_connection(sim, custom_conn):
    assert MailUpHook().test_connection() == (True, f"Connected to MailUp at {sim.base_url}/mailup as {USER}")
    ok, message = MailUpHook(custom_conn("mailup_bad_user", login="nobody")).test_connection()
    assert not ok and "-1001" in message


def test_start_import_then_status(sim):
    hook = MailUpHook()
    process_id = hook.start_import(1, LIST_GUID, [{"email": "a@example.com"}, {"email": "b@example.com"}])
    assert process_id > 0
    results = [hook.get_import_status(1, LIST_GUID, process_id) for _ in range(3)]
    assert results[-1].state is ImportState.SUCCEEDED
    assert (results[-1].total, results[-1].inserted) == (2, 2)
    with pytest.raises(BadRequestError, match="-102"):
        hook.start_import(1, "bad-guid", [{"email": "a@example.com"}])


def test_start_import_sends_the_real_parameters(sim):
    """Against the real-shaped WSDL: idGroups a comma-separated string (the old idGroup int is a TypeError)."""
    hook = MailUpHook()
    process_id = hook.start_import(1, LIST_GUID, [{"email": "a@example.com"}], group_ids=[3, 4])
    job = sim.job("mailup", str(process_id))
    assert job["started"] is True
    assert job["data"]["id_groups"] == "3,4"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_completed_while_still_running_keeps_waiting(sim, use_async):
    script = [
        {"state": "succeeded", "progress": 100, "fields": {"IsRunning": "True"}, "counters": COUNTERS},
        {"state": "succeeded", "progress": 100, "counters": COUNTERS},
    ]
    job = sim.create_job("mailup", params=LIST, script=script)
    hook = MailUpHook()
    first, second = (_status(hook, job["job_id"], use_async) for _ in range(2))
    assert (first.state, first.vendor_status, first.details["IsRunning"]) == (ImportState.RUNNING, "3", True)
    assert "IsRunning is True" in first.warnings[0]
    assert (second.state, second.details["IsRunning"]) == (ImportState.SUCCEEDED, False)


def test_a_busy_list_is_a_retryable_error(sim):
    hook = MailUpHook()
    first = hook.start_import(1, LIST_GUID, [{"email": "a@example.com"}])
    with pytest.raises(
        TransientVendorError, match=r"-601: .*already running for the list.*one import at a time"
    ) as busy:
        hook.start_import(1, LIST_GUID, [{"email": "b@example.com"}])
    assert type(busy.value) is ListBusyError
    assert "is prepared, not started" in str(busy.value)
    with pytest.raises(TransientVendorError, match=r"-602: .*a different list"):
        hook.start_import(7, LIST_GUID.replace("0001", "0007"), [{"email": "c@example.com"}])
    for _ in range(3):  # the first import finishes: the list takes the next one
        hook.get_import_status(1, LIST_GUID, first)
    assert hook.start_import(1, LIST_GUID, [{"email": "b@example.com"}]) > first
