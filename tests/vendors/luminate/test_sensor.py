"""LuminateImportSensor through real Airflow, every mode."""

from __future__ import annotations

import json

import pytest

from airflow_import_status.sensors.luminate import LuminateImportSensor
from airflow_import_status.simulators.luminate import LuminateSimulator
from tests.sensor_harness import MODES, run_sensor


def _connection(simulator_server, monkeypatch, conn_id: str, **overrides) -> str:
    conn = LuminateSimulator.connection(simulator_server.url)
    conn["extra"] = json.dumps({**conn.pop("extra"), **overrides.pop("extra", {})})
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**conn, **overrides}))
    return conn_id


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
