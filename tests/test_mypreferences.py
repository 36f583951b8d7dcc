"""MyPreferences: parser, HMAC signer, OAuth token cache, hook over a real socket, sensor modes, example DAG."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from airflow.sdk import Connection

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    VendorPayloadError,
)
from airflow_import_status.hooks.mypreferences import (
    TOKEN_CACHE,
    MyPreferencesHook,
    TokenCache,
    parse_bulk_import_status,
    pnauthinfo3_authorization,
    settings_from_connection,
)
from airflow_import_status.result import ImportState
from airflow_import_status.sensors.mypreferences import MyPreferencesImportSensor
from airflow_import_status.simulators.mypreferences import (
    CLIENT_ID,
    HMAC_SECRET,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    USER_ID,
)
from tests.sensor_harness import MODES, run_sensor

VENDOR = "mypreferences"
COUNTERS = {"total": 100, "valid": 90, "invalid": 10, "processed": 80, "exceptions": 6, "not_honored": 4}


def bulk_import_status(**overrides) -> bytes:
    """A BulkImportStatus with every attribute of the seed's field list."""
    payload = {
        "TotalRecordsReceived": 100,
        "ValidationSuccessful": 90,
        "ValidationFailed": 10,
        "Processed": 80,
        "Pending": 0,
        "Exceptions": 6,
        "NotHonored": 4,
        "AccessToken": 20451,
        "Status": "Completed",
        "Expires": "2026-03-02T06:15:00",
        "Name": "Nightly CRM sync",
        "DataStageDuration": 3,
        "MatchCriteria": "AlternateIdType",
        "MatchValue": "CRM_ID",
        "RefreshAlternateIds": False,
        "RefreshContacts": False,
        "RefreshCustomFields": False,
        "RefreshGroups": False,
        "RefreshTags": False,
        "AllowOlderConsentVersion": False,
    }
    return json.dumps({**payload, **overrides}).encode()


# ----- parser -------------------------------------------------------------------------------
def test_completed_import_maps_every_counter():
    result = parse_bulk_import_status(bulk_import_status())
    assert result.state is ImportState.SUCCEEDED
    assert (result.vendor, result.job_id, result.vendor_status) == ("mypreferences", "20451", "Completed")
    assert (result.total, result.invalid, result.imported, result.failed) == (100, 10, 80, 10)
    assert result.progress_percent == 100
    assert result.details == {
        "Exceptions": 6,
        "NotHonored": 4,
        "Pending": 0,
        "ValidationSuccessful": 90,
        "Expires": "2026-03-02T06:15:00",
        "Name": "Nightly CRM sync",
    }
    assert result.warnings == []


@pytest.mark.parametrize(
    ("status", "state", "not_executed"),
    [
        ("Initiated", ImportState.PENDING, True),
        ("Staging", ImportState.PENDING, True),
        ("Queued", ImportState.PENDING, False),
        ("Processing", ImportState.RUNNING, False),
        ("Completed", ImportState.SUCCEEDED, False),
        ("Complete", ImportState.SUCCEEDED, False),
        ("COMPLETED", ImportState.SUCCEEDED, False),
        ("Failed", ImportState.FAILED, False),
    ],
)
def test_documented_statuses(status, state, not_executed):
    result = parse_bulk_import_status(bulk_import_status(Status=status))
    assert result.state is state
    assert any("not been executed" in warning for warning in result.warnings) is not_executed


def test_staging_import_keeps_waiting_with_a_warning():
    result = parse_bulk_import_status(
        bulk_import_status(Status="Staging", Processed=0, Exceptions=0, NotHonored=0, Pending=90)
    )
    assert result.state is ImportState.PENDING
    assert result.progress_percent is None
    assert result.imported == 0 and result.details["Pending"] == 90
    assert "Staging" in result.warnings[0] and "Execute" in result.warnings[0]


