"""MyPreferencesHook over a real socket against the simulator: sync (requests) and async (aiohttp)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from airflow_import_status.errors import AuthenticationError, BadRequestError, JobNotFoundError, PermanentVendorError
from airflow_import_status.hooks.mypreferences import MyPreferencesHook
from airflow_import_status.result import ImportState
from airflow_import_status.runtime import RUNTIME
from airflow_import_status.simulators.mypreferences import (
    CLIENT_ID,
    HMAC_SECRET,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    USER_ID,
)
from airflow_import_status.vendors.mypreferences.codec import bearer_token, pnauthinfo3_authorization

VENDOR = "mypreferences"
COUNTERS = {"total": 100, "valid": 90, "invalid": 10, "processed": 80, "exceptions": 6, "not_honored": 4}


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
def empty_shared_values():
    """Every test starts with no bearer token in the process."""
    RUNTIME.reset()


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
def test_a_refused_token_is_refetched_exactly_once(sim, use_async):
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
    assert len(_token_requests(sim)) == 2
    assert len(_status_requests(sim)) == 2


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_hmac_signed_requests(sim, hmac_conn, use_async):
    job = sim.create_job(VENDOR, job_id=5005, counters=COUNTERS, polls=1)
    result = _get(MyPreferencesHook(hmac_conn), job["job_id"], use_async)
    assert result.state is ImportState.SUCCEEDED
    assert _token_requests(sim) == []


def _tampered(header: str, part: str) -> str:
    if part == "signature":
        signature = re.search(r"Signature=(\S+)", header)[1]
        flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
        return header.replace(f"Signature={signature}", f"Signature={flipped}")
    if part == "milliseconds":
        return re.sub(r"\.(\d{3})Z", lambda m: f".{(int(m[1]) + 1) % 1000:03d}Z", header)
    if part == "user":
        return header.replace(f"Credential={USER_ID}/", "Credential=someone.else/")
    return header


@pytest.mark.parametrize(
    ("part", "age_minutes", "accepted"),
    [
        ("nothing", 0, True),
        ("nothing", 14, True),
        ("nothing", 16, False),
        ("signature", 0, False),
        ("milliseconds", 0, False),
        ("user", 0, False),
    ],
)
def test_the_simulator_verifies_the_whole_signature_and_its_15_minutes(sim, part, age_minutes, accepted):
    signed_at = datetime.now(UTC) - timedelta(minutes=age_minutes)
    header = pnauthinfo3_authorization(client_id=CLIENT_ID, user_id=USER_ID, secret=HMAC_SECRET, now=lambda: signed_at)
    response = requests.get(
        f"{sim.base_url}/mypreferences/Profiles/v4/{CLIENT_ID}/Programs",
        headers={"Authorization": _tampered(header, part)},
        timeout=10,
    )
    assert response.status_code == (200 if accepted else 401)
    assert accepted or "PNAUTHINFO3" in response.headers["WWW-Authenticate"]


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
    with pytest.raises(JobNotFoundError, match="import access token 987654 is unknown"):
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
    profiles = [{"ProfileId": 100 + i, "Emails": [{"EmailAddress": f"p{i}@example.com"}]} for i in range(3)]
    token = hook.start_import([*profiles, {"ProfileId": "bad", "Emails": []}], name="test import")
    paths = [(r["method"], r["path"]) for r in sim.requests(VENDOR)]
    base = f"/mypreferences/Profiles/Async/{CLIENT_ID}/Import"
    assert paths == [("POST", base), ("POST", f"{base}/{token}"), ("POST", f"{base}/{token}/Execute")]
    results = [hook.get_import_status(token) for _ in range(3)]
    assert [r.vendor_status for r in results] == ["Queued", "Processing", "Completed"]
    assert (results[-1].total, results[-1].invalid, results[-1].imported) == (4, 1, 3)
    assert results[-1].details["Name"] == "test import"


def _signed_post(sim, path: str, **kwargs) -> requests.Response:
    header = pnauthinfo3_authorization(client_id=CLIENT_ID, user_id=USER_ID, secret=HMAC_SECRET)
    url = f"{sim.base_url}/mypreferences/Profiles/Async/{CLIENT_ID}/Import{path}"
    return requests.post(url, headers={"Authorization": header, **kwargs.pop("headers", {})}, timeout=30, **kwargs)


def test_the_simulator_validates_staged_records_and_keeps_counters_not_rows(sim):
    token = _signed_post(sim, "", json={"Name": "validation"}).json()["AccessToken"]
    records = [
        {"ProfileId": 1},
        {"Emails": [{"EmailAddress": "a@example.com"}], "PhoneNumbers": [{"PhoneNumber": "+39 02 555 0000"}]},
        {"Emails": [{"EmailAddress": "not-an-email"}]},
        {"ProfileId": "1"},
        {"PhoneNumbers": [{"PhoneNumber": "call me"}]},
        {"CustomerName": {"FirstName": "Nobody"}},
        "not an object",
    ]
    answer = _signed_post(sim, f"/{token}", json=records).json()
    assert (answer["Status"], answer["TotalRecordsReceived"]) == ("Staging", 7)
    assert (answer["ValidationSuccessful"], answer["ValidationFailed"], answer["Processed"]) == (2, 5, 0)
    wrapped = _signed_post(sim, f"/{token}", json={"UserProfiles": [{"ProfileId": 2}]}).json()
    assert (wrapped["TotalRecordsReceived"], wrapped["ValidationSuccessful"]) == (8, 3)
    data = sim.job(VENDOR, str(token))["data"]
    assert (data["received"], data["valid"], data["invalid"], data["stagings"]) == (8, 3, 5, 2)
    assert not any(isinstance(value, list) for value in data.values()), "the simulator kept the records"


def test_the_simulator_refuses_what_the_vendor_refuses_when_staging(sim):
    token = _signed_post(sim, "", json={"Name": "refusals"}).json()["AccessToken"]
    assert _signed_post(sim, "", json={"Name": "x", "ImportType": "Upsert"}).status_code == 400
    assert _signed_post(sim, "", json={"Name": "x", "MatchCriteria": "AlternateIdType"}).status_code == 400
    as_text = _signed_post(sim, f"/{token}", data=b"[]", headers={"Content-Type": "text/plain"})
    assert as_text.status_code == 415
    assert _signed_post(sim, f"/{token}", json=[]).status_code == 400, "an empty collection"
    assert _signed_post(sim, f"/{token}", json={"Profiles": []}).status_code == 400
    too_big = b"[" + b" " * (25 * 1024 * 1024) + b"]"
    assert _signed_post(sim, f"/{token}", data=too_big, headers={"Content-Type": "application/json"}).status_code == 413
    assert _signed_post(sim, f"/{token}", json=[{"ProfileId": 3}]).status_code == 200
    assert _signed_post(sim, f"/{token}/Execute").status_code == 200
    late = _signed_post(sim, f"/{token}", json=[{"ProfileId": 4}])
    assert late.status_code == 400 and "already been executed" in late.json()["Message"]
    executed = MyPreferencesHook().get_import_status(token)
    assert (executed.total, executed.invalid) == (1, 0), "refused requests counted no record"


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


def test_the_bearer_token_is_registered_with_the_secrets_masker(sim):
    from tests.version_compat import _secrets_masker

    job = sim.create_job(VENDOR, polls=1)
    hook = MyPreferencesHook()
    hook.get_import_status(int(job["job_id"]))
    settings = hook.get_settings()

    def cached_token():
        return (yield bearer_token(settings))

    token = hook.run_flow(cached_token(), settings)
    assert len(_token_requests(sim)) == 1, "the token came from the shared cache"
    assert _secrets_masker().redact(f"Bearer {token}") == "Bearer ***"


def test_many_triggers_with_an_empty_cache_fetch_one_token(sim):
    jobs = [sim.create_job(VENDOR, counters=COUNTERS, polls=1) for _ in range(50)]

    async def poll_all() -> list:
        return await asyncio.gather(*(MyPreferencesHook().apoll({"access_token": job["job_id"]}) for job in jobs))

    results = asyncio.run(poll_all())
    assert {r.state for r in results} == {ImportState.SUCCEEDED}
    assert sorted(r.job_id for r in results) == sorted(job["job_id"] for job in jobs)
    assert len(_token_requests(sim)) == 1
    assert len(_status_requests(sim)) == 50


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_once_expires_passed_the_vendors_401_is_an_expired_token(sim, use_async):
    job = sim.create_job(VENDOR, script=[{"state": "running", "progress": 10}], expires_in_seconds=1.0)
    hook = MyPreferencesHook()
    seen = _get(hook, job["job_id"], use_async)
    assert seen.state is ImportState.RUNNING
    time.sleep(max(0.0, datetime.fromisoformat(seen.details["Expires"]).timestamp() - time.time()) + 0.05)
    with pytest.raises(PermanentVendorError, match=f"access token {job['job_id']} has expired") as err:
        _get(hook, job["job_id"], use_async)
    assert not isinstance(err.value, JobNotFoundError)
    assert _status_requests(sim)[-1]["status"] == 401


def test_an_import_seen_for_the_first_time_after_it_expired_gets_the_grace(sim):
    job = sim.create_job(VENDOR, expires_in_seconds=-1)
    with pytest.raises(JobNotFoundError):
        MyPreferencesHook().get_import_status(job["job_id"])
