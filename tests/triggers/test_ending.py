"""A task ended by its trigger (``end_from_trigger``) ends as the worker path ends it: same state, same XComs.

For every vendor (through the registry) and every outcome, the same sensor runs twice through
real Airflow with the real triggerer's event handling (:mod:`tests.triggerer_harness`): once
resuming on a worker (today's deferral), once ended by the trigger; state and every XCom must
match, and the trigger-ended run must take one worker run, not two, where the triggerer can
express the outcome.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from airflow.triggers.base import BaseTaskEndEvent

from airflow_import_status.sensors.base import ImportConsoleLink
from airflow_import_status.triggers.ending import CONSOLE_LINK_XCOM_KEY
from tests.registry import OPERATOR_VENDORS, VENDOR_CASES, operator_class, vendor_case
from tests.sensor_harness import SensorRun, run_sensor
from tests.triggerer_harness import TriggererRuns, triggerer_semantics

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]

REJECTING = {"total": 10, "invalid": 4, "invalid_email": 4, "failed": 4, "rejected": 4, "errors": 4}
"""Rejection counters under every vendor's simulator name for them (each reads its own)."""

OUTCOMES: dict[str, dict[str, Any]] = {
    "success": {"job": {"polls": 2}, "state": "success"},
    "vendor_failure": {"job": {"polls": 2, "fail": True}, "state": "failed"},
    "gate_failure": {"job": {"polls": 2, "counters": REJECTING}, "kwargs": {"max_rejected": 0}, "state": "failed"},
    "timeout": {"job": {"polls": 10_000}, "kwargs": {"timeout": 1}, "state": "failed"},
    "transient_past_limit": {
        "job": {"polls": 2},
        "fault": {"kind": "status", "status": 503, "times": 100},
        "kwargs": {"max_consecutive_failures": 2},
        "state": "failed",
    },
    "bug": {"job": {"polls": 2}, "bug": True, "state": "failed"},
    "soft_fail_vendor_failure": {"job": {"polls": 2, "fail": True}, "kwargs": {"soft_fail": True}, "state": "skipped"},
}


TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def _comparable(value: Any) -> Any:
    """``value`` with the simulators' wall-clock times blanked (the two runs are seconds apart)."""
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return "<time>" if isinstance(value, str) and TIME.match(value) else value


def _run(sim, monkeypatch, vendor: str, outcome: str, **kwargs: Any) -> tuple[SensorRun, TriggererRuns]:
    case = vendor_case(vendor)
    spec = OUTCOMES[outcome]
    job = sim.create_job(vendor, params=case.job_params, job_id="4242", **spec["job"])  # one id for both runs
    if "fault" in spec:
        sim.add_fault(vendor, **{**case.status_request, **spec["fault"]})
    if spec.get("bug"):

        async def buggy_apoll(self: Any, job: Any) -> Any:
            raise ZeroDivisionError("a bug in our code")

        monkeypatch.setattr(case.hook_class, "apoll", buggy_apoll)
    with triggerer_semantics() as runs:
        run = run_sensor(case.sensor_class, "deferrable", **case.job_kwargs(job), **spec.get("kwargs", {}), **kwargs)
    return run, runs


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_trigger_ended_outcome_equals_the_worker_path(sim, monkeypatch, vendor, outcome):
    worker, worker_runs = _run(sim, monkeypatch, vendor, outcome)
    sim.reset()
    ended, ended_runs = _run(sim, monkeypatch, vendor, outcome, end_from_trigger=True)

    assert worker.state == OUTCOMES[outcome]["state"], worker
    assert (ended.state, _comparable(ended.xcoms)) == (worker.state, _comparable(worker.xcoms))
    assert worker.was_deferred and ended.was_deferred
    assert worker_runs.worker_runs == 2, "today's deferral: a start and a resume run"
    assert ended_runs.worker_runs == 1, "the trigger ended the task: no resume run"
    assert all(isinstance(event, BaseTaskEndEvent) for event in ended_runs.events)
    if outcome == "success":
        assert ended.return_value == ended.import_result and ended.return_value["state"] == "succeeded"