def test_processing_progress_is_processed_over_validation_successful():
    result = parse_bulk_import_status(bulk_import_status(Status="Processing", Processed=30, ValidationSuccessful=120))
    assert (result.state, result.progress_percent) == (ImportState.RUNNING, 25)
    empty = parse_bulk_import_status(bulk_import_status(Status="Processing", Processed=0, ValidationSuccessful=0))
    assert empty.progress_percent is None


def test_unknown_status_keeps_waiting_with_a_warning():
    result = parse_bulk_import_status(bulk_import_status(Status="Archived"))
    assert result.state is ImportState.PENDING
    assert "unrecognized import status 'Archived'" in result.warnings[0]
    assert "success_statuses" in result.warnings[0]


def test_field_names_are_case_insensitive_and_token_falls_back_to_the_request():
    body = json.dumps({"status": "Completed", "totalRecordsReceived": 5, "processed": 5}).encode()
    result = parse_bulk_import_status(body, access_token=77)
    assert (result.job_id, result.total, result.imported, result.state) == ("77", 5, 5, ImportState.SUCCEEDED)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>Service Unavailable</html>", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (bulk_import_status(Processed=-1), "'Processed' is negative"),
        (bulk_import_status(Exceptions="many"), "'Exceptions' is not an integer"),
        (json.dumps({"Status": "Completed"}).encode(), "no AccessToken"),
    ],
)
def test_bad_payloads_are_typed_errors(body, match):
    with pytest.raises(VendorPayloadError, match=match):
        parse_bulk_import_status(body)


# ----- settings and signer -------------------------------------------------------------------
def _connection(**fields) -> Connection:
    extra = {"client_id": "ACME", "user_id": "jane", **fields.pop("extra", {})}
    return Connection(conn_id="myp", conn_type="mypreferences", extra=json.dumps(extra), **fields)


def test_settings_defaults_to_production_oauth2():
    settings = settings_from_connection(_connection(login="oauth-id", password="oauth-secret"))
    assert settings.base_url == "https://pm.mypreferences.com"
    assert settings.auth_type == "oauth2"
    assert settings.scope == "ACME/jane"
    assert settings.token_url == "https://pm.mypreferences.com/Profiles/oauth/token"
    assert (
        settings.url(settings.status_path, "ACME", 12) == "https://pm.mypreferences.com/Profiles/Async/ACME/Import/12"
    )


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"extra": {"client_id": ""}, "login": "a", "password": "b"}, "client_id"),
        ({"extra": {"auth_type": "apikey"}, "login": "a", "password": "b"}, "auth_type"),
        ({"login": "a"}, "OAuth client id and secret"),
        ({"extra": {"user_id": ""}, "login": "a", "password": "b"}, "user_id"),
        ({"extra": {"auth_type": "hmac", "user_id": ""}, "password": "b"}, "user id and secret"),
        ({"extra": {"status_path": "Import/{token}"}, "login": "a", "password": "b"}, "status_path"),
        ({"extra": {"hmac_hash": "md5"}, "login": "a", "password": "b"}, "hmac_hash"),
    ],
)
def test_bad_connections_name_the_problem(fields, match):
    with pytest.raises(PermanentVendorError, match=match):
        settings_from_connection(_connection(**fields))


def test_signer_fixed_inputs_give_a_fixed_header():
    header = pnauthinfo3_authorization(
        client_id="SanchezAssociates",
        user_id="RickSanchez",
        secret="example-secret",
        now=lambda: datetime(2015, 8, 10, 20, 11, 0, tzinfo=UTC),
    )
    assert header == (
        "PNAUTHINFO3-HMAC-SHA256 Credential=RickSanchez/2015-08-10T20:11:00Z "
        "Signature=7NBS54ABAHcEyXAzCQY45hQKmouE74/0aF2sNjV5YNQ="
    )


