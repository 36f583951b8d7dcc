"""MyPreferencesImportSensor through real Airflow in all three modes, against the simulator."""

from __future__ import annotations

import json
import time

import pytest

from airflow_import_status.runtime import RUNTIME
from airflow_import_status.sensors.mypreferences import MyPreferencesImportSensor
from airflow_import_status.simulators.mypreferences import CLIENT_ID, HMAC_SECRET, OAUTH_CLIENT_ID, USER_ID
from tests.sensor_harness import MODES, run_sensor

VENDOR = "mypreferences"
COUNTERS = {"total": 100, "valid": 90, "invalid": 10, "processed": 80, "exceptions": 6, "not_honored": 4}


def _status_requests(sim) -> list[dict]:
    return [r for r in sim.requests(VENDOR) if "/Import/" in r["path"] and r["method"] == "GET"]


@pytest.fixture(autouse=True)
def empty_shared_values():
    RUNTIME.reset()


@pytest.fixture
def custom_conn(simulator_server, monkeypatch):
    """Define an extra connection in the environment, pointing at the simulators."""

    def define(conn_id: str, **fields) -> str:
        base = {"conn_type": "mypreferences", "host": f"{simulator_server.url}/mypreferences", "login": OAUTH_CLIENT_ID}
        extra = {"client_id": CLIENT_ID, "user_id": USER_ID, **fields.pop("extra", {})}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**base, **fields, "extra": extra}))
        return conn_id

    return define


@pytest.fixture
def hmac_conn(custom_conn):
    return custom_conn("mypreferences_hmac", login=USER_ID, password=HMAC_SECRET, extra={"auth_type": "hmac"})


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


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", ["deferrable", "poke"])
def test_sensor_fails_at_once_when_the_access_token_expires(sim, mode):
    job = sim.create_job(VENDOR, script=[{"state": "running", "progress": 10}], expires_in_seconds=15)
    started = time.monotonic()
    run = run_sensor(
        MyPreferencesImportSensor, mode, access_token=int(job["job_id"]), not_found_grace=600, timeout=90, retries=2
    )
    assert run.state == "failed" and run.try_number == 1
    assert time.monotonic() - started < 80, "the 401 after Expires waited for the not-found grace"
    assert _status_requests(sim)[-1]["status"] == 401
