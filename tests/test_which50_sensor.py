"""Which50ImportSensor through real Airflow in all three modes, against the simulator."""

from __future__ import annotations

import pytest

from airflow_import_status.sensors.which50 import Which50ImportSensor
from tests.sensor_harness import MODES, run_sensor

pytestmark = pytest.mark.usefixtures("airflow_db")

COUNTERS = {"total": 100, "inserted": 60, "updated": 30, "unchanged": 10, "invalid_email": 3, "invalid_sms": 1}


def _job_kwargs(job: dict) -> dict:
    return {"contact_list_id": job["params"]["contact_list_id"], "import_job_id": job["job_id"]}


@pytest.mark.parametrize("mode", MODES)
def test_success_returns_normalized_result(sim, mode):
    job = sim.create_job("which50", params={"contact_list_id": 5}, counters=COUNTERS, polls=3)
    run = run_sensor(Which50ImportSensor, mode, **_job_kwargs(job))
    assert run.state == "success"
    assert run.was_deferred is (mode == "deferrable")
    assert run.return_value["state"] == "succeeded"
    assert run.return_value["vendor"] == "which50"
    assert run.return_value["job_id"] == job["job_id"]
    assert run.return_value["imported"] == 90
    assert run.return_value["invalid"] == 4
    assert run.import_result == run.return_value
    assert len([r for r in sim.requests("which50") if r["method"] == "GET"]) == 3