def test_signer_string_to_sign_and_hash_are_replaceable():
    header = pnauthinfo3_authorization(
        client_id="SanchezAssociates",
        user_id="RickSanchez",
        secret="example-secret",
        method="get",
        path="/Profiles/x",
        hash_name="sha512",
        string_to_sign="{method} {path} {timestamp}",
        now=lambda: datetime(2015, 8, 10, 22, 11, 0, tzinfo=UTC).astimezone(),
    )
    assert header == (
        "PNAUTHINFO3-HMAC-SHA512 Credential=RickSanchez/2015-08-10T22:11:00Z "
        "Signature=XoZkseehjtnmJfbYzuQs0L2JLfWSepVPzFaYW4V+sNTz/WRzo00ZjeDgeWmaPuVkki+GEXdFAO2sFZ+bX6fCKQ=="
    )


def test_token_cache_expires_before_the_vendor_says():
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    cache.put(("k",), "tok", expires_in=3600)
    now[0] += 3600 - 61
    assert cache.get(("k",)) == "tok"
    now[0] += 2
    assert cache.get(("k",)) is None
    cache.put(("k",), "new", expires_in=3600)
    cache.discard(("k",), "tok")
    assert cache.get(("k",)) == "new", "discarding a stale token keeps the one another flow fetched"


# ----- hook over a real socket ---------------------------------------------------------------
def _get(hook: MyPreferencesHook, access_token, use_async: bool, client_id=None):
    if use_async:
        return asyncio.run(hook.aget_import_status(access_token, client_id))
    return hook.get_import_status(access_token, client_id)


def _token_requests(sim) -> list[dict]:
    return [r for r in sim.requests(VENDOR) if r["path"].endswith("/oauth/token")]


def _status_requests(sim) -> list[dict]:
    return [r for r in sim.requests(VENDOR) if "/Import/" in r["path"] and r["method"] == "GET"]


@pytest.fixture
def custom_conn(simulator_server, monkeypatch):
    """Define an extra connection in the environment, pointing at the simulators."""

    def define(conn_id: str, **fields) -> str:
        base = {
            "conn_type": "mypreferences",
            "host": f"{simulator_server.url}/mypreferences",
            "login": OAUTH_CLIENT_ID,
            "password": OAUTH_CLIENT_SECRET,
        }
        extra = {"client_id": CLIENT_ID, "user_id": USER_ID, **fields.pop("extra", {})}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**base, **fields, "extra": extra}))
        return conn_id

    return define


@pytest.fixture
def hmac_conn(custom_conn):
    return custom_conn("mypreferences_hmac", login=USER_ID, password=HMAC_SECRET, extra={"auth_type": "hmac"})


@pytest.fixture(autouse=True)
def fresh_token_cache():
    TOKEN_CACHE.clear()


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_progress_then_success_with_one_token(sim, use_async):
    job = sim.create_job(VENDOR, job_id=5001, counters=COUNTERS, polls=3)
    hook = MyPreferencesHook()
    results = [_get(hook, job["job_id"], use_async) for _ in range(4)]
    assert [r.state for r in results] == [ImportState.PENDING, ImportState.RUNNING] + [ImportState.SUCCEEDED] * 2
    assert [r.vendor_status for r in results[:3]] == ["Queued", "Processing", "Completed"]
    assert results[1].progress_percent == 44  # 40 of 90 validated records processed
    final = results[-1]
    assert (final.total, final.invalid, final.imported, final.failed) == (100, 10, 80, 10)
    assert len(_token_requests(sim)) == 1, "the bearer token is fetched once and reused"
    assert _status_requests(sim)[0]["path"] == f"/mypreferences/Profiles/Async/{CLIENT_ID}/Import/5001"


