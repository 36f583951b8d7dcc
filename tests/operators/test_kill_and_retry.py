"""A task process killed (SIGKILL) after its import started: the retry waits on that job, never uploads twice.

A real deployment (LocalExecutor: the scheduler's worker supervises a separate task process),
one per module. The test waits until the job is in XCom and the ledger, finds the task
process by the title Airflow's task runner gives it (``airflow worker -- {ti id}``) among the
processes of the scheduler's session (only what this test started), kills its process group,
and follows the retry through the REST API.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from urllib.parse import quote

import pytest

from airflow_import_status.simulators.contacts import write_csv
from airflow_import_status.version_compat import AIRFLOW_V_3_3_PLUS
from tests.deployment import DEPLOYMENT_DAGS, AirflowDeployment, StateWatcher, home_kept_on_failure, wait_until
from tests.registry import OPERATOR_VENDORS, vendor_case

pytestmark = pytest.mark.slow

OPERATOR_TASK = "import_contacts"
ROWS = 40
HEARTBEAT_SETTINGS = {
    # a killed task's supervisor reports at once; these bound the other paths (a lost heartbeat)
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "10",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "1",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
}


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest):
    deployment = AirflowDeployment([DEPLOYMENT_DAGS / "deployment_operators.py"], config=HEARTBEAT_SETTINGS)
    with home_kept_on_failure(request, deployment.home), deployment:
        yield deployment


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[3])  # fields after the command: state ppid pgrp session


def _task_process(deployment: AirflowDeployment, ti_id: str) -> int | None:
    """The PID of the task process running try ``ti_id``, among the scheduler's session only."""
    session = deployment.processes["scheduler"].pid
    title = f"airflow worker -- {ti_id}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or _session_of(int(entry)) != session:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(title):
            return int(entry)
    return None


def _ledger(deployment: AirflowDeployment, dag_id: str, run_id: str) -> str | None:
    """The task's ledger entry: its task_state_store on 3.3+, a Variable before."""
    if AIRFLOW_V_3_3_PLUS:
        path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{OPERATOR_TASK}/state-store"
        entries = deployment.api.get(path, limit=100)["task_state_store"]
        return next((json.dumps(e["value"]) for e in entries if e["key"] == "import_status.job"), None)
    variables = deployment.api.get("variables", limit=100)["variables"]
    prefix = f"import_status.job.{dag_id}.{run_id}.{OPERATOR_TASK}."
    return next((v["value"] for v in variables if v["key"].startswith(prefix)), None)


@pytest.mark.parametrize("vendor", OPERATOR_VENDORS)
def test_a_killed_task_is_retried_on_the_same_job_without_a_second_upload(deployment, tmp_path, vendor):
    api, sim = deployment.api, deployment.sim
    case = vendor_case(vendor)
    dag_id = f"deployment_{vendor}_operator"
    source = write_csv(tmp_path / "contacts.csv", ROWS)
    sim.reset()
    with StateWatcher(api) as watcher:
        run_id = api.trigger(dag_id, conf={"source": str(source)})
        watcher.watch(dag_id, run_id)
        started_job = wait_until(
            lambda: api.xcom(dag_id, run_id, OPERATOR_TASK, "import_job"),
            timeout=120,
            interval=0.2,
            what="the job in XCom",
        )
        assert _ledger(deployment, dag_id, run_id), "the job is in XCom but not in the ledger"
        first_try = api.task_instance(dag_id, run_id, OPERATOR_TASK)
        assert (first_try["state"], first_try["try_number"]) == ("running", 1), "the import finished before the kill"
        pid = wait_until(
            lambda: _task_process(deployment, first_try["id"]), timeout=10, interval=0.2, what="the task process"
        )
        os.killpg(pid, signal.SIGKILL)
        state = api.wait_for_run(dag_id, run_id, timeout=180)
    seen = watcher.seen(dag_id, run_id, OPERATOR_TASK)

    ti = api.task_instance(dag_id, run_id, OPERATOR_TASK)
    report = f"states seen: {seen}\n{api.task_log(dag_id, run_id, OPERATOR_TASK, try_number=ti['try_number'])}"
    assert (state, ti["state"], ti["try_number"]) == ("success", "success", 2), report
    assert "up_for_retry" in seen, report
    jobs = sim.jobs(vendor)
    assert len(jobs) == 1, f"the simulator saw {len(jobs)} uploads, not one: {jobs}"
    job_id = str(started_job[case.id_field])
    assert jobs[0]["job_id"] == job_id
    assert api.xcom(dag_id, run_id, OPERATOR_TASK, "import_job") == started_job, "the retry pushed another job"
    result = api.xcom(dag_id, run_id, OPERATOR_TASK)
    assert (result["job_id"], result["state"], result["imported"]) == (job_id, "succeeded", ROWS), report
    assert "was started by an earlier try; waiting on it, not uploading again" in report
    assert _ledger(deployment, dag_id, run_id) is None, "the ledger entry outlived the task"
