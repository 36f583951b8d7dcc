"""Luminate: pure parsers, the hook over a real socket (sync, async), the sensor in every mode, the example DAG."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
)
from airflow_import_status.hooks import luminate
from airflow_import_status.hooks.luminate import (
    CONTACTS_METHOD as CONTACTS,
)
from airflow_import_status.hooks.luminate import (
    LuminateHook,
    contacts_count,
    envelope_payload,
    parse_job_status,
)
from airflow_import_status.result import ImportState
from airflow_import_status.sensors.luminate import LuminateImportSensor
from airflow_import_status.simulators import luminate as sim_luminate
from tests.sensor_harness import MODES, run_sensor

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
        ("9", BadRequestError),
        ("907", JobNotFoundError),
        ("909", PermanentVendorError),
        ("999", PermanentVendorError),
    ],
)
def test_error_codes_map_to_typed_errors(code, error):
    with pytest.raises(error, match=f"Luminate error {code}") as caught:
        parse_job_status(_error_json(code), 8)
    assert type(caught.value) is error


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


# ----- hook over a real socket ---------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fresh_tokens():
    luminate.TOKENS.clear()
    yield
    luminate.TOKENS.clear()


def _connection(simulator_server, monkeypatch, conn_id: str, **overrides) -> str:
    conn = sim_luminate.LuminateSimulator.connection(simulator_server.url)
    extra = {**conn.pop("extra"), **overrides.pop("extra", {})}
    conn.update(overrides)
    conn["extra"] = json.dumps(extra)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({k: v for k, v in conn.items() if v is not None}))
    return conn_id


def _fixed_token(simulator_server, monkeypatch, conn_id: str, **extra) -> str:
    return _connection(simulator_server, monkeypatch, conn_id, login=None, password=None, extra=extra)


def _logins(sim) -> list[dict]:
    return [r for r in sim.requests("luminate") if r["path"].endswith("/CRConsAPI")]


def test_hook_sync_reads_progress_until_success(sim):
    job = sim.create_job("luminate", polls=3)
    hook = LuminateHook()
    states = [hook.get_import_status(job["job_id"]) for _ in range(3)]
    assert [r.state for r in states] == [ImportState.RUNNING, ImportState.RUNNING, ImportState.SUCCEEDED]
    assert [r.details["events"] for r in states] == [
        [],
        ["Received authorization"],
        ["Received authorization", "Import complete"],
    ]
    assert states[-1].message == "Import complete"
    assert len(_logins(sim)) == 1  # the login token is cached


def test_hook_async_xml_reads_failure(sim, simulator_server, monkeypatch):
    conn_id = _connection(simulator_server, monkeypatch, "luminate_xml", extra={"response_format": "xml"})
    job = sim.create_job("luminate", polls=2, fail=True)
    hook = LuminateHook(luminate_conn_id=conn_id)

    async def poll_twice():
        return [await hook.aget_import_status(job["job_id"]) for _ in range(2)]

    first, last = asyncio.run(poll_twice())
    assert first.state is ImportState.RUNNING
    assert last.state is ImportState.FAILED
    assert last.vendor_status == "FAILURE"
    assert last.message.startswith("Import failed")
    assert len(_logins(sim)) == 1


def test_bad_api_key_fails_at_once_without_leaking_it(sim, simulator_server, monkeypatch):
    conn_id = _connection(simulator_server, monkeypatch, "luminate_badkey", extra={"api_key": "wrong-key-123"})
    with pytest.raises(AuthenticationError, match="incorrect API key") as caught:
        LuminateHook(luminate_conn_id=conn_id).get_import_status("1")
    assert "wrong-key-123" not in str(caught.value)
    assert len(sim.requests("luminate")) == 1
    assert sim.requests("luminate")[0]["status"] == 403


def test_bad_api_key_with_suppressed_response_codes(sim, simulator_server, monkeypatch):
    conn_id = _fixed_token(
        simulator_server,
        monkeypatch,
        "luminate_suppressed",
        sso_auth_token=sim_luminate.SSO_AUTH_TOKEN,
        api_key="wrong-key",
        suppress_response_codes="true",
    )
    with pytest.raises(AuthenticationError, match="Luminate error 2"):
        asyncio.run(LuminateHook(luminate_conn_id=conn_id).aget_import_status("1"))
    assert [r["status"] for r in sim.requests("luminate")] == [200]


def test_job_not_found_sync_and_async(sim):
    hook = LuminateHook()
    with pytest.raises(JobNotFoundError, match="907"):
        hook.get_import_status("424242")
    with pytest.raises(JobNotFoundError, match="address book import job 424242 was not found"):
        asyncio.run(hook.aget_import_status("424242"))


def test_rejected_login_token_is_renewed_once(sim):
    job = sim.create_job("luminate", polls=1)
    rejected = {"status": 403, "content_type": "application/json", "path_contains": "CRAddressBookAPI"}
    sim.add_fault("luminate", "status", body=_error_json("7", "Single SignOn failed."), **rejected)
    assert LuminateHook().get_import_status(job["job_id"]).state is ImportState.SUCCEEDED
    assert len(_logins(sim)) == 2

    luminate.TOKENS.clear()
    sim.add_fault("luminate", "status", times=2, body=_error_json("3", "Authorization failed."), **rejected)
    with pytest.raises(AuthenticationError, match="even after a fresh login"):
        asyncio.run(LuminateHook().aget_import_status(job["job_id"]))
    assert len(_logins(sim)) == 4


def test_wrong_constituent_password(sim, simulator_server, monkeypatch):
    conn_id = _connection(simulator_server, monkeypatch, "luminate_badpass", password="nope")
    with pytest.raises(AuthenticationError, match="login of constituent 'import-bot' failed"):
        LuminateHook(luminate_conn_id=conn_id).get_import_status("1")
    assert len(sim.requests("luminate")) == 1


@pytest.mark.parametrize(
    ("token_param", "token"), [("sso_auth_token", sim_luminate.SSO_AUTH_TOKEN), ("auth_token", sim_luminate.AUTH_TOKEN)]
)
def test_fixed_token_needs_no_login(sim, simulator_server, monkeypatch, token_param, token):
    conn_id = _fixed_token(simulator_server, monkeypatch, f"luminate_fixed_{token_param}", **{token_param: token})
    job = sim.create_job("luminate", polls=1)
    assert LuminateHook(luminate_conn_id=conn_id).get_import_status(job["job_id"]).state is ImportState.SUCCEEDED
    assert _logins(sim) == []


def test_invalid_fixed_token_is_not_renewed(sim, simulator_server, monkeypatch):
    conn_id = _fixed_token(simulator_server, monkeypatch, "luminate_stale", sso_auth_token="expired-token")
    with pytest.raises(AuthenticationError, match="fixed sso_auth_token token was refused") as caught:
        LuminateHook(luminate_conn_id=conn_id).get_import_status("1")
    assert "expired-token" not in str(caught.value)
    assert _logins(sim) == []
    assert len(sim.requests("luminate")) == 1


def test_count_contacts_on_success(sim):
    job = sim.create_job("luminate", polls=2, counters={"total": 7})
    hook = LuminateHook()
    assert hook.get_import_status(job["job_id"], count_contacts=True).total is None
    result = hook.get_import_status(job["job_id"], count_contacts=True)
    assert (result.state, result.total) == (ImportState.SUCCEEDED, 7)
    assert LuminateHook().get_import_status(job["job_id"]).total is None  # off by default


def test_contacts_no_longer_available(sim):
    job = sim.create_job("luminate", polls=1, params={"contacts_expired": True})
    with pytest.raises(PermanentVendorError, match="no longer available"):
        asyncio.run(LuminateHook().aget_import_status(job["job_id"], count_contacts=True))


def test_job_not_ready_then_success(sim):
    script = [{"state": "pending", "fields": {"error_code": "908"}}, {"state": "succeeded"}]
    job = sim.create_job("luminate", script=script)
    hook = LuminateHook()
    assert hook.get_import_status(job["job_id"]).state is ImportState.PENDING
    assert hook.get_import_status(job["job_id"]).state is ImportState.SUCCEEDED


def test_secrets_stay_out_of_error_messages(sim, simulator_server, monkeypatch):
    body = f"proxy error for api_key={sim_luminate.API_KEY}&sso_auth_token={sim_luminate.SSO_AUTH_TOKEN}"
    sim.add_fault("luminate", "status", status=502, body=body)
    conn_id = _fixed_token(simulator_server, monkeypatch, "luminate_secret", sso_auth_token=sim_luminate.SSO_AUTH_TOKEN)
    with pytest.raises(TransientVendorError, match="HTTP 502") as caught:
        LuminateHook(luminate_conn_id=conn_id).get_import_status("1")
    assert sim_luminate.API_KEY not in str(caught.value)
    assert sim_luminate.SSO_AUTH_TOKEN not in str(caught.value)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_LUMINATE_CLOSED",
        json.dumps(
            {
                "conn_type": "luminate",
                "host": f"http://127.0.0.1:{closed_port}/org",
                "extra": json.dumps({"api_key": "k-secret-1", "sso_auth_token": "t-secret-2"}),
            }
        ),
    )
    for call in (
        lambda hook: hook.get_import_status("1"),
        lambda hook: asyncio.run(hook.aget_import_status("1")),
    ):
        with pytest.raises(TransientVendorError, match="/org/site/CRAddressBookAPI failed") as caught:
            call(LuminateHook(luminate_conn_id="luminate_closed"))
        assert "k-secret-1" not in str(caught.value)
        assert "t-secret-2" not in str(caught.value)


def test_test_connection(sim, simulator_server, monkeypatch):
    assert LuminateHook().test_connection() == (
        True,
        f"Connected to Luminate Online at {simulator_server.url}/luminate/simorg as constituent 'import-bot'",
    )
    conn_id = _connection(simulator_server, monkeypatch, "luminate_badkey2", extra={"api_key": "nope"})
    ok, message = LuminateHook(luminate_conn_id=conn_id).test_connection()
    assert not ok
    assert "incorrect API key" in message


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"extra": {"api_key": ""}}, "no API key"),
        ({"login": None, "password": None}, "needs a fixed token"),
        ({"extra": {"sso_auth_token": "a"}}, "not both"),
        ({"extra": {"response_format": "csv"}}, "response_format"),
    ],
)
def test_bad_connections_fail_clearly(simulator_server, monkeypatch, overrides, problem):
    conn_id = _connection(simulator_server, monkeypatch, "luminate_invalid", **overrides)
    with pytest.raises(PermanentVendorError, match=problem):
        LuminateHook(luminate_conn_id=conn_id).get_settings()


def test_start_import_then_poll(sim):
    hook = LuminateHook()
    started = hook.start_import("YAHOO", callback_url="https://example.org/cb")
    assert started.oauth_url.startswith("https://api.login.yahoo.com/")
    assert f"state={started.job_id}" in started.oauth_url
    results = [hook.get_import_status(started.job_id, count_contacts=True) for _ in range(4)]
    assert results[-1].state is ImportState.SUCCEEDED
    assert results[-1].total == sim_luminate.ADDRESS_BOOK_SIZE
    assert results[-1].details["events"] == ["Received authorization", "Importing Contacts", "Import complete"]
    with pytest.raises(BadRequestError, match="required parameters missing"):
        hook.start_import("GOOGLE", callback_url="")


# ----- sensor in every mode ------------------------------------------------------------------------
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_sensor_success(sim, mode):
    job = sim.create_job("luminate", polls=3, counters={"total": 5})
    run = run_sensor(LuminateImportSensor, mode, import_job_id=job["job_id"], count_contacts=True)
    assert run.state == "success"
    assert run.was_deferred is (mode == "deferrable")
    assert run.return_value["state"] == "succeeded"
    assert run.return_value["vendor"] == "luminate"
    assert run.return_value["total"] == 5
    assert run.return_value["message"] == "Import complete"
    assert run.import_result == run.return_value


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_sensor_failed_import(sim, mode):
    job = sim.create_job("luminate", polls=2, fail=True)
    run = run_sensor(LuminateImportSensor, mode, import_job_id=job["job_id"], retries=2)
    assert run.state == "failed"
    assert run.try_number == 1
    assert run.import_result["state"] == "failed"
    assert run.import_result["vendor_status"] == "FAILURE"
    assert run.import_result["message"].startswith("Import failed")


@pytest.mark.usefixtures("airflow_db")
def test_sensor_bad_api_key_is_not_retried(sim, simulator_server, monkeypatch):
    conn_id = _connection(simulator_server, monkeypatch, "luminate_badkey3", extra={"api_key": "nope"})
    run = run_sensor(LuminateImportSensor, "deferrable", import_job_id="1", luminate_conn_id=conn_id, retries=2)
    assert run.state == "failed"
    assert run.try_number == 1
    assert run.import_result is None
    assert len(sim.requests("luminate")) == 1