def test_token_is_shared_across_hooks_sync_and_async(sim):
    job = sim.create_job(VENDOR, job_id=5002, counters=COUNTERS, polls=1)
    for use_async in (False, True, False, True):
        assert _get(MyPreferencesHook(), job["job_id"], use_async).state is ImportState.SUCCEEDED
    assert len(_token_requests(sim)) == 1
    assert len(_status_requests(sim)) == 4


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_expired_bearer_is_refreshed_once_on_401(sim, use_async):
    job = sim.create_job(VENDOR, job_id=5003, counters=COUNTERS, polls=1)
    hook = MyPreferencesHook()
    _get(hook, job["job_id"], use_async)
    sim.add_fault(
        VENDOR,
        "status",
        status=401,
        body='{"Message": "Authorization has been denied for this request."}',
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        path_contains="/Import/",
    )
    assert _get(hook, job["job_id"], use_async).state is ImportState.SUCCEEDED
    assert len(_token_requests(sim)) == 2
    assert [r["status"] for r in _status_requests(sim) if "status" in r] == [200, 200]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_fresh_token_refused_is_not_refetched(sim, use_async):
    job = sim.create_job(VENDOR, job_id=5004, counters=COUNTERS, polls=1)
    sim.add_fault(
        VENDOR,
        "status",
        status=401,
        body='{"Message": "Authorization has been denied for this request."}',
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        path_contains="/Import/",
        times=2,
    )
    with pytest.raises(AuthenticationError, match=r"refused the credentials.*Authorization has been denied"):
        _get(MyPreferencesHook(), job["job_id"], use_async)
    assert len(_token_requests(sim)) == 1


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_hmac_signed_requests(sim, hmac_conn, use_async):
    job = sim.create_job(VENDOR, job_id=5005, counters=COUNTERS, polls=1)
    result = _get(MyPreferencesHook(hmac_conn), job["job_id"], use_async)
    assert result.state is ImportState.SUCCEEDED
    assert _token_requests(sim) == []


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_wrong_hmac_secret_is_an_authentication_error(sim, custom_conn, use_async):
    job = sim.create_job(VENDOR, job_id=5006)
    conn_id = custom_conn("myp_bad_hmac", login=USER_ID, password="wrong-hmac-secret", extra={"auth_type": "hmac"})
    with pytest.raises(AuthenticationError, match=r"HTTP 401: MyPreferences refused the credentials.*Unable to auth"):
        _get(MyPreferencesHook(conn_id), job["job_id"], use_async)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_wrong_oauth_secret_is_an_authentication_error(sim, custom_conn, use_async):
    job = sim.create_job(VENDOR, job_id=5007)
    conn_id = custom_conn("myp_bad_oauth", password="wrong-oauth-secret")
    with pytest.raises(AuthenticationError, match=r"token endpoint refused.*Client authentication failed") as err:
        _get(MyPreferencesHook(conn_id), job["job_id"], use_async)
    assert "wrong-oauth-secret" not in str(err.value)
    assert _status_requests(sim) == []


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_unknown_access_token_is_not_found(sim, use_async):
    sim.create_job(VENDOR, job_id=5008)
    with pytest.raises(JobNotFoundError, match="import access token 987654 is invalid or expired"):
        _get(MyPreferencesHook(), 987654, use_async)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_unknown_client_id_fails_naming_it(sim, hmac_conn, use_async):
    job = sim.create_job(VENDOR, job_id=5009)
    with pytest.raises(BadRequestError, match="HTTP 404: clientId 'NoSuchClient' is not a MyPreferences account"):
        _get(MyPreferencesHook(hmac_conn), job["job_id"], use_async, client_id="NoSuchClient")


def test_client_id_from_the_job_overrides_the_connection(sim):
    job = sim.create_job(VENDOR, job_id=5010, params={"client_id": "OtherCo"}, counters=COUNTERS, polls=1)
    hook = MyPreferencesHook()
    with pytest.raises(JobNotFoundError):
        hook.get_import_status(job["job_id"])
    assert hook.get_import_status(job["job_id"], client_id="OtherCo").state is ImportState.SUCCEEDED


def test_start_import_initiates_stages_and_executes(sim, hmac_conn):
    hook = MyPreferencesHook(hmac_conn)
    profiles = [{"ProfileId": f"p{i}", "Emails": [{"Email": f"p{i}@example.com"}]} for i in range(3)]
    token = hook.start_import([*profiles, {"ProfileId": "bad", "Emails": []}], name="test import")
    paths = [(r["method"], r["path"]) for r in sim.requests(VENDOR)]
    base = f"/mypreferences/Profiles/Async/{CLIENT_ID}/Import"
    assert paths == [("POST", base), ("POST", f"{base}/{token}"), ("POST", f"{base}/{token}/Execute")]
    results = [hook.get_import_status(token) for _ in range(3)]
    assert [r.vendor_status for r in results] == ["Queued", "Processing", "Completed"]
    assert (results[-1].total, results[-1].invalid, results[-1].imported) == (4, 1, 3)
    assert results[-1].details["Name"] == "test import"


