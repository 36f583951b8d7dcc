"""Which50ImportSensor through real Airflow in all three modes, against the simulator."""

from __future__ import annotations

import json

import pytest

from airflow_import_status.sensors.which50 import Which50ImportSensor
from airflow_import_status.simulators.which50 import API_KEY
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


@pytest.mark.parametrize("mode", MODES)
def test_vendor_failure_fails_without_retry_and_keeps_the_result(sim, mode):
    job = sim.create_job("which50", params={"contact_list_id": 5}, counters=COUNTERS, polls=2, fail=True)
    run = run_sensor(Which50ImportSensor, mode, retries=2, **_job_kwargs(job))
    assert run.state == "failed"
    assert run.try_number == 1, "a finished import cannot change: no Airflow retry"
    assert run.return_value is None
    assert run.import_result["state"] == "failed"
    assert run.import_result["vendor_status"] == "Failed"
    assert run.import_result["imported"] == 90


@pytest.mark.parametrize("mode", MODES)
def test_timeout_fails_the_task(sim, mode):
    job = sim.create_job("which50", params={"contact_list_id": 5}, script=[{"state": "running", "progress": 10}])
    run = run_sensor(Which50ImportSensor, mode, timeout=1, **_job_kwargs(job))
    assert run.state == "failed"
    assert run.return_value is None


@pytest.mark.parametrize("mode", MODES)
def test_timeout_with_soft_fail_skips(sim, mode):
    job = sim.create_job("which50", params={"contact_list_id": 5}, script=[{"state": "running", "progress": 10}])
    run = run_sensor(Which50ImportSensor, mode, timeout=1, soft_fail=True, **_job_kwargs(job))
    assert run.state == "skipped"


@pytest.mark.parametrize(
    ("gate", "state"),
    [
        ({"max_rejected": 4}, "success"),
        ({"max_rejected": 3}, "failed"),
        ({"max_rejected_ratio": 0.04}, "success"),
        ({"max_rejected_ratio": 0.03}, "failed"),
        ({"max_rejected": 3, "soft_fail": True}, "skipped"),
    ],
)
def test_quality_gate(sim, gate, state):
    job = sim.create_job("which50", params={"contact_list_id": 5}, counters=COUNTERS, polls=1)
    run = run_sensor(Which50ImportSensor, "deferrable", **gate, **_job_kwargs(job))
    assert run.state == state
    assert run.import_result["invalid"] == 4


def test_quality_gate_in_poke_mode(sim):
    job = sim.create_job("which50", params={"contact_list_id": 5}, counters=COUNTERS, polls=1)
    assert run_sensor(Which50ImportSensor, "poke", max_rejected=3, **_job_kwargs(job)).state == "failed"


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_transient_faults_are_ridden_out_in_poke_modes(sim, mode):
    job = sim.create_job("which50", params={"contact_list_id": 5}, counters=COUNTERS, polls=2)
    sim.add_fault("which50", "status", status=503, times=2)
    run = run_sensor(Which50ImportSensor, mode, **_job_kwargs(job))
    assert run.state == "success"
    assert [r["fault"] for r in sim.requests("which50")][:2] == ["status", "status"]


@pytest.mark.parametrize("mode", MODES)
def test_bad_credentials_fail_at_once(sim, mode, monkeypatch):
    job = sim.create_job("which50", params={"contact_list_id": 5})
    conn = {"conn_type": "which50", "host": f"{sim.base_url}/which50/Which50API", "password": "bad"}
    monkeypatch.setenv("AIRFLOW_CONN_WHICH50_BAD", json.dumps(conn))
    run = run_sensor(Which50ImportSensor, mode, which50_conn_id="which50_bad", retries=2, **_job_kwargs(job))
    assert run.state == "failed" and run.try_number == 1
    assert len(sim.requests("which50")) == 1


def test_unknown_status_keeps_waiting(sim):
    script = [{"state": "running", "progress": 50, "vendor_status": "Validating"}] * 2 + [
        {"state": "succeeded", "progress": 100, "counters": COUNTERS}
    ]
    job = sim.create_job("which50", params={"contact_list_id": 5}, script=script)
    run = run_sensor(Which50ImportSensor, "poke", **_job_kwargs(job))
    assert run.state == "success"
    assert len(sim.requests("which50")) == 3


def test_trigger_kwargs_hold_no_secret(sim):
    job = sim.create_job("which50", params={"contact_list_id": 5}, polls=2)
    run = run_sensor(Which50ImportSensor, "deferrable", **_job_kwargs(job))
    assert API_KEY not in json.dumps(run.trigger_kwargs)
    assert run.trigger_kwargs[0]["conn_id"] == "which50_default"


def test_asset_outlets_carry_the_counters(sim):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    job = sim.create_job("which50", params={"contact_list_id": 5}, counters=COUNTERS, polls=1)
    uri = f"which50://contact-list/5/{job['job_id']}"
    run = run_sensor(
        Which50ImportSensor, "deferrable", source_kwargs={"outlets": f"[Asset({uri!r})]"}, **_job_kwargs(job)
    )
    assert run.state == "success"
    with create_session() as session:
        events = [e for e in session.query(AssetEvent).all() if e.asset.uri == uri]
    assert len(events) == 1
    assert events[0].extra["imported"] == 90 and events[0].extra["state"] == "succeeded"


def test_console_link():
    sensor = Which50ImportSensor(task_id="t", contact_list_id=1, import_job_id=2)
    link = sensor.operator_extra_links[0]
    assert link.name == "Vendor console"
    assert link.get_link(sensor, ti_key=None) == "https://app.which50.com/"


def test_quality_gate_without_rejected_counts_fails_clearly(sim):
    script = [{"state": "succeeded", "progress": 100, "fields": {"InvalidEmailCount": None, "InvalidSmsCount": None}}]
    job = sim.create_job("which50", params={"contact_list_id": 5}, script=script)
    run = run_sensor(Which50ImportSensor, "poke", max_rejected=0, **_job_kwargs(job))
    assert run.state == "failed"
    assert run.import_result["invalid"] is None


def test_a_finished_job_does_not_defer(sim):
    job = sim.create_job("which50", params={"contact_list_id": 5}, counters=COUNTERS, polls=1)
    run = run_sensor(Which50ImportSensor, "deferrable", **_job_kwargs(job))
    assert run.state == "success" and not run.was_deferred
    assert run.return_value["imported"] == 90


def test_a_failed_job_found_before_deferring_fails_or_skips(sim):
    job = sim.create_job("which50", params={"contact_list_id": 5}, polls=1, fail=True)
    run = run_sensor(Which50ImportSensor, "deferrable", retries=2, **_job_kwargs(job))
    assert (run.state, run.try_number, run.was_deferred) == ("failed", 1, False)
    assert run.import_result["state"] == "failed"
    job = sim.create_job("which50", params={"contact_list_id": 5}, polls=1, fail=True)
    assert run_sensor(Which50ImportSensor, "deferrable", soft_fail=True, **_job_kwargs(job)).state == "skipped"
