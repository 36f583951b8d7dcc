"""ISalesHook against the CC-iSales simulator over a real socket, both paths."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    TransientVendorError,
)
from airflow_import_status.hooks.isales import ISalesHook
from airflow_import_status.result import ImportState
from airflow_import_status.simulators.isales import ACCESS_KEY, SECRET_KEY, ISalesSimulator
from airflow_import_status.transport import HttpRequest
from airflow_import_status.vendors.isales.codec import (
    ISalesSettings,
    canonical_request,
    parse_query_page,
    query_url,
    signed_json_request,
)

COUNTERS = {"imported": 90, "duplicates": 6, "failed": 4}


def _coded(code: str, description: str = "detail") -> str:
    return json.dumps({"resultCode": code, "resultDesc": description, "returnCode": code, "returnDesc": description})


def _get(hook: ISalesHook, vdn_id, task_id, use_async: bool, campaign_id=None):
    if use_async:
        return asyncio.run(hook.aget_import_status(vdn_id, task_id, campaign_id))
    return hook.get_import_status(vdn_id, task_id, campaign_id)


@pytest.fixture
def custom_conn(simulator_server, monkeypatch):
    """Define an extra isales connection in the environment, pointing at the simulator."""

    def define(conn_id: str, **fields) -> str:
        base = ISalesSimulator.connection(simulator_server.url)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**base, **fields}))
        return conn_id

    return define


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("campaign_id", [None, "campaign-7"], ids=["blacklist", "calldata"])
def test_progress_then_success_on_both_paths(sim, use_async, campaign_id):
    job = sim.create_job("isales", params={"vdn_id": 12, "campaign_id": campaign_id}, counters=COUNTERS, polls=3)
    hook = ISalesHook()
    results = [_get(hook, 12, job["job_id"], use_async, campaign_id) for _ in range(3)]
    assert [r.state for r in results] == [ImportState.PENDING, ImportState.RUNNING, ImportState.SUCCEEDED]
    final = results[-1]
    assert (final.imported, final.duplicates, final.failed, final.total) == (90, 6, 4, 100)
    assert final.started_at is not None and final.finished_at is not None
    kind = "blackfile/queryDataImportTask" if campaign_id is None else f"calldatafile/queryDataImportTask/{campaign_id}"
    assert {r["path"] for r in sim.requests("isales")} == {f"/isales/rest/isales/v1/openapi/campaigns/12/{kind}"}


def test_blacklist_and_calldata_tasks_are_separate(sim):
    job = sim.create_job("isales", params={"vdn_id": 12, "campaign_id": "c1"}, polls=1)
    with pytest.raises(JobNotFoundError):
        ISalesHook().get_import_status(12, job["job_id"])
    with pytest.raises(JobNotFoundError):
        ISalesHook().get_import_status(12, job["job_id"], "c2")
    assert ISalesHook().get_import_status(12, job["job_id"], "c1").state is ImportState.SUCCEEDED


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_failed_import_reports_vendor_message(sim, use_async):
    job = sim.create_job("isales", params={"vdn_id": 12}, counters=COUNTERS, polls=1, fail=True)
    result = _get(ISalesHook(), 12, job["job_id"], use_async)
    assert result.state is ImportState.FAILED
    assert result.vendor_status == "3"
    assert result.message == "The file format is incorrect."


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_bad_sk_is_an_authentication_error(sim, custom_conn, use_async):
    job = sim.create_job("isales", params={"vdn_id": 12}, polls=1)
    hook = ISalesHook(custom_conn("isales_bad_sk", password="wrong-sk"))
    with pytest.raises(AuthenticationError, match="HTTP 401"):
        _get(hook, 12, job["job_id"], use_async)
    assert [r["status"] for r in sim.requests("isales")] == [401]
    assert hook.test_connection()[0] is False


def test_stale_signature_clock_is_refused(sim):
    job = sim.create_job("isales", params={"vdn_id": 12}, polls=1)
    hook = ISalesHook(clock=lambda: datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(AuthenticationError):
        hook.get_import_status(12, job["job_id"])


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_unknown_task_is_not_found(sim, use_async):
    sim.create_job("isales", params={"vdn_id": 12}, polls=1)
    with pytest.raises(JobNotFoundError, match=r"999 .*was not found"):
        _get(ISalesHook(), 12, "999", use_async)
    with pytest.raises(JobNotFoundError):
        _get(ISalesHook(), 13, sim.create_job("isales", params={"vdn_id": 12})["job_id"], use_async)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_paging_through_count_finds_a_task_on_page_three(sim, custom_conn, use_async):
    jobs = [sim.create_job("isales", params={"vdn_id": 12}, polls=1) for _ in range(5)]
    hook = ISalesHook(custom_conn("isales_paged", extra={"page_size": 2, "send_task_ids": False}))
    oldest = jobs[0]["job_id"]  # newest first: the oldest sits alone on page 3
    assert _get(hook, 12, oldest, use_async).job_id == oldest
    assert len(sim.requests("isales")) == 3
    assert sim.job("isales", oldest)["polls"] == 1
    assert sim.job("isales", jobs[4]["job_id"])["polls"] == 1


def test_paging_stops_at_count_when_the_task_is_missing(sim, custom_conn):
    for _ in range(5):
        sim.create_job("isales", params={"vdn_id": 12}, polls=1)
    hook = ISalesHook(custom_conn("isales_paged", extra={"page_size": 2, "send_task_ids": False}))
    with pytest.raises(JobNotFoundError, match="among 5 tasks"):
        hook.get_import_status(12, "no-such-task")
    assert len(sim.requests("isales")) == 3


def test_simulator_validates_the_body_with_the_seed_codes(simulator_server, sim):
    settings = ISalesSettings(f"{simulator_server.url}/isales", ACCESS_KEY, SECRET_KEY)
    url = query_url(settings.base_url, 12)
    for body, code in [
        ({"offset": 0, "limit": 101}, "0200001"),
        ({"offset": 0, "limit": 0}, "0200001"),
        ({"offset": 0}, "02000001"),
        ({"offset": "0", "limit": 10}, "02000006"),
        ({"offset": 0, "limit": 10, "importTaskIds": "1"}, "02000006"),
    ]:
        request = signed_json_request(settings, url, body)
        response = requests.post(url, data=request.content, headers=dict(request.headers), timeout=10)
        assert response.status_code == 200
        assert response.json()["resultCode"] == code, body
        with pytest.raises(BadRequestError, match=code):
            parse_query_page(response.content)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_error_code_in_the_answer_is_a_bad_request(sim, use_async):
    sim.add_fault("isales", "body", body=_coded("02000007", "offset is invalid"), content_type="application/json")
    with pytest.raises(BadRequestError, match="02000007 \\(Incorrect parameter value\\): offset is invalid"):
        _get(ISalesHook(), 12, "1", use_async)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_server_errors_are_transient(sim, use_async):
    sim.add_fault("isales", "status", status=503, headers={"Retry-After": "3"})
    with pytest.raises(TransientVendorError) as err:
        _get(ISalesHook(), 12, "1", use_async)
    assert err.value.retry_after == 3


def test_test_connection(sim):
    ok, message = ISalesHook().test_connection()
    assert ok, message
    assert "signature accepted" in message


def _post(url: str, request: HttpRequest, **headers: str) -> requests.Response:
    return requests.post(url, data=request.content, headers={**request.headers, **headers}, timeout=10)


def test_simulator_verifies_the_whole_signature(simulator_server, sim):
    settings = ISalesSettings(f"{simulator_server.url}/isales", ACCESS_KEY, SECRET_KEY)
    url = query_url(settings.base_url, 12)
    request = signed_json_request(settings, url, {"offset": 0, "limit": 10})
    authorization = request.headers["Authorization"]
    assert _post(url, request).status_code == 200
    tampered = authorization[:-1] + ("0" if authorization[-1] != "0" else "1")
    assert _post(url, request, Authorization=tampered).status_code == 401
    prefix, _, signature = authorization.rpartition("/")
    wrong_names = prefix.replace("content-length;content-type;host", "content-type;host") + "/" + signature
    assert _post(url, request, Authorization=wrong_names).status_code == 401
    other_body = requests.post(url, data=b'{"offset":1,"limit":10}', headers=dict(request.headers), timeout=10)
    assert other_body.status_code == 401


def test_seconds_only_or_stale_timestamps_are_refused(simulator_server, sim):
    settings = ISalesSettings(f"{simulator_server.url}/isales", ACCESS_KEY, SECRET_KEY)
    url = query_url(settings.base_url, 12)
    body = {"offset": 0, "limit": 10}
    now = datetime.now(UTC).replace(microsecond=0)
    request = signed_json_request(dataclasses.replace(settings, clock=lambda: now), url, body)
    # The same signature recomputed over a seconds-only timestamp (the old form): refused.
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S")
    names = "content-length;content-type;host"
    canonical = canonical_request("POST", url, request.headers, request.content, tuple(names.split(";")))
    prefix = f"auth-v2/{ACCESS_KEY}/{stamp}Z/{names}"
    key = hmac.new(SECRET_KEY.encode(), prefix.encode(), hashlib.sha256).hexdigest()
    seconds_only = f"{prefix}/{hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()}"
    assert f"/{stamp}.000Z/" in request.headers["Authorization"]
    assert _post(url, request).status_code == 200
    assert _post(url, request, Authorization=seconds_only).status_code == 401
    stale = signed_json_request(dataclasses.replace(settings, clock=lambda: now - timedelta(minutes=16)), url, body)
    assert _post(url, stale).status_code == 401


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_base64_signatures_and_locale_reach_the_simulator(sim, custom_conn, use_async):
    job = sim.create_job("isales", params={"vdn_id": 12}, counters=COUNTERS, polls=1)
    hook = ISalesHook(custom_conn("isales_b64", extra={"signature_encoding": "base64", "locale": "en_US"}))
    assert hook.get_settings().signature_encoding == "base64"
    assert _get(hook, 12, job["job_id"], use_async).state is ImportState.SUCCEEDED
    assert [r["status"] for r in sim.requests("isales")] == [200]
