"""MailUp: pure parser (seed responses, error families), hook through zeep over a real socket (sync and
async), the simulator's WSDL and SOAP answers, the sensor in all three modes, and the example DAG."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

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
from airflow_import_status.hooks.mailup import (
    LEGACY_SOAP_NAMESPACE,
    MailUpHook,
    authentication_header,
    forget_wsdl_documents,
    parse_mailup_date,
    parse_process_details,
    parse_return_code,
    parse_wsdl,
    settings_from_connection,
    subscribers_xml,
)
from airflow_import_status.result import ImportState
from airflow_import_status.sensors.mailup import MailUpImportSensor
from airflow_import_status.simulators.mailup import PASSWORD, USER, MailUpSimulator
from tests.sensor_harness import MODES, run_sensor

SEED_RESPONSE_1 = (
    '<mailupMessage> <mailupBody> <ReturnCode>0</ReturnCode> <ImportProcess idProcess="275"> '
    "<StartDate>30/10/2012 15.39.12</StartDate> <EndDate>30/10/2012 15.39.24</EndDate> "
    "<TotalContacts>0</TotalContacts> <NewMobile>0</NewMobile> <NewEmail>0</NewEmail> "
    "<OptOutMobile>0</OptOutMobile> <OptOutEmail>0</OptOutEmail> <ExistingMobile>0</ExistingMobile> "
    "<ExistingEmail>0</ExistingEmail> <StatusCode>3</StatusCode> <IsRunning>False</IsRunning> "
    "<ConfirmationEmail>False</ConfirmationEmail> <!-- ConfirmationSent is empty if Confirmation request "
    "was not set during import --> <ConfirmationSent></ConfirmationSent> </ImportProcess> </mailupBody> "
    "</mailupMessage>"
)
SEED_RESPONSE_2 = (
    '<mailupMessage> <mailupBody> <ReturnCode>0</ReturnCode> <ImportProcess idProcess="4"> '
    "<StartDate>14/06/2013 10.36.19</StartDate> <EndDate>14/06/2013 10.36.25</EndDate> "
    "<TotalContacts>0</TotalContacts> <NewMobile>1</NewMobile> <NewEmail>1</NewEmail> "
    "<OptOutMobile>0</OptOutMobile> <OptOutEmail>0</OptOutEmail> <ExistingMobile>0</ExistingMobile> "
    "<ExistingEmail>0</ExistingEmail> <StatusCode>3</StatusCode> <IsRunning>False</IsRunning> "
    "<ConfirmationEmail>True</ConfirmationEmail> <!-- When Confirmation request (double optin) is "
    "required the process details will contain ConfirmationEmail=true and ConfirmationSent will have a "
    "value (True or False) --> <!-- Please note that when you set confirm=1 (true) during import process "
    "the confirmation email is not automatically sent, it is simply enqueued. Then you will have to "
    "manually send enqueued message by selecting Email > SendStatus > Send Now on your MailUp console -->"
    " <!-- Value of ConfirmationSent field is False until MailUp user proceeds with manually sending the "
    "enqueued confirmation requests --> <ConfirmationSent>False</ConfirmationSent> </ImportProcess> "
    "</mailupBody> </mailupMessage>"
)
SEED_RESPONSE_3 = (
    '<mailupMessage> <mailupBody> <ReturnCode>0</ReturnCode> <ImportProcess idProcess="4"> '
    "<StartDate>14/06/2013 10.36.19</StartDate> <EndDate>14/06/2013 10.36.25</EndDate> "
    "<TotalContacts>0</TotalContacts> <NewMobile>1</NewMobile> <NewEmail>1</NewEmail> "
    "<OptOutMobile>0</OptOutMobile> <OptOutEmail>0</OptOutEmail> <ExistingMobile>0</ExistingMobile> "
    "<ExistingEmail>0</ExistingEmail> <StatusCode>3</StatusCode> <IsRunning>False</IsRunning> "
    "<ConfirmationEmail>True</ConfirmationEmail> <!-- User has manually sent enqueued confirmation "
    "messages --> <ConfirmationSent>True</ConfirmationSent> </ImportProcess> </mailupBody> "
    "</mailupMessage>"
)

RUBY_DECLARATION = '<?xml version="1.0" encoding="windows-1252" ?>'
LIST_GUID = "00000000-aaaa-bbbb-cccc-000123456789"
LIST = {"list_id": 1, "list_guid": LIST_GUID}
COUNTERS = {
    "total": 12,
    "new_email": 5,
    "new_mobile": 1,
    "existing_email": 3,
    "existing_mobile": 1,
    "optout_email": 1,
    "optout_mobile": 1,
}


def _message(body: str) -> str:
    return f"<mailupMessage> <mailupBody> {body} </mailupBody> </mailupMessage>"


def _with_process(**fields: str) -> str:
    """Seed response 1 with some ImportProcess fields replaced."""
    message = SEED_RESPONSE_1
    for name, value in fields.items():
        start, end = message.index(f"<{name}>"), message.index(f"</{name}>")
        message = message[: start + len(name) + 2] + value + message[end:]
    return message


# ----- the pure parser, from the seed's three responses ---------------------------------------------------
def test_seed_response_without_confirmation_request():
    result = parse_process_details(SEED_RESPONSE_1)
    assert result.vendor == "mailup"
    assert result.job_id == "275"
    assert result.state is ImportState.SUCCEEDED
    assert result.vendor_status == "3"
    assert (result.total, result.inserted, result.updated, result.imported, result.opted_out) == (0, 0, 0, 0, 0)
    assert result.invalid is None and result.failed is None and result.progress_percent is None
    # Europe/Rome is UTC+1 on 30 October 2012 (summer time ended on the 28th).
    assert result.started_at == "2012-10-30T14:39:12+00:00"
    assert result.finished_at == "2012-10-30T14:39:24+00:00"
    assert result.details == {
        "NewEmail": 0,
        "NewMobile": 0,
        "ExistingEmail": 0,
        "ExistingMobile": 0,
        "OptOutEmail": 0,
        "OptOutMobile": 0,
        "IsRunning": False,
        "ConfirmationEmail": False,
        "ConfirmationSent": None,
    }
    assert result.warnings == [] and result.message is None


def test_seed_response_with_confirmation_still_to_send():
    result = parse_process_details(SEED_RESPONSE_2)
    assert result.job_id == "4"
    assert result.state is ImportState.SUCCEEDED
    assert (result.total, result.inserted, result.updated, result.imported) == (0, 2, 0, 2)
    # Europe/Rome is UTC+2 in June.
    assert (result.started_at, result.finished_at) == ("2013-06-14T08:36:19+00:00", "2013-06-14T08:36:25+00:00")
    assert result.details["ConfirmationEmail"] is True
    assert result.details["ConfirmationSent"] is False
    assert (result.details["NewEmail"], result.details["NewMobile"]) == (1, 1)


def test_seed_response_with_confirmation_sent():
    result = parse_process_details(SEED_RESPONSE_3)
    assert result.details["ConfirmationEmail"] is True
    assert result.details["ConfirmationSent"] is True
    assert result.imported == 2


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_windows_1252_declaration_as_the_ruby_gem_shows(as_bytes):
    message = RUBY_DECLARATION + SEED_RESPONSE_2.replace("<NewEmail>1<", "<NewEmail>7<")
    result = parse_process_details(message.encode("cp1252") if as_bytes else message)
    assert result.inserted == 8


def test_account_timezone_is_configurable():
    assert parse_process_details(SEED_RESPONSE_1, timezone="UTC").started_at == "2012-10-30T15:39:12+00:00"
    assert parse_mailup_date("14/06/2013 10.36.19", "StartDate", "America/New_York") == "2013-06-14T14:36:19+00:00"
    assert parse_mailup_date("", "EndDate") is None


def test_counters_map_to_normalized_keys():
    message = _with_process(
        TotalContacts="40", NewEmail="10", NewMobile="2", ExistingEmail="7", ExistingMobile="1",
        OptOutEmail="4", OptOutMobile="3",
    )  # fmt: skip
    result = parse_process_details(message)
    assert (result.total, result.inserted, result.updated, result.imported, result.opted_out) == (40, 12, 8, 20, 7)


@pytest.mark.parametrize(
    ("status_code", "state"),
    [("1", ImportState.PENDING), ("2", ImportState.RUNNING), ("3", ImportState.SUCCEEDED), ("4", ImportState.FAILED)],
)
def test_documented_status_codes(status_code, state):
    result = parse_process_details(_with_process(StatusCode=status_code, EndDate=""))
    assert result.state is state
    assert result.finished_at is None
    assert (result.message is not None) is (state is ImportState.FAILED)


def test_unknown_status_code_keeps_waiting_with_a_warning():
    result = parse_process_details(_with_process(StatusCode="7"))
    assert result.state is ImportState.PENDING
    assert result.vendor_status == "7"
    assert "unrecognized import status '7'" in result.warnings[0]


@pytest.mark.parametrize("code", [-1000, -1001, -1002, -1003, -1011, -1013, -1014])
def test_authentication_codes_are_authentication_errors(code):
    with pytest.raises(AuthenticationError, match=f"ReturnCode {code}: authentication failed"):
        parse_process_details(_message(f"<ReturnCode>{code}</ReturnCode>"))


@pytest.mark.parametrize(("code", "meaning"), [(-100, "unrecognized"), (-101, "verification"), (-102, "GUID")])
def test_list_codes_are_bad_requests(code, meaning):
    with pytest.raises(BadRequestError, match=f"ReturnCode {code}: .*{meaning}"):
        parse_process_details(_message(f"<ReturnCode>{code}</ReturnCode>"))


def test_unknown_process_is_job_not_found():
    with pytest.raises(JobNotFoundError, match="ReturnCode -501: idProcess not found"):
        parse_process_details(_message("<ReturnCode>-501</ReturnCode>"))


def test_unrecognized_error_is_transient():
    with pytest.raises(TransientVendorError, match="ReturnCode -500: unrecognized error") as caught:
        parse_process_details(_message("<ReturnCode>-500</ReturnCode>"))
    assert not isinstance(caught.value, VendorPayloadError)


def test_undocumented_negative_code_fails_at_once_quoting_the_code_and_detail():
    with pytest.raises(PermanentVendorError, match=r"ReturnCode -42: .*\(Description=busy list\)") as caught:
        parse_process_details(_message("<ReturnCode>-42</ReturnCode> <Description>busy list</Description>"))
    assert type(caught.value) is PermanentVendorError


def test_return_code_only_methods():
    assert parse_return_code(_message("<ReturnCode>1234</ReturnCode>"), "NewImportProcess") == 1234
    with pytest.raises(AuthenticationError):
        parse_return_code(_message("<ReturnCode>-1002</ReturnCode>"), "StartProcess")


@pytest.mark.parametrize(
    "message",
    [
        None,
        "",
        "not xml at all",
        "<html><body>Service Unavailable</body></html>",
        "<mailupMessage><other/></mailupMessage>",
        _message("<ImportProcess idProcess='1'/>"),
        _message("<ReturnCode>zero</ReturnCode>"),
        _message("<ReturnCode>0</ReturnCode>"),
        _message("<ReturnCode>0</ReturnCode> <ImportProcess><StatusCode>3</StatusCode></ImportProcess>"),
        _with_process(NewEmail="-1"),
        _with_process(TotalContacts="many"),
        _with_process(StartDate="2012-10-30T15:39:12"),
        _with_process(IsRunning="maybe"),
        '<!DOCTYPE x [<!ENTITY e "boom">]><mailupMessage/>',
    ],
)
def test_malformed_messages_are_payload_errors(message):
    with pytest.raises(VendorPayloadError):
        parse_process_details(message)


# ----- settings and the Authentication header ------------------------------------------------------------
def _conn(**fields):
    base = {
        "conn_id": "mailup_test",
        "host": "https://a1b2c3.s99.it/",
        "login": "a1234",
        "password": "secret",
        "port": None,
        "schema": None,
        "extra_dejson": {},
    }
    return SimpleNamespace(**{**base, **fields})


def test_settings_defaults_and_wsdl_url():
    settings = settings_from_connection(_conn())
    assert settings.wsdl_url == "https://a1b2c3.s99.it/Services/WSMailUpImport.asmx?WSDL"
    assert (settings.timezone, settings.soap_namespace, settings.enc_type) == (
        "Europe/Rome",
        "http://ws.mailupnet.it/",
        "UTF-8",
    )
    assert settings.secret_values() == ("secret",)


def test_authentication_header_in_the_configured_namespace():
    modern = etree.tostring(authentication_header(settings_from_connection(_conn()))).decode()
    assert modern == (
        '<ws:Authentication xmlns:ws="http://ws.mailupnet.it/"><ws:User>a1234</ws:User>'
        "<ws:Password>secret</ws:Password><ws:encType>UTF-8</ws:encType></ws:Authentication>"
    )
    legacy = authentication_header(
        settings_from_connection(_conn(extra_dejson={"soap_namespace": LEGACY_SOAP_NAMESPACE}))
    )
    assert etree.QName(legacy).namespace == LEGACY_SOAP_NAMESPACE
    assert [etree.QName(child).localname for child in legacy] == ["User", "Password"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"password": None}, "password"),
        ({"login": ""}, "API user"),
        ({"host": None}, "no host"),
        ({"host": "ftp://mailup.example"}, "http"),
        ({"extra_dejson": {"timezone": "Mars/Olympus"}}, "unknown timezone"),
    ],
)
def test_bad_connections_fail_clearly(fields, problem):
    with pytest.raises(PermanentVendorError, match=problem):
        settings_from_connection(_conn(**fields))


def test_subscribers_xml_escapes_values():
    xml = subscribers_xml([{"email": 'a"b@example.com', "Name": "Tom & <Jerry>"}])
    row = etree.fromstring(xml)[0]
    assert (row.get("email"), row.get("Name")) == ('a"b@example.com', "Tom & <Jerry>")


# ----- the simulator's WSDL and SOAP answers ---------------------------------------------------------------
def test_wsdl_points_at_the_simulator_itself(simulator_server):
    response = requests.get(f"{simulator_server.url}/mailup/Services/WSMailUpImport.asmx?WSDL", timeout=10)
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    ns = {"wsdl": "http://schemas.xmlsoap.org/wsdl/", "soap": "http://schemas.xmlsoap.org/wsdl/soap/"}
    [address] = root.xpath("//soap:address/@location", namespaces=ns)
    assert address == f"{simulator_server.url}/mailup/Services/WSMailUpImport.asmx"
    operations = set(root.xpath("//wsdl:portType/wsdl:operation/@name", namespaces=ns))
    assert {"GetProcessDetails", "NewImportProcess", "StartProcess"} <= operations


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
    forget_wsdl_documents()
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


SOAP_FAULT = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
    "<faultcode>soap:Server</faultcode><faultstring>Server was unable to process request.</faultstring>"
    "</soap:Fault></soap:Body></soap:Envelope>"
)


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
    forget_wsdl_documents()
    sim.add_fault("mailup", kind="status", status=502)
    with pytest.raises(TransientVendorError, match="HTTP 502"):
        asyncio.run(MailUpHook().aget_import_status(1, LIST_GUID, 1))
    missing = MailUpHook(custom_conn("mailup_wrong_console", host=f"{sim.base_url}/nowhere"))
    with pytest.raises(PermanentVendorError, match=r"no MailUp WSDL at .*check the console URL"):
        missing.get_import_status(1, LIST_GUID, 1)
    job = sim.create_job("mailup", params=LIST, polls=1)
    assert MailUpHook().get_import_status(1, LIST_GUID, job["job_id"]).state is ImportState.SUCCEEDED


@pytest.mark.parametrize(
    "content",
    [
        b"<html><body>Login</body></html>",
        b"not xml",
        b'<!DOCTYPE x [<!ENTITY a "b">]><x/>',
        b'<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/">'
        b'<wsdl:import namespace="x" location="http://elsewhere.example/x.wsdl"/></wsdl:definitions>',
    ],
    ids=["html", "not-xml", "dtd", "external-import"],
)
def test_unusable_wsdl_is_a_payload_error(content):
    with pytest.raises(VendorPayloadError, match="WSDL"):
        parse_wsdl(content, "https://a1b2c3.s99.it/Services/WSMailUpImport.asmx?WSDL")


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


# ----- the sensor through real Airflow, all three modes ---------------------------------------------------
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_sensor_success(sim, mode):
    job = sim.create_job("mailup", params=LIST, counters=COUNTERS, polls=3)
    run = run_sensor(MailUpImportSensor, mode, list_id=1, list_guid=LIST_GUID, process_id=int(job["job_id"]))
    assert run.state == "success"
    assert run.was_deferred is (mode == "deferrable")
    assert run.return_value["vendor"] == "mailup"
    assert run.return_value["state"] == "succeeded"
    assert run.return_value["job_id"] == job["job_id"]
    assert (run.return_value["imported"], run.return_value["opted_out"], run.return_value["total"]) == (10, 2, 12)
    assert run.import_result == run.return_value
    assert len(_posts(sim)) == 3


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_sensor_failed_import_fails_without_retry(sim, mode):
    job = sim.create_job("mailup", params=LIST, counters=COUNTERS, polls=2, fail=True)
    run = run_sensor(MailUpImportSensor, mode, list_id=1, list_guid=LIST_GUID, process_id=int(job["job_id"]), retries=2)
    assert run.state == "failed"
    assert run.try_number == 1
    assert run.import_result["state"] == "failed"
    assert run.import_result["vendor_status"] == "4"
    assert "Import Status page" in run.import_result["message"]


@pytest.mark.usefixtures("airflow_db")
def test_sensor_rides_out_a_soap_fault_then_succeeds(sim):
    job = sim.create_job("mailup", params=LIST, counters=COUNTERS, polls=2)
    sim.add_fault("mailup", kind="status", status=500, body=SOAP_FAULT, content_type="text/xml", times=2)
    run = run_sensor(MailUpImportSensor, "deferrable", list_id=1, list_guid=LIST_GUID, process_id=int(job["job_id"]))
    assert run.state == "success"
    assert [r["fault"] for r in sim.requests("mailup")][:2] == ["status", "status"]


@pytest.mark.usefixtures("airflow_db")
def test_sensor_wrong_password_fails_without_retrying(sim, custom_conn):
    job = sim.create_job("mailup", params=LIST, polls=1)
    conn_id = custom_conn("mailup_sensor_wrong_password", password="not-the-password")
    run = run_sensor(
        MailUpImportSensor, "deferrable", list_id=1, list_guid=LIST_GUID, process_id=int(job["job_id"]),
        mailup_conn_id=conn_id, retries=2,
    )  # fmt: skip
    assert run.state == "failed"
    assert run.try_number == 1
    assert len(_posts(sim)) == 1
