"""MailUpImportSensor through real Airflow in all three modes, against the simulator."""

from __future__ import annotations

import json

import pytest

from airflow_import_status.sensors.mailup import MailUpImportSensor
from airflow_import_status.simulators.mailup import MailUpSimulator
from tests.sensor_harness import MODES, run_sensor
from tests.vendors.mailup.test_codec import COUNTERS, LIST, LIST_GUID, SOAP_FAULT


def _posts(sim) -> list[dict]:
    return [r for r in sim.requests("mailup") if r["method"] == "POST"]


@pytest.fixture
def custom_conn(simulator_server, monkeypatch):
    """Define an extra mailup connection in the environment, pointing at the simulator."""

    def define(conn_id: str, **fields) -> str:
        base = MailUpSimulator.connection(simulator_server.url)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**base, **fields}))
        return conn_id

    return define


# ----- the sensor through real Airflow, all three modes ---------------------------------------------------
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_sensor_success(sim, mode):
    job = sim.create_job("mailup", params=LIST, counters=COUNTERS, polls=3)
    run = run_sensor(MailUpImportSensor, mode, list_id=1, list_guid=LIST_GUID, process_id=int(job["job_id"]))
    assert run.state == "success"
    assert run.was_deferred is (mode == "deferrable")
    assert run.return_value["vendor"] == "mailup"
    assert run.return_value["state"] == "succeeded"
    assert run.return_value["job_id"] == job["job_id"]
    assert (run.return_value["imported"], run.return_value["opted_out"], run.return_value["total"]) == (10, 2, 12)
    assert run.import_result == run.return_value
    assert len(_posts(sim)) == 3


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", MODES)
def test_sensor_failed_import_fails_without_retry(sim, mode):
    job = sim.create_job("mailup", params=LIST, counters=COUNTERS, polls=2, fail=True)
    run = run_sensor(MailUpImportSensor, mode, list_id=1, list_guid=LIST_GUID, process_id=int(job["job_id"]), retries=2)
    assert run.state == "failed"
    assert run.try_number == 1
    assert run.import_result["state"] == "failed"
    assert run.import_result["vendor_status"] == "4"
    assert "Import Status page" in run.import_result["message"]


@pytest.mark.usefixtures("airflow_db")
def test_sensor_rides_out_a_soap_fault_then_succeeds(sim):
    job = sim.create_job("mailup", params=LIST, counters=COUNTERS, polls=2)
    sim.add_fault("mailup", kind="status", status=500, body=SOAP_FAULT, content_type="text/xml", times=2)
    run = run_sensor(MailUpImportSensor, "deferrable", list_id=1, list_guid=LIST_GUID, process_id=int(job["job_id"]))
    assert run.state == "success"
    assert [r["fault"] for r in sim.requests("mailup")][:2] == ["status", "status"]


@pytest.mark.usefixtures("airflow_db")
def test_sensor_wrong_password_fails_without_retrying(sim, custom_conn):
    job = sim.create_job("mailup", params=LIST, polls=1)
    conn_id = custom_conn("mailup_sensor_wrong_password", password="not-the-password")
    run = run_sensor(
        MailUpImportSensor, "deferrable", list_id=1, list_guid=LIST_GUID, process_id=int(job["job_id"]),
        mailup_conn_id=conn_id, retries=2,
    )  # fmt: skip
    assert run.state == "failed"
    assert run.try_number == 1
    assert len(_posts(sim)) == 1