def test_not_executed_import_warns(sim):
    job = sim.create_job(VENDOR, job_id=5011, started=False)
    result = MyPreferencesHook().get_import_status(job["job_id"])
    assert (result.state, result.vendor_status) == (ImportState.PENDING, "Initiated")
    assert "not been executed" in result.warnings[0]


def test_test_connection(sim, hmac_conn, custom_conn):
    assert MyPreferencesHook().test_connection() == (
        True,
        f"Connected to MyPreferences at {MyPreferencesHook().get_settings().base_url} as clientId '{CLIENT_ID}'",
    )
    assert MyPreferencesHook(hmac_conn).test_connection()[0] is True
    ok, message = MyPreferencesHook(custom_conn("myp_nosuch", extra={"client_id": "Nope"})).test_connection()
    assert not ok and "scope" in message
    ok, message = MyPreferencesHook(custom_conn("myp_bad_scope", password="nope")).test_connection()
    assert not ok and "Client authentication failed" in message


# ----- sensor in all three modes -------------------------------------------------------------
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_sensor_success(sim, mode):
    job = sim.create_job(VENDOR, job_id=6001 + MODES.index(mode), counters=COUNTERS, polls=3)
    run = run_sensor(MyPreferencesImportSensor, mode, access_token=int(job["job_id"]))
    assert run.state == "success"
    assert run.was_deferred is (mode == "deferrable")
    assert run.return_value["state"] == "succeeded"
    assert run.return_value["vendor"] == VENDOR
    assert (run.return_value["imported"], run.return_value["failed"], run.return_value["invalid"]) == (80, 10, 10)
    assert run.import_result == run.return_value
    assert len(_status_requests(sim)) == 3


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_sensor_vendor_failure_fails_without_retry_and_keeps_the_result(sim, mode):
    job = sim.create_job(VENDOR, job_id=6101 + MODES.index(mode), counters=COUNTERS, polls=2, fail=True)
    run = run_sensor(MyPreferencesImportSensor, mode, access_token=int(job["job_id"]), retries=2)
    assert run.state == "failed"
    assert run.try_number == 1, "a finished import cannot change: no Airflow retry"
    assert run.return_value is None
    assert run.import_result["state"] == "failed"
    assert run.import_result["vendor_status"] == "Failed"


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_sensor_with_hmac_and_client_override(sim, hmac_conn, mode):
    job = sim.create_job(VENDOR, job_id=6201 + MODES.index(mode), params={"client_id": "OtherCo"}, polls=2)
    run = run_sensor(
        MyPreferencesImportSensor,
        mode,
        access_token=job["job_id"],
        client_id="OtherCo",
        mypreferences_conn_id=hmac_conn,
    )
    assert run.state == "success"
    assert run.return_value["job_id"] == job["job_id"]


@pytest.mark.usefixtures("airflow_db")
def test_sensor_bad_credentials_fail_without_retry(sim, custom_conn):
    job = sim.create_job(VENDOR, job_id=6301)
    conn_id = custom_conn("myp_sensor_bad", password="wrong")
    run = run_sensor(
        MyPreferencesImportSensor, "deferrable", access_token=job["job_id"], mypreferences_conn_id=conn_id, retries=2
    )
    assert run.state == "failed" and run.try_number == 1


def test_the_bearer_token_is_registered_with_the_secrets_masker(sim):
    from airflow.sdk.log import _secrets_masker

    TOKEN_CACHE.clear()
    job = sim.create_job(VENDOR, polls=1)
    hook = MyPreferencesHook()
    hook.get_import_status(int(job["job_id"]))
    [token] = [v.value for v in TOKEN_CACHE._tokens.values()]
    assert _secrets_masker().redact(f"Bearer {token}") == "Bearer ***"
