"""MailUp's codec: the pure parser (seed responses, error families), settings, the SOAP envelope
zeep builds offline from the WSDL, and the SOAP answer decoder."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from lxml import etree

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    ImportStatusError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
)
from airflow_import_status.result import ImportState
from airflow_import_status.simulators.mailup import WSDL_TEMPLATE, MailUpSimulator, soap_envelope
from airflow_import_status.transport import HttpResponse, Shared
from airflow_import_status.vendors.mailup.codec import (
    MAILUP_DATE_LENGTH,
    MAILUP_DATES_CACHED,
    ListBusyError,
    MailUpCodec,
    MailUpSettings,
    authentication_header,
    parse_mailup_date,
    parse_process_details,
    parse_return_code,
    parse_wsdl,
    status_request,
    subscriber_problem,
    subscribers_xml,
)
from airflow_import_status.vendors.mailup.codec import _mailup_date_utc as mailup_date_cache
from airflow_import_status.vendors.mailup.spec import LEGACY_SOAP_NAMESPACE, SPEC, MailUpJob
from airflow_import_status.vendors.spec import ConnectionFieldError

CODEC = MailUpCodec()

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
def _settings(**fields) -> MailUpSettings:
    base = {
        "conn_id": "mailup_test",
        "host": "https://a1b2c3.s99.it/",
        "login": "a1234",
        "password": "secret",
        "port": None,
        "schema": None,
        "extra_dejson": {},
    }
    return CODEC.settings(SPEC.connection.parse(SimpleNamespace(**{**base, **fields}), "mailup"))


def test_settings_defaults_and_endpoints():
    settings = _settings()
    assert settings.wsdl_url == "https://a1b2c3.s99.it/Services/WSMailUpImport.asmx?WSDL"
    assert settings.endpoint == "https://a1b2c3.s99.it/Services/WSMailUpImport.asmx"
    assert (settings.timezone, settings.soap_namespace, settings.enc_type) == (
        "Europe/Rome",
        "http://ws.mailupnet.it/",
        "UTF-8",
    )


def test_authentication_header_in_the_configured_namespace():
    modern = etree.tostring(authentication_header(_settings())).decode()
    assert modern == (
        '<ws:Authentication xmlns:ws="http://ws.mailupnet.it/"><ws:User>a1234</ws:User>'
        "<ws:Password>secret</ws:Password><ws:encType>UTF-8</ws:encType></ws:Authentication>"
    )
    legacy = authentication_header(_settings(extra_dejson={"soap_namespace": LEGACY_SOAP_NAMESPACE}))
    assert etree.QName(legacy).namespace == LEGACY_SOAP_NAMESPACE
    assert [etree.QName(child).localname for child in legacy] == ["User", "Password"]
    omitted = authentication_header(_settings(extra_dejson={"enc_type": "none"}))
    assert [etree.QName(child).localname for child in omitted] == ["User", "Password"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"password": None}, "password"),
        ({"login": ""}, "API user"),
        ({"host": None}, "Console URL"),
        ({"host": "ftp://mailup.example"}, "http"),
        ({"extra_dejson": {"timezone": "Mars/Olympus"}}, "unknown timezone"),
    ],
)
def test_bad_connections_fail_clearly(fields, problem):
    with pytest.raises(ConnectionFieldError, match=problem):
        _settings(**fields)


def test_subscribers_xml_escapes_values():
    xml = subscribers_xml([{"email": 'a"b@example.com', "Name": "Tom & <Jerry>"}])
    row = etree.fromstring(xml)[0]
    assert (row.get("email"), row.get("Name")) == ('a"b@example.com', "Tom & <Jerry>")


# ----- the SOAP envelope, built offline by zeep ------------------------------------------------------------
WSDL_URL = "https://a1b2c3.s99.it/Services/WSMailUpImport.asmx?WSDL"
ADVERTISED = "http://a1b2c3.s99.it/Services/WSMailupImport.asmx"


def _wsdl(address: str = ADVERTISED) -> bytes:
    return WSDL_TEMPLATE.replace("{{SOAP_ADDRESS}}", address).encode()


def _status_request(settings: MailUpSettings, job: MailUpJob):
    flow = CODEC.status_flow(settings, job)
    shared = next(flow)
    assert isinstance(shared, Shared) and shared.heavy
    assert shared.request.url == WSDL_URL
    return flow, flow.send(parse_wsdl(_wsdl(), WSDL_URL))


def test_status_request_goes_to_the_console_not_the_advertised_address():
    job = MailUpJob(list_id=1, list_guid=LIST_GUID, process_id=275)
    flow, request = _status_request(_settings(), job)
    assert request.method == "POST"
    assert request.url == "https://a1b2c3.s99.it/Services/WSMailUpImport.asmx"
    assert request.headers["SOAPAction"] == '"http://ws.mailupnet.it/GetProcessDetails"'
    assert request.headers["Content-Type"] == "text/xml; charset=utf-8"
    envelope = etree.fromstring(request.content)
    ns = {"soap": "http://schemas.xmlsoap.org/soap/envelope/", "ws": "http://ws.mailupnet.it/"}
    assert envelope.xpath("//ws:Authentication/ws:User/text()", namespaces=ns) == ["a1234"]
    assert envelope.xpath("//soap:Body/ws:GetProcessDetails/ws:idProcess/text()", namespaces=ns) == ["275"]
    assert envelope.xpath("//soap:Body/ws:GetProcessDetails/ws:listGUID/text()", namespaces=ns) == [LIST_GUID]
    answer = soap_envelope("GetProcessDetails", SEED_RESPONSE_1).encode()
    with pytest.raises(StopIteration) as done:
        flow.send(HttpResponse(200, {"content-type": "text/xml"}, answer, request.url))
    assert done.value.value.state is ImportState.SUCCEEDED


def _decode(body: bytes | str, status: int = 200, process_id: int = 275):
    body = body.encode() if isinstance(body, str) else body
    job = MailUpJob(list_id=1, list_guid=LIST_GUID, process_id=process_id)
    response = HttpResponse(status, {"content-type": "text/xml"}, body, "https://a1b2c3.s99.it/Services/X.asmx")
    return CODEC.decode_status(response, _settings(), job)


SOAP_FAULT = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
    "<faultcode>soap:Server</faultcode><faultstring>Server was unable to process request.</faultstring>"
    "</soap:Fault></soap:Body></soap:Envelope>"
)


def test_decode_status_reads_the_escaped_message():
    assert _decode(soap_envelope("GetProcessDetails", SEED_RESPONSE_1)).job_id == "275"


def test_soap_fault_in_http_500_is_transient():
    with pytest.raises(TransientVendorError, match="SOAP fault soap:Server: Server was unable"):
        _decode(SOAP_FAULT, status=500)


def test_http_404_names_the_console_url():
    with pytest.raises(PermanentVendorError, match="check the console URL") as caught:
        _decode("<html>not here</html>", status=404)
    assert type(caught.value) is PermanentVendorError


@pytest.mark.parametrize(
    "body",
    [
        "<html>maintenance</html>",
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>',
        soap_envelope("StartProcess", SEED_RESPONSE_1),
        soap_envelope("GetProcessDetails", "")[:150],
    ],
    ids=["html", "empty-body", "other-operation", "truncated"],
)
def test_unreadable_soap_answers_are_payload_errors(body):
    with pytest.raises(VendorPayloadError):
        _decode(body)


def test_sample_status_is_about_the_sample_job():
    job = SPEC.job({**MailUpSimulator.job_params, "process_id": 1000})
    response = HttpResponse(200, {}, MailUpSimulator.sample_status(), WSDL_URL)
    assert CODEC.decode_status(response, _settings(), job).state is ImportState.SUCCEEDED


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
        parse_wsdl(content, WSDL_URL)


# ----- true to the vendor (issue #10) ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [("14/06/2013 10.36.19", "2013-06-14T08:36:19+00:00"), ("14/06/2013 10:36:19", "2013-06-14T08:36:19+00:00")],
    ids=["seed-dots", "php-client-colons"],
)
def test_dates_with_dots_or_colons(value, expected):
    assert parse_mailup_date(value, "StartDate") == expected
    assert parse_process_details(_with_process(StartDate=value)).started_at == expected


def test_completed_while_is_running_keeps_waiting_with_a_warning():
    result = parse_process_details(_with_process(StatusCode="3", IsRunning="True"))
    assert result.state is ImportState.RUNNING
    assert result.details["IsRunning"] is True
    assert "waiting until IsRunning is False" in result.warnings[0]
    assert parse_process_details(_with_process(StatusCode="3", IsRunning="False")).state is ImportState.SUCCEEDED


KNOWN_RETURN_CODES = [
    -2, -4, -8, -16, -100, -101, -102, -200, -300, -301, -302, -303, *range(-450, -399),
    -500, -501, -600, -601, -602, -603, -604, *range(-1014, -999),
]  # fmt: skip


@pytest.mark.parametrize("code", KNOWN_RETURN_CODES)
def test_every_known_return_code_has_a_message(code):
    with pytest.raises(ImportStatusError) as caught:
        parse_return_code(_message(f"<ReturnCode>{code}</ReturnCode>"), "StartProcess")
    assert f"ReturnCode {code}: " in str(caught.value)
    assert "not documented" not in str(caught.value)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (-1012, AuthenticationError),
        (-1014, AuthenticationError),
        (-1006, AuthenticationError),
        (-401, PermanentVendorError),
        (-604, PermanentVendorError),
    ],
)
def test_new_return_codes_keep_their_families(code, error):
    with pytest.raises(error) as caught:
        parse_return_code(_message(f"<ReturnCode>{code}</ReturnCode>"), "StartProcess")
    assert not isinstance(caught.value, TransientVendorError)


@pytest.mark.parametrize("code", [-601, -602])
def test_a_busy_list_is_retryable(code):
    with pytest.raises(TransientVendorError, match="one import at a time") as caught:
        parse_return_code(_message(f"<ReturnCode>{code}</ReturnCode>"), "StartProcess")
    assert type(caught.value) is ListBusyError, "the operator tells a busy list from other transient errors"


def test_an_answer_about_another_process_is_never_a_success():
    with pytest.raises(VendorPayloadError, match="asked for idProcess 4 but the answer is about '275'"):
        parse_process_details(SEED_RESPONSE_1, expected_id=4)
    with pytest.raises(VendorPayloadError, match="idProcess"):
        _decode(soap_envelope("GetProcessDetails", SEED_RESPONSE_1), process_id=276)


def test_soap_client_fault_is_a_bad_request_not_retried():
    fault = SOAP_FAULT.replace("soap:Server", "soap:Client")
    with pytest.raises(BadRequestError, match="SOAP fault soap:Client"):
        _decode(fault, status=500)


def _start_requests(group_ids=()) -> list:
    flow = CODEC.start_import_flow(_settings(), 1, LIST_GUID, [[{"email": "a@example.com"}], []], group_ids)
    next(flow)
    new_import = flow.send(parse_wsdl(_wsdl(), WSDL_URL))
    answer = soap_envelope("NewImportProcess", _message("<ReturnCode>17</ReturnCode>")).encode()
    start = flow.send(HttpResponse(200, {}, answer, new_import.url))
    with pytest.raises(StopIteration) as done:
        flow.send(
            HttpResponse(200, {}, soap_envelope("StartProcess", _message("<ReturnCode>0</ReturnCode>")).encode(), "")
        )
    assert done.value.value == (17,)
    return [new_import, start]


def test_start_import_sends_the_real_parameters_never_retried():
    new_import, start = _start_requests(group_ids=[3, 4])
    ns = {"ws": "http://ws.mailupnet.it/"}
    body = etree.fromstring(new_import.content).xpath("//ws:NewImportProcess", namespaces=ns)[0]
    assert [etree.QName(child).localname for child in body] == [
        "idList", "listGUID", "xmlDoc", "idGroups", "importType", "mobileInputType", "asPending",
        "ConfirmEmail", "asOptOut", "forceOptIn", "replaceGroups", "idConfirmNL",
    ]  # fmt: skip
    assert body.findtext("ws:idGroups", namespaces=ns) == "3,4"
    assert etree.fromstring(body.findtext("ws:xmlDoc", namespaces=ns))[0].get("email") == "a@example.com"
    assert new_import.headers["SOAPAction"] == '"http://ws.mailupnet.it/NewImportProcess"'
    assert start.headers["SOAPAction"] == '"http://ws.mailupnet.it/StartProcess"'
    assert (new_import.idempotent, start.idempotent) == (False, False)
    assert {new_import.url, start.url} == {"https://a1b2c3.s99.it/Services/WSMailUpImport.asmx"}


def test_no_groups_is_an_empty_idgroups_string():
    [new_import, _] = _start_requests()
    body = etree.fromstring(new_import.content)
    assert body.xpath("//*[local-name()='idGroups']")[0].text in (None, "")


def test_status_envelope_is_built_once_per_job_and_wsdl():
    client = parse_wsdl(_wsdl(), WSDL_URL)
    settings = _settings()
    job = MailUpJob(list_id=1, list_guid=LIST_GUID, process_id=275)
    first = status_request(client, settings, job)
    assert status_request(client, settings, MailUpJob(list_id=1, list_guid=LIST_GUID, process_id=275)) is first
    other = status_request(client, settings, MailUpJob(list_id=1, list_guid=LIST_GUID, process_id=276))
    ns = {"ws": "http://ws.mailupnet.it/"}
    assert etree.fromstring(other.content).xpath("//ws:idProcess/text()", namespaces=ns) == ["276"]
    assert etree.fromstring(first.content).xpath("//ws:idProcess/text()", namespaces=ns) == ["275"]
    reloaded = status_request(parse_wsdl(_wsdl(), WSDL_URL), settings, job)
    assert reloaded is not first and reloaded.content == first.content


@pytest.mark.parametrize(
    "value",
    ["31/02/2020 10.00.00", "14/06/2013 10.36:19", "14/06/2013 25.00.00", "2013-06-14 10:36:19", "1/1/20 1.2.3"],
)
def test_impossible_or_mixed_dates_are_payload_errors(value):
    with pytest.raises(VendorPayloadError, match="StartDate"):
        parse_mailup_date(value, "StartDate")


def test_subscriber_values_survive_the_document_whatever_they_hold():
    values = ["plain", "Tom & <Jerry>", 'say "hi"', "it's", "two\nlines\tand\rtabs", "ünï©ødé"]
    contacts = [{"email": f"u{i}@example.com", "Name": value, "campo1": value} for i, value in enumerate(values)]
    document = etree.fromstring(subscribers_xml(contacts).encode())
    assert [row.get("Name") for row in document] == values
    assert [row.findtext("campo1") for row in document] == [value.replace("\r", "\n") for value in values]
    assert subscriber_problem({"email": "a@example.com", "Name": "bad \x01 char"}) == (
        "field Name holds U+0001, which an XML document cannot carry"
    )
    assert subscriber_problem({"email": "a@example.com", "colour": "red"}).startswith("field(s) colour not")


def test_a_date_is_converted_once_in_a_bounded_cache():
    mailup_date_cache.cache_clear()
    assert mailup_date_cache.cache_info().maxsize == MAILUP_DATES_CACHED == 4096
    for _ in range(3):
        assert parse_mailup_date(" 14/06/2013 10.36.19 ", "StartDate") == "2013-06-14T08:36:19+00:00"
    assert mailup_date_cache.cache_info()[:2] == (2, 1)  # hits, misses
    assert parse_mailup_date("14/06/2013 10.36.19", "EndDate", "America/New_York") == "2013-06-14T14:36:19+00:00"
    for _ in range(2):  # a refused date is refused at every poll, never remembered as a success
        with pytest.raises(VendorPayloadError, match="StartDate"):
            parse_mailup_date("31/02/2020 10.00.00", "StartDate")
    assert MAILUP_DATE_LENGTH == 19
    with pytest.raises(VendorPayloadError, match="StartDate"):
        parse_mailup_date("14/06/2013 10.36.19" + " x" * 100_000, "StartDate")
    assert mailup_date_cache.cache_info().currsize == 3  # a text over 19 characters never enters the cache
