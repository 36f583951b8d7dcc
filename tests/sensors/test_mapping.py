"""A vendor sensor mapped over many job ids (dynamic task mapping) through real Airflow.

One sensor task, one map index per import job: each gets its own result XCom; a failed
import fails its own map index only.
"""

from __future__ import annotations

import warnings

import pytest

from tests.dag_harness import run_dag
from tests.sensor_harness import MODE_KWARGS

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]

IMPORTS = "from airflow_import_status.sensors.which50 import Which50ImportSensor"
FAST = "poke_interval=0.2, retry_backoff=0.05, retry_backoff_max=0.2"


def _jobs(sim) -> list[dict]:
    """Three Which50 jobs of contact list 5; the second one fails."""
    return [sim.create_job("which50", params={"contact_list_id": 5}, polls=2, fail=i == 1) for i in range(3)]


def _assert_one_result_per_map_index(runs, jobs) -> None:
    assert [run.state for run in runs] == ["success", "failed", "success"]
    for run, job in zip(runs, jobs, strict=True):
        result = run.xcoms["import_result"]
        assert result["job_id"] == str(job["job_id"]), "each map index waited on its own job"
    assert [run.xcoms["import_result"]["state"] for run in runs] == ["succeeded", "failed", "succeeded"]
    assert runs[0].xcoms["return_value"] == runs[0].xcoms["import_result"]
    assert "return_value" not in runs[1].xcoms


@pytest.mark.parametrize("mode", ["deferrable", "poke"])
def test_a_sensor_maps_over_a_list_and_over_an_upstream_tasks_output(sim, mode):
    jobs, upstream_jobs = _jobs(sim), _jobs(sim)  # each task waits on jobs that are still running
    ids, upstream_ids = [job["job_id"] for job in jobs], [job["job_id"] for job in upstream_jobs]
    mode_kwargs = ", ".join(f"{k}={v!r}" for k, v in MODE_KWARGS[mode].items())
    run = run_dag(
        f"""
    @task
    def upload():
        return {upstream_ids!r}

    Which50ImportSensor.partial(task_id="listed", contact_list_id=5, {FAST}, {mode_kwargs}).expand(
        import_job_id={ids!r}
    )
    Which50ImportSensor.partial(task_id="upstream", contact_list_id=5, {FAST}, {mode_kwargs}).expand(
        import_job_id=upload()
    )
""",
        imports=IMPORTS,
    )
    _assert_one_result_per_map_index(run.mapped("listed"), jobs)
    _assert_one_result_per_map_index(run.mapped("upstream"), upstream_jobs)
    deferred = sorted(str(kwargs["job"]["import_job_id"]) for kwargs in run.trigger_kwargs)
    assert deferred == (sorted(map(str, ids + upstream_ids)) if mode == "deferrable" else [])


def test_a_mapped_sensor_maps_over_whole_job_kwargs_and_the_imports_page_lists_each_map_index(sim):
    jobs = _jobs(sim)
    job_kwargs = [{"contact_list_id": 5, "import_job_id": job["job_id"]} for job in jobs]
    run = run_dag(
        f"""
    Which50ImportSensor.partial(task_id="wait", deferrable=True, {FAST}).expand_kwargs({job_kwargs!r})
""",
        imports=IMPORTS,
    )
    _assert_one_result_per_map_index(run.mapped("wait"), jobs)

    from airflow.utils.session import create_session

    from airflow_import_status.plugins.queries import list_imports, task_import

    with create_session() as session:
        rows = list_imports(session, [run.dag_id], dag_id=run.dag_id).rows
        failed_row, failed_result, _ = task_import(session, run.dag_id, rows[0]["run_id"], "wait", 1)
    by_index = {row["map_index"]: (row["job_id"], row["status"]) for row in rows}
    expected = ["succeeded", "failed", "succeeded"]
    assert by_index == {i: (str(job["job_id"]), expected[i]) for i, job in enumerate(jobs)}, "one import per map index"
    assert failed_row is not None and failed_result is not None
    assert (failed_row["map_index"], failed_result.job_id) == (1, str(jobs[1]["job_id"]))


def test_start_from_trigger_on_a_mapped_sensor_warns_and_defers_from_a_worker(sim):
    """Airflow 3.3 starts no mapped task in the triggerer: each map index defers from a worker."""
    jobs = _jobs(sim)
    ids = [job["job_id"] for job in jobs]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = run_dag(
            f"""
    Which50ImportSensor.partial(task_id="wait", contact_list_id=5, start_from_trigger=True, {FAST}).expand(
        import_job_id={ids!r}
    )
""",
            imports=IMPORTS,
        )
    assert any("cannot start a mapped task" in str(w.message) for w in caught)
    _assert_one_result_per_map_index(run.mapped("wait"), jobs)
    assert sorted(str(kwargs["job"]["import_job_id"]) for kwargs in run.trigger_kwargs) == sorted(map(str, ids))
