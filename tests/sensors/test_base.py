"""Every vendor's sensor (the toy vendor's too) through real Airflow in all three modes.

Nothing here is vendor-specific: the vendors come from the registry, their jobs from their
simulators' declarations.
"""

from __future__ import annotations

import pytest

from tests.registry import VENDOR_CASES, vendor_case
from tests.sensor_harness import MODES, run_sensor

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_a_finished_import_is_the_task_result_in_every_mode(sim, vendor, mode):
    case = vendor_case(vendor)
    job = sim.create_job(vendor, params=case.job_params, polls=3)
    run = run_sensor(case.sensor_class, mode, **case.job_kwargs(job))
    assert run.state == "success"
    assert run.was_deferred is (mode == "deferrable")
    assert run.return_value == run.import_result
    assert (run.return_value["vendor"], run.return_value["state"]) == (vendor, "succeeded")
    assert run.return_value["job_id"] == str(job["job_id"])


@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_a_failed_import_fails_the_task_without_retries(sim, vendor):
    case = vendor_case(vendor)
    job = sim.create_job(vendor, params=case.job_params, polls=2, fail=True)
    run = run_sensor(case.sensor_class, "deferrable", retries=2, **case.job_kwargs(job))
    assert (run.state, run.try_number) == ("failed", 1)
    assert run.import_result["state"] == "failed"


@pytest.mark.parametrize("mode", ["deferrable", "poke"])
@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_a_bug_in_a_flow_fails_at_once_with_its_traceback(sim, mocker, capfd, vendor, mode):
    """Our bugs are not vendor faults: no retry of the poll, no Airflow retry, the traceback in the log."""
    case = vendor_case(vendor)
    job = sim.create_job(vendor, params=case.job_params, polls=2)
    mocker.patch.object(type(case.sensor_class.spec.codec), "status_flow", side_effect=KeyError("typo_in_flow"))
    run = run_sensor(case.sensor_class, mode, retries=2, **case.job_kwargs(job))
    assert (run.state, run.try_number) == ("failed", 1)
    log = capfd.readouterr().out
    assert "bug in airflow-import-status, not a vendor fault: KeyError" in log
    assert "Traceback" in log and "typo_in_flow" in log
    assert not [r for r in sim.requests(vendor) if case.is_status_request(r)], "the buggy poll reached the vendor"
