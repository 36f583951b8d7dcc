"""ISalesImportSensor through real Airflow, all three modes."""

from __future__ import annotations

import pytest

from airflow_import_status.sensors.isales import ISalesImportSensor
from tests.sensor_harness import MODES, run_sensor

COUNTERS = {"imported": 90, "duplicates": 6, "failed": 4}


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
