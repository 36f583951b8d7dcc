"""LuminateHook against the Luminate simulator over a real socket, both paths."""

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
)
from airflow_import_status.hooks.luminate import LuminateHook
from airflow_import_status.result import ImportState
from airflow_import_status.runtime import RUNTIME
from airflow_import_status.simulators import luminate as sim_luminate
from airflow_import_status.vendors.luminate.codec import LuminateSession, call_flow
from airflow_import_status.vendors.luminate.spec import STATUS_METHOD


def _error_json(code: str, message: str = "boom") -> str:
    return json.dumps({"errorResponse": {"code": code, "message": message}})


@pytest.fixture(autouse=True)
def _fresh_tokens():
    RUNTIME.reset()
    yield
    RUNTIME.reset()


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

    RUNTIME.reset()
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
        ({"extra": {"api_key": ""}}, "needs the extra 'api_key'"),
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


def test_no_credential_in_any_request_url(sim, simulator_server, monkeypatch):
    job = sim.create_job("luminate", polls=2, counters={"total": 3})
    hook = LuminateHook()
    hook.get_import_status(job["job_id"])
    asyncio.run(hook.aget_import_status(job["job_id"], count_contacts=True))
    hook.start_import("GOOGLE", callback_url="https://example.org/cb")
    conn_id = _fixed_token(
        simulator_server, monkeypatch, "luminate_fixed_url", sso_auth_token=sim_luminate.SSO_AUTH_TOKEN
    )
    LuminateHook(luminate_conn_id=conn_id).get_import_status(job["job_id"])
    log = sim.requests("luminate")
    assert {entry["method"] for entry in log} == {"POST"}
    assert len(log) == 6 and all("query" in entry for entry in log)
    secrets = (sim_luminate.API_KEY, sim_luminate.PASSWORD, sim_luminate.SSO_AUTH_TOKEN, sim_luminate.USER_NAME)
    for entry in log:
        url = f"{entry['path']}?{entry['query']}"
        assert not any(secret in url for secret in secrets), url
        assert "token" not in entry["query"] and "api_key" not in entry["query"], url


def test_login_session_cookie_is_sent_back_with_the_token(sim):
    job = sim.create_job("luminate", polls=1)
    hook = LuminateHook()
    assert hook.get_import_status(job["job_id"]).state is ImportState.SUCCEEDED
    flow = call_flow(hook.get_settings(), STATUS_METHOD, {"import_job_id": job["job_id"]})
    shared = next(flow)
    session = LuminateSession("a-token", "SESSION123.app", None)
    request = flow.send(session)
    assert request.headers["Cookie"] == "JSESSIONID=SESSION123.app"
    assert "a-token" not in request.full_url and b"sso_auth_token=a-token" in request.content
    assert shared.request.method == "POST" and b"password=" in shared.request.content
    assert "password" not in shared.request.full_url


def test_a_login_token_without_its_session_is_refused(sim, monkeypatch):
    monkeypatch.setattr(LuminateSession, "headers", lambda self: {})
    job = sim.create_job("luminate", polls=1)
    with pytest.raises(AuthenticationError, match="even after a fresh login"):
        LuminateHook().get_import_status(job["job_id"])
    assert len(_logins(sim)) == 2


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_more_than_one_constituent_is_a_bad_request_not_retried(sim, use_async):
    sim.add_fault("luminate", "status", status=403, body=_error_json("8"), path_contains="CRAddressBookAPI")
    hook = LuminateHook()
    with pytest.raises(BadRequestError, match="more than one constituent matched"):
        asyncio.run(hook.aget_import_status("1")) if use_async else hook.get_import_status("1")