@pytest.mark.parametrize("vendor", ["which50", "mailup"])
def test_a_failure_without_retry_resumes_on_a_worker_when_the_task_has_retries(sim, monkeypatch, vendor):
    """Airflow's triggerer routes a failed task with retries left to up_for_retry: a vendor failure must not retry."""
    worker, _ = _run(sim, monkeypatch, vendor, "vendor_failure", retries=2, retry_delay=0)
    sim.reset()
    ended, runs = _run(sim, monkeypatch, vendor, "vendor_failure", retries=2, retry_delay=0, end_from_trigger=True)
    assert (ended.state, ended.try_number, _comparable(ended.xcoms)) == ("failed", 1, _comparable(worker.xcoms))
    assert runs.worker_runs == 2 and not any(isinstance(event, BaseTaskEndEvent) for event in runs.events)


def test_an_asset_outlet_resumes_on_a_worker_for_its_event_extras(sim):
    case = vendor_case("which50")
    job = sim.create_job("which50", params=case.job_params, polls=2)
    with triggerer_semantics() as runs:
        run = run_sensor(
            case.sensor_class,
            "deferrable",
            end_from_trigger=True,
            source_kwargs={"outlets": "[Asset('s3://bucket/contacts')]"},
            **case.job_kwargs(job),
        )
    assert run.state == "success" and runs.worker_runs == 2


def test_the_console_link_is_recorded_before_the_wait_under_airflows_key(sim):
    assert ImportConsoleLink().xcom_key == CONSOLE_LINK_XCOM_KEY
    case = vendor_case("which50")
    job = sim.create_job("which50", params=case.job_params, polls=10_000)
    run = run_sensor(case.sensor_class, "deferrable", timeout=1, **case.job_kwargs(job))
    assert run.state == "failed"
    assert run.xcoms[CONSOLE_LINK_XCOM_KEY].startswith("http"), run.xcoms


def _ledgers() -> int:
    from airflow.models import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(Variable).filter(Variable.key.like("import_status.job.%")).count()


def _without_job_ids(value: Any, ids: set[str]) -> Any:
    """``value`` with the started job's id and name blanked (each run's DAG starts its own job)."""
    if isinstance(value, dict):
        return {key: _without_job_ids(item, ids) for key, item in value.items()}
    if str(value) in ids or str(value).startswith("sensor_harness_"):  # MyPreferences names it after the run
        return "<job>"
    return _comparable(value)


@pytest.mark.parametrize("vendor", OPERATOR_VENDORS)
def test_an_operator_uploads_on_a_worker_and_its_trigger_ends_the_wait(sim, vendor):
    case = vendor_case(vendor)
    rows = [{"email": f"user{i}@example.com", "first_name": f"User {i}"} for i in range(3)]
    kwargs = case.operator_kwargs(rows, deferrable=True)
    earlier = _ledgers()
    with triggerer_semantics() as resumed_runs:
        resumed = run_sensor(operator_class(case), "deferrable", end_from_trigger=False, **kwargs)
    with triggerer_semantics() as ended_runs:
        ended = run_sensor(operator_class(case), "deferrable", end_from_trigger=True, **kwargs)

    assert (resumed.state, ended.state) == ("success", "success")
    assert (resumed_runs.worker_runs, ended_runs.worker_runs) == (2, 1), "the upload; no resume run"
    assert all(isinstance(event, BaseTaskEndEvent) for event in ended_runs.events)
    ids = {str(run.import_job[case.id_field]) for run in (resumed, ended)}
    assert _without_job_ids(ended.xcoms, ids) == _without_job_ids(resumed.xcoms, ids)
    assert _ledgers() == earlier, "the trigger that ended the task left the operator's ledger behind"
