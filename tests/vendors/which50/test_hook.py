"""Which50Hook over a real socket against the simulator: sync (requests) and async (aiohttp)."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from airflow_import_status.errors import (
    AuthenticationError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
)
from airflow_import_status.hooks.which50 import Which50Hook
from airflow_import_status.result import ImportState
from airflow_import_status.simulators.which50 import API_KEY

COUNTERS = {"total": 10, "inserted": 7, "updated": 3, "invalid_email": 2}


def _get(hook: Which50Hook, list_id, job_id, use_async: bool):
    if use_async:
        return asyncio.run(hook.aget_import_status(list_id, job_id))
    return hook.get_import_status(list_id, job_id)


@pytest.fixture
def custom_conn(simulator_server, monkeypatch):
    """Define an extra connection in the environment, pointing at the simulators."""

    def define(conn_id: str, **fields) -> str:
        base = {"conn_type": "which50", "host": f"{simulator_server.url}/which50/Which50API", "password": API_KEY}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**base, **fields}))
        return conn_id

    return define


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_progress_then_success(sim, use_async):
    job = sim.create_job("which50", params={"contact_list_id": 3}, counters=COUNTERS, polls=3)
    hook = Which50Hook()
    states = [_get(hook, 3, job["job_id"], use_async).state for _ in range(3)]
    assert states == [ImportState.PENDING, ImportState.RUNNING, ImportState.SUCCEEDED]
    final = _get(hook, 3, job["job_id"], use_async)
    assert (final.total, final.imported, final.inserted, final.updated, final.invalid) == (10, 10, 7, 3, 2)
    assert final.finished_at is not None
    [request] = sim.requests("which50")[:1]
    assert request["path"] == f"/which50/Which50API/contactLists/3/import/{job['job_id']}"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_xml_format(sim, custom_conn, use_async):
    job = sim.create_job("which50", params={"contact_list_id": 3}, counters=COUNTERS, polls=1)
    hook = Which50Hook(custom_conn("which50_xml", extra={"response_format": "xml"}))
    result = _get(hook, 3, job["job_id"], use_async)
    assert result.state is ImportState.SUCCEEDED
    assert result.imported == 10


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_bad_api_key_is_an_authentication_error(sim, custom_conn, use_async):
    job = sim.create_job("which50", params={"contact_list_id": 3})
    hook = Which50Hook(custom_conn("which50_badkey", password="wrong-key"))
    with pytest.raises(AuthenticationError, match=r"HTTP 401.*Authorization has been denied") as err:
        _get(hook, 3, job["job_id"], use_async)
    assert "wrong-key" not in str(err.value)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_unknown_job_and_wrong_list_are_not_found(sim, use_async):
    job = sim.create_job("which50", params={"contact_list_id": 3})
    hook = Which50Hook()
    with pytest.raises(JobNotFoundError, match="was not found"):
        _get(hook, 3, 999999, use_async)
    with pytest.raises(JobNotFoundError):
        _get(hook, 4, job["job_id"], use_async)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_transport_faults_are_typed(sim, use_async):
    job = sim.create_job("which50", params={"contact_list_id": 3})
    hook = Which50Hook()
    sim.add_fault("which50", "status", status=503, body="Service Unavailable")
    with pytest.raises(TransientVendorError, match="HTTP 503"):
        _get(hook, 3, job["job_id"], use_async)
    sim.add_fault("which50", "status", status=429, headers={"Retry-After": "12"})
    with pytest.raises(TransientVendorError) as err:
        _get(hook, 3, job["job_id"], use_async)
    assert err.value.retry_after == 12
    sim.add_fault("which50", "disconnect")
    with pytest.raises(TransientVendorError, match="failed"):
        _get(hook, 3, job["job_id"], use_async)
    sim.add_fault("which50", "body", body="<html><h1>Bad gateway</h1></html>", content_type="text/html")
    with pytest.raises(VendorPayloadError, match="ImportJob"):
        _get(hook, 3, job["job_id"], use_async)


def test_read_timeout_is_transient(sim, custom_conn):
    job = sim.create_job("which50", params={"contact_list_id": 3})
    hook = Which50Hook(custom_conn("which50_fast", extra={"timeout": 0.3}))
    sim.add_fault("which50", "delay", seconds=1.5)
    with pytest.raises(TransientVendorError, match="timed out"):
        hook.get_import_status(3, job["job_id"])


def test_custom_auth_header(sim, custom_conn):
    hook = Which50Hook(custom_conn("which50_bearer", extra={"key_header": "Authorization", "auth_scheme": "Bearer"}))
    # the simulator expects X-Api-Key, so a Bearer header is refused: the header really changed
    ok, message = hook.test_connection()
    assert not ok and "401" in message


def test_test_connection(sim, custom_conn):
    assert Which50Hook().test_connection() == (True, f"Connected to Which50 at {Which50Hook().get_settings().base_url}")
    ok, message = Which50Hook(custom_conn("which50_bad", password="nope")).test_connection()
    assert not ok and "refused the credentials" in message


def test_connection_without_api_key_is_a_clear_error(simulator_server, custom_conn):
    conn_id = custom_conn("which50_nokey", password="")
    ok, message = Which50Hook(conn_id).test_connection()
    assert not ok and "no API key" in message


def test_start_import_creates_a_running_job(sim):
    hook = Which50Hook()
    job_id = hook.start_import(8, [{"Email": "a@example.com"}, {"Email": "b@example.com"}, {"Email": "broken"}])
    results = [hook.get_import_status(8, job_id) for _ in range(3)]
    assert results[-1].state is ImportState.SUCCEEDED
    assert (results[-1].inserted, results[-1].invalid) == (2, 1)
    assert os.environ["AIRFLOW_CONN_WHICH50_DEFAULT"]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_redirect_is_reported_the_same_way_on_both_paths(sim, use_async):
    job = sim.create_job("which50", params={"contact_list_id": 3})
    sim.add_fault("which50", "status", status=302, headers={"Location": "https://login.example.com/sso?key=1"})
    with pytest.raises(PermanentVendorError, match=r"HTTP 302: .* redirected to https://login.example.com;"):
        _get(Which50Hook(), 3, job["job_id"], use_async)
    assert len(sim.requests("which50")) == 1, "the redirect was followed"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_bug_in_the_codec_is_not_a_vendor_fault(sim, mocker, use_async):
    job = sim.create_job("which50", params={"contact_list_id": 3})
    mocker.patch("airflow_import_status.vendors.which50.codec.parse_import_job", side_effect=KeyError("Id"))
    with pytest.raises(KeyError, match="Id"):
        _get(Which50Hook(), 3, job["job_id"], use_async)


def test_bad_timeout_extra_is_a_clear_connection_error(simulator_server, custom_conn):
    ok, message = Which50Hook(custom_conn("which50_badtimeout", extra={"timeout": "soon"})).test_connection()
    assert not ok and "extra 'timeout' = 'soon'" in message


def test_shared_async_sessions_keep_no_cookies(sim):
    from airflow_import_status.runtime import RUNTIME
    from airflow_import_status.transport import TransportSettings

    async def cookies_after_a_set_cookie() -> int:
        session = RUNTIME.async_session(sim.base_url, TransportSettings())
        sim.add_fault("which50", "status", status=200, headers={"Set-Cookie": "JSESSIONID=abc; Path=/"}, body="{}")
        async with session.get(f"{sim.base_url}/which50/Which50API/contactLists") as response:
            await response.read()
        return len(session.cookie_jar)

    assert asyncio.run(cookies_after_a_set_cookie()) == 0
