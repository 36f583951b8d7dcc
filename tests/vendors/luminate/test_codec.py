"""Luminate codec: the pure parsers (JSON and XML), from the seed's examples."""

from __future__ import annotations

import json

import pytest

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
)
from airflow_import_status.result import ImportState
from airflow_import_status.transport import TransportSettings
from airflow_import_status.vendors.luminate.codec import (
    LuminateSession,
    LuminateSettings,
    api_request,
    contacts_count,
    envelope_payload,
    login_session,
    login_shared,
    parse_job_status,
)
from airflow_import_status.vendors.luminate.spec import CONTACTS_METHOD as CONTACTS

# The seed's examples, verbatim.
SEED_XML = """<?xml version="1.0" encoding="UTF-8"?>
<getAddressBookImportJobStatusResponse xsi:schemaLocation="http://convio.com/crm/v1.0 http://service.convio.net/xmlschema/crm.public.v1.xsd" xmlns="http://convio.com/crm/v1.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <jobStatus>PENDING</jobStatus>
  <events>
    <event>Received authorization</event>
    <event>Importing Contacts</event>
  </events>
</getAddressBookImportJobStatusResponse>
"""  # noqa: E501
SEED_JSON = (
    '{"getAddressBookImportJobStatusResponse":{"jobStatus":"PENDING","events":{"event":'
    '["Received authorization","Importing Contacts"]}}}'
)
CONTACTS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<getAddressBookImportContactsResponse xsi:schemaLocation="http://convio.com/crm/v1.0 http://service.convio.net/xmlschema/crm.public.v1.xsd" xmlns="http://convio.com/crm/v1.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <contact> <firstName>Adam</firstName> <lastName>Adams</lastName> <email>aadams@address.net</email> </contact>
  <contact> <firstName>Brian</firstName> <lastName>Brians</lastName> <email>bbrians@address.net</email> </contact>
  <contact> <firstName>Charlie</firstName> <lastName>Charles</lastName> <email>ccharles@address.net</email> </contact>
