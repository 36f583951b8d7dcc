"""Worker task runs per import in a real Airflow 3.3 deployment: scheduler, LocalExecutor workers, triggerer.

A worker run is what the execution API records as a ``running`` event in Airflow's ``log``
table each time a worker starts the task (``ti_run``); the triggerer starting or ending a task
records none. Today's deferrable sensor takes 2 (start, resume), a ``start_from_trigger`` sensor
0, a start-import operator 1 (the upload; its wait ends in the triggerer). A sensor whose job id
is a Jinja ``xcom_pull`` warns at parse time and defers from a worker, its trigger still ending
it (1): on 3.3.2 the triggerer does not answer the trigger's XCom request and the wait would hang.
"""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.deployment import DEPLOYMENT_DAGS, AirflowDeployment, home_kept_on_failure

pytestmark = pytest.mark.slow

DAG_ID = "deployment_zero_worker"
TIMES = ("started_at", "finished_at")


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest):
    deployment = AirflowDeployment([DEPLOYMENT_DAGS / "zero_worker.py"])
    with home_kept_on_failure(request, deployment.home), deployment:
        yield deployment


def _worker_runs(deployment: AirflowDeployment, run_id: str) -> dict[str, int]:
    with sqlite3.connect(deployment.home / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, count(*) FROM log WHERE dag_id = ? AND run_id = ? AND event = 'running' GROUP BY task_id",
            (DAG_ID, run_id),
        ).fetchall()
    return dict(rows)


def _same_but_job(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in (*TIMES, "job_id", "details")}


def test_worker_runs_per_import(deployment: AirflowDeployment):
    api, sim = deployment.api, deployment.sim
    conf = {"contact_list_id": 7, "deferred_job": "8101", "triggered_job": "8102", "xcom_job": "8103"}
    counters = {"total": 5, "inserted": 5}
    for key in ("deferred_job", "triggered_job", "xcom_job"):
        sim.create_job("which50", job_id=conf[key], params={"contact_list_id": 7}, counters=counters, polls=3)
    api.unpause(DAG_ID)
    started = time.monotonic()
    run_id = api.trigger(DAG_ID, conf=conf)
    state = api.wait_for_run(DAG_ID, run_id, timeout=240)
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, run_id)}
    assert state == "success", (states, time.monotonic() - started)

    runs = _worker_runs(deployment, run_id)
    assert runs.get("deferrable_sensor", 0) == 2, runs
    assert runs.get("trigger_sensor", 0) == 0, runs
    assert runs.get("xcom_pull_sensor", 0) == 1, "a Jinja xcom_pull job id starts on a worker, ends in the triggerer"
    assert runs.get("operator", 0) == 1, runs
    print(f"worker runs per import: {runs}")

    results = {
        task: (api.xcom(DAG_ID, run_id, task), api.xcom(DAG_ID, run_id, task, key="import_result"))
        for task in ("deferrable_sensor", "trigger_sensor", "xcom_pull_sensor")
    }
    reference = _same_but_job(results["deferrable_sensor"][0])
    for task, (return_value, import_result) in results.items():
        assert return_value == import_result, task
        assert _same_but_job(return_value) == reference, task
        assert api.xcom(DAG_ID, run_id, task, key="import_gate") == {"max_rejected": None, "max_rejected_ratio": None}
        assert api.xcom(DAG_ID, run_id, task, key="_link_ImportConsoleLink").startswith("https://"), task
    assert results["trigger_sensor"][0]["job_id"] == "8102", "the triggerer rendered the templated job id"
    assert results["xcom_pull_sensor"][0]["job_id"] == "8103"
    operator = api.xcom(DAG_ID, run_id, "operator")
    assert operator["state"] == "succeeded" and operator == api.xcom(DAG_ID, run_id, "operator", key="import_result")
