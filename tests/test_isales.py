"""CC-iSales: pure parser and signer, hook over a real socket (sync and async), sensor modes, example DAG."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import requests

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
)
from airflow_import_status.hooks.isales import (
    PARAMETER_ERROR_CODES,
    ISalesHook,
    ISalesSettings,
    parse_import_status,
    parse_import_task,
    parse_query_page,
    query_body,
    query_url,
    settings_from_connection,
    sign_request,
    signed_json_request,
)
from airflow_import_status.result import ImportState
from airflow_import_status.sensors.isales import ISalesImportSensor
from airflow_import_status.simulators.isales import ACCESS_KEY, SECRET_KEY, ISalesSimulator
from tests.sensor_harness import MODES, run_sensor

SEED_TASK_ID = "164698362894300182038011895728"
SEED_REQUEST = '{ "limit":10, "offset":0, "importTaskIds":["164698362894300182038011895728"] }'
SEED_RESPONSE = (
    '{ "result": [ { "succNum": 0, "failNum": 0, "errMsg": "", "id": "164698362894300182038011895728", '
    '"beginTime": "2022-03-11T07:27:09.000+00:00", "endTime": "2022-03-11T07:27:09.000+00:00", "repeatNum": 0, '
    '"status": "2" } ], "returnCode": "0200000", "resultCode": "0200000", "resultDesc": "success", '
    '"returnDesc": "success" }'
)
COUNTERS = {"imported": 90, "duplicates": 6, "failed": 4}


def _task(**fields) -> dict:
    return {**json.loads(SEED_RESPONSE)["result"][0], **fields}


def _coded(code: str, description: str = "detail") -> str:
    return json.dumps({"resultCode": code, "resultDesc": description, "returnCode": code, "returnDesc": description})


# ----- the pure parser, from the seed's example ---------------------------------------------------
def test_seed_request_body_is_what_the_hook_sends():
    assert query_body(0, 10, SEED_TASK_ID) == json.loads(SEED_REQUEST)


def test_seed_response_parses():
    result = parse_import_status(SEED_RESPONSE, SEED_TASK_ID, vdn_id=12)
    assert result is not None
    assert result.vendor == "isales"
    assert result.job_id == SEED_TASK_ID
    assert result.state is ImportState.SUCCEEDED
    assert result.vendor_status == "2"
    assert (result.total, result.imported, result.duplicates, result.failed) == (0, 0, 0, 0)
    assert result.started_at == "2022-03-11T07:27:09+00:00"
    assert result.finished_at == "2022-03-11T07:27:09+00:00"
    assert result.message is None
    assert result.details["import_type"] == "blacklist"
    assert result.warnings == []


def test_seed_response_has_no_count_so_it_is_one_page():
    page = parse_query_page(SEED_RESPONSE)
    assert page.count is None
    assert [task["id"] for task in page.tasks] == [SEED_TASK_ID]
    assert parse_import_status(SEED_RESPONSE, "another-task") is None


@pytest.mark.parametrize(
    ("status", "state"),
    [("0", ImportState.PENDING), ("1", ImportState.RUNNING), ("2", ImportState.SUCCEEDED), ("3", ImportState.FAILED)],
)
def test_documented_statuses(status, state):
    result = parse_import_task(_task(status=status, endTime=""))
    assert result.state is state
    assert result.warnings == []


def test_counters_and_message_map_to_normalized_keys():
    result = parse_import_task(
        _task(status="3", succNum=7, repeatNum="2", failNum=1, errMsg="The file format is incorrect."),
        vdn_id=3,
        campaign_id="c-1",
    )
    assert (result.imported, result.duplicates, result.failed, result.total) == (7, 2, 1, 10)
    assert result.message == "The file format is incorrect."
    assert result.details["import_type"] == "calldata"


def test_unknown_status_keeps_waiting_with_a_warning():
    result = parse_import_task(_task(status="9"))
    assert result.state is ImportState.PENDING
    assert "'9'" in result.warnings[0]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"result": []}),
        json.dumps({"resultCode": "0200000", "result": {"id": "1"}}),
        json.dumps({"resultCode": "0200000", "result": [_task(succNum=-1)]}),
        json.dumps({"resultCode": "0200000", "result": [_task(beginTime="yesterday")]}),
    ],
    ids=["not-json", "not-object", "no-codes", "result-not-list", "negative-counter", "bad-date"],
)
def test_malformed_answers_are_payload_errors(body):
    with pytest.raises(VendorPayloadError):
        parse_import_status(body, SEED_TASK_ID)


@pytest.mark.parametrize("code", sorted(PARAMETER_ERROR_CODES))
def test_documented_codes_are_bad_requests_naming_code_and_meaning(code):
    with pytest.raises(BadRequestError) as err:
        parse_query_page(_coded(code, "limit is invalid"))
    assert code in str(err.value)
    assert PARAMETER_ERROR_CODES[code] in str(err.value)
    assert "limit is invalid" in str(err.value)


def test_return_code_is_checked_too():
    body = json.dumps({"resultCode": "0200000", "returnCode": "02000007", "returnDesc": "bad offset", "result": []})
    with pytest.raises(BadRequestError, match=r"returnCode 02000007.*Incorrect parameter value.*bad offset"):
        parse_query_page(body)


def test_undocumented_code_is_permanent_unless_configured_transient():
    with pytest.raises(PermanentVendorError, match="resultCode 0299999 \\(not in the documented error table\\)") as err:
        parse_query_page(_coded("0299999"))
    assert not isinstance(err.value, BadRequestError)
    with pytest.raises(TransientVendorError):
        parse_query_page(_coded("0299999"), frozenset({"0299999"}))


# ----- the signer ----------------------------------------------------------------------------------
SIGN_URL = "https://10.1.2.3:28090/rest/isales/v1/openapi/campaigns/12/blackfile/queryDataImportTask"
SIGN_HEADERS = {"Content-Type": "application/json; charset=UTF-8", "Host": "10.1.2.3:28090", "Content-Length": "69"}
SIGN_TIME = datetime(2022, 3, 11, 7, 27, 9, tzinfo=UTC)
SIGNED = (
    "auth-v2/AK123/2022-03-11T07:27:09Z/content-length;content-type;host/"
    "0550c88f22ed846191373b336f2591da8d32d2c3e91dbc55f62054d1e2e02452"
)


def test_signer_fixed_inputs_give_fixed_header():
    assert sign_request("POST", SIGN_URL, SIGN_HEADERS, access_key="AK123", secret_key="SK456", now=SIGN_TIME) == SIGNED


def test_signer_follows_the_documented_algorithm():
    prefix = "auth-v2/AK123/2022-03-11T07:27:09Z/content-length;content-type;host"
    canonical = (
        "POST\n/rest/isales/v1/openapi/campaigns/12/blackfile/queryDataImportTask\n\n"
        "content-length:69\ncontent-type:application%2Fjson%3B%20charset%3DUTF-8\nhost:10.1.2.3%3A28090"
    )
    key = hmac.new(b"SK456", prefix.encode(), hashlib.sha256).hexdigest()
    signature = hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    assert sign_request("POST", SIGN_URL, SIGN_HEADERS, access_key="AK123", secret_key="SK456", now=SIGN_TIME) == (
        f"{prefix}/{signature}"
    )


def test_signer_is_timezone_independent_and_covers_key_body_length_and_headers():
    cet = timezone(timedelta(hours=1))
    sign = dict(access_key="AK123", secret_key="SK456", now=SIGN_TIME.astimezone(cet))
    assert sign_request("POST", SIGN_URL, SIGN_HEADERS, **sign) == SIGNED
    assert sign_request("POST", SIGN_URL, SIGN_HEADERS, **{**sign, "secret_key": "other"}) != SIGNED
    assert sign_request("POST", SIGN_URL, {**SIGN_HEADERS, "Content-Length": "70"}, **sign) != SIGNED
    assert sign_request("POST", SIGN_URL.replace("/12/", "/13/"), SIGN_HEADERS, **sign) != SIGNED
    only_host = sign_request("POST", SIGN_URL, SIGN_HEADERS, **sign, signed_headers=("Host",))
    assert only_host.startswith("auth-v2/AK123/2022-03-11T07:27:09Z/host/")


def test_requests_carry_the_signed_host_length_and_body():
    settings = ISalesSettings(base_url="https://10.1.2.3:28090", access_key="AK123", secret_key="SK456")
    request = signed_json_request(settings, SIGN_URL, query_body(0, 10, SEED_TASK_ID), SIGN_TIME)
    assert json.loads(request.content) == json.loads(SEED_REQUEST)
    assert b" " not in request.content
    assert request.headers["Host"] == "10.1.2.3:28090"
    assert request.headers["Content-Length"] == str(len(request.content))
    assert request.headers["Authorization"] == sign_request(
        "POST", SIGN_URL, request.headers, access_key="AK123", secret_key="SK456", now=SIGN_TIME
    )


# ----- connection settings and URLs ----------------------------------------------------------------
def _conn(**fields) -> SimpleNamespace:
    base = {"conn_id": "c", "host": "10.1.2.3", "port": 28090, "schema": None, "login": "AK", "password": "SK"}
    return SimpleNamespace(**{**base, **fields, "extra_dejson": fields.get("extra_dejson", {})})


def test_settings_from_connection():
    settings = settings_from_connection(
        _conn(extra_dejson={"ca_bundle": "/etc/ca.pem", "page_size": "20", "signed_headers": "Host; Content-Type"})
    )
    assert settings.base_url == "https://10.1.2.3:28090"
    assert settings.transport.verify is True
    assert settings.transport.ca_bundle == "/etc/ca.pem"
    assert settings.page_size == 20
    assert settings.signed_headers == ("content-type", "host")
    assert settings.secret_values() == ("SK",)


@pytest.mark.parametrize(
    "fields",
    [{"password": None}, {"login": ""}, {"extra_dejson": {"page_size": 101}}, {"extra_dejson": {"page_size": "x"}}],
    ids=["no-sk", "no-ak", "page-size-too-big", "page-size-not-int"],
)
def test_bad_connections_fail_clearly(fields):
    with pytest.raises(PermanentVendorError, match="connection 'c'"):
        settings_from_connection(_conn(**fields))


def test_urls_for_both_paths_and_vdn_validation():
    base = "https://h:1"
    assert query_url(base, "12") == f"{base}/rest/isales/v1/openapi/campaigns/12/blackfile/queryDataImportTask"
    assert query_url(base, 12, "c 1") == (
        f"{base}/rest/isales/v1/openapi/campaigns/12/calldatafile/queryDataImportTask/c%201"
    )
    for bad in (0, 10000, "abc", True):
        with pytest.raises(BadRequestError, match="vdn_id"):
            query_url(base, bad)


# ----- the hook over a real socket -------------------------------------------------------------------
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
        request = signed_json_request(settings, url, body, datetime.now(UTC))
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


# ----- the sensor through real Airflow, all three modes ---------------------------------------------
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_sensor_success(sim, mode):
    job = sim.create_job("isales", params={"vdn_id": 12}, counters=COUNTERS, polls=3)
    run = run_sensor(ISalesImportSensor, mode, vdn_id=12, import_task_id=job["job_id"])
    assert run.state == "success"
    assert run.was_deferred is (mode == "deferrable")
    assert run.return_value["state"] == "succeeded"
    assert run.return_value["job_id"] == job["job_id"]
    assert (run.return_value["imported"], run.return_value["duplicates"], run.return_value["total"]) == (90, 6, 100)
    assert run.import_result == run.return_value
    assert len(sim.requests("isales")) == 3


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_sensor_failed_import_fails_without_retry(sim, mode):
    job = sim.create_job("isales", params={"vdn_id": 12, "campaign_id": "c9"}, counters=COUNTERS, polls=2, fail=True)
    run = run_sensor(ISalesImportSensor, mode, vdn_id=12, import_task_id=job["job_id"], campaign_id="c9", retries=2)
    assert run.state == "failed"
    assert run.try_number == 1
    assert run.import_result["state"] == "failed"
    assert run.import_result["message"] == "The file format is incorrect."
    assert run.import_result["details"]["campaign_id"] == "c9"
    if mode == "deferrable":
        assert run.trigger_kwargs[0]["job"]["campaign_id"] == "c9"