</getAddressBookImportContactsResponse>"""  # noqa: E501


def _status_json(status: str, events: object = None) -> str:
    body: dict = {"jobStatus": status}
    if events is not None:
        body["events"] = events
    return json.dumps({"getAddressBookImportJobStatusResponse": body})


def _error_json(code: str, message: str = "boom") -> str:
    return json.dumps({"errorResponse": {"code": code, "message": message}})


# ----- pure parsers ------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [SEED_XML, SEED_JSON], ids=["xml", "json"])
def test_seed_examples_parse_to_running_with_events(body):
    result = parse_job_status(body, 17)
    assert result.state is ImportState.RUNNING
    assert result.vendor == "luminate"
    assert result.job_id == "17"
    assert result.vendor_status == "PENDING"
    assert result.details == {"events": ["Received authorization", "Importing Contacts"]}
    assert result.message == "Importing Contacts"
    assert result.total is None
    assert result.warnings == []


@pytest.mark.parametrize(
    "body",
    [
        _status_json("SUCCESS", {"event": "Import complete"}),
        '<getAddressBookImportJobStatusResponse xmlns="http://convio.com/crm/v1.0"><jobStatus>SUCCESS</jobStatus>'
        "<events><event>Import complete</event></events></getAddressBookImportJobStatusResponse>",
    ],
    ids=["json-bare-string", "xml-single-event"],
)
def test_single_event_is_a_bare_string(body):
    result = parse_job_status(body, 3)
    assert result.state is ImportState.SUCCEEDED
    assert result.details["events"] == ["Import complete"]
    assert result.message == "Import complete"


def test_failure_is_failed_with_last_event_as_message():
    result = parse_job_status(_status_json("FAILURE", {"event": ["Received authorization", "Access denied"]}), 4)
    assert result.state is ImportState.FAILED
    assert result.message == "Access denied"


@pytest.mark.parametrize("events", [None, "", {"event": ""}, {"event": []}])
def test_no_events(events):
    result = parse_job_status(_status_json("PENDING", events), 5)
    assert result.details["events"] == []
    assert result.message is None


def test_unknown_status_keeps_waiting_with_a_warning():
    result = parse_job_status(_status_json("CANCELLED"), 6)
    assert result.state is ImportState.PENDING
    assert "CANCELLED" in result.warnings[0]


def test_job_not_ready_keeps_waiting():
    result = parse_job_status(_error_json("908", "The specified job is not ready."), 7)
    assert result.state is ImportState.PENDING
    assert result.details["error_code"] == "908"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("1", TransientVendorError),
        ("2", AuthenticationError),
        ("3", AuthenticationError),
        ("4", AuthenticationError),
        ("5", AuthenticationError),
        ("7", AuthenticationError),
        ("6", BadRequestError),
        ("8", BadRequestError),
        ("9", BadRequestError),
        ("10", BadRequestError),
        ("907", JobNotFoundError),
        ("909", PermanentVendorError),
        ("999", PermanentVendorError),
    ],
)
def test_error_codes_map_to_typed_errors(code, error):
    with pytest.raises(error, match=f"Luminate error {code}") as caught:
        parse_job_status(_error_json(code), 8)
    assert type(caught.value) is error


@pytest.mark.parametrize(
    ("code", "meaning"), [("8", "more than one constituent matched"), ("10", "required fields missing")]
)
def test_codes_8_and_10_are_bad_requests_naming_their_meaning(code, meaning):
    with pytest.raises(BadRequestError, match=meaning):
        parse_job_status(_error_json(code), 8)


def test_login_answer_gives_token_session_and_routing_id():
    body = json.dumps(
        {"loginResponse": {"cons_id": "1", "token": "tok-1", "JSESSIONID": "ABC.app", "routing_id": "r1"}}
    )
    session = login_session(envelope_payload(body, "", "login"), "bot")
    assert session == LuminateSession("tok-1", "ABC.app", "r1")
    assert session.headers() == {"Cookie": "JSESSIONID=ABC.app"}
    assert LuminateSession("tok-1").headers() == {}
    with pytest.raises(AuthenticationError, match="returned no token"):
        login_session({"JSESSIONID": "ABC.app"}, "bot")


def test_xml_error_response():
    body = (
        '<errorResponse xmlns="http://convio.com/crm/v1.0"><code>907</code>'
        "<message>The specified job could not be found.</message></errorResponse>"
    )
    with pytest.raises(JobNotFoundError, match="could not be found"):
        parse_job_status(body, 9)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "{}",
        '{"somethingElseResponse": {"jobStatus": "SUCCESS"}}',
        _status_json("PENDING").replace('"jobStatus": "PENDING"', '"events": ""'),
        _status_json("PENDING", {"event": [{"nested": "x"}]}),
        _status_json("PENDING", ["Received authorization"]),
        '{"errorResponse": {"message": "no code"}}',
        "<getAddressBookImportJobStatusResponse><jobStatus>PENDING</jobStatus>",
    ],
)
def test_malformed_payloads_are_payload_errors(body):
    with pytest.raises(VendorPayloadError):
        parse_job_status(body, 10)


def test_contacts_count_from_seed_xml_and_json_forms():
    assert contacts_count(envelope_payload(CONTACTS_XML, "", CONTACTS)) == 3
    one = '{"getAddressBookImportContactsResponse":{"contact":{"firstName":"Adam","email":"a@b.net"}}}'
    assert contacts_count(envelope_payload(one, "", CONTACTS)) == 1
    assert contacts_count(envelope_payload('{"getAddressBookImportContactsResponse":{}}', "", CONTACTS)) == 0
    assert contacts_count(envelope_payload('<getAddressBookImportContactsResponse xmlns="x"/>', "", CONTACTS)) == 0
    with pytest.raises(VendorPayloadError):
        contacts_count({"contact": "Adam"})


def _settings(**changes: object) -> LuminateSettings:
    return LuminateSettings(
        **{
            "base_url": "https://secure2.convio.net/org",
            "api_key": "key",
            "transport": TransportSettings(),
            "login_name": "api-user",
            "login_password": "pw",
            **changes,
        }
    )


def test_the_login_request_is_built_once_per_settings_in_a_bounded_cache():
    from airflow_import_status.vendors.luminate import codec

    codec._login.cache_clear()
    assert codec.LOGINS_KEPT == 256 and codec._login.cache_info().maxsize == 256
    settings = _settings()
    first, second = login_shared(settings), login_shared(settings)
    assert first.request is second.request and first.key == second.key == settings.session_key
    assert b"password=pw" in (first.request.content or b"")
    renewed = login_shared(_settings(login_password="new"))  # an edited connection: a new login request
    assert renewed.key != first.key and b"password=new" in (renewed.request.content or b"")


def test_a_call_is_built_once_per_job_and_session_in_a_bounded_cache():
    from airflow_import_status.vendors.luminate import codec

    assert codec.REQUESTS_KEPT == 4096 and codec._api_request.cache_info().maxsize == 4096
    settings = _settings()
    call = api_request(settings, "getAddressBookImportJobStatus", {"import_job_id": "7"}, "token-1")
    assert api_request(settings, "getAddressBookImportJobStatus", {"import_job_id": "7"}, "token-1") is call
    renewed = api_request(settings, "getAddressBookImportJobStatus", {"import_job_id": "7"}, "token-2")
    assert renewed is not call and b"token-2" in (renewed.content or b"")
    assert b"import_job_id=7" in (call.content or b"") and b"token-1" in (call.content or b"")
