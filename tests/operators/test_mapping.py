"""A start-import operator mapped over sources (dynamic task mapping) through real Airflow.

Each map index uploads once and waits on its own job; its ledger entry is keyed by its map
index (:func:`~airflow_import_status.operators.ledger.ledger_key`), so a retry of one map
index resumes its own job, never another's.
"""

from __future__ import annotations

import pytest

from tests.dag_harness import run_dag

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]

SOURCES = [[{"Email": f"contact{i}.{n}@example.com", "FirstName": f"C{n}"} for n in range(i + 1)] for i in range(3)]


def test_an_operator_maps_over_sources_each_map_index_uploads_once_and_a_retry_keeps_its_own_job(sim):
    # the second start's answer is lost after Which50 ran the job: that map index's try ends, its retry waits on it
    sim.add_fault("which50", "drop_after", method="POST", path_contains="/run", skip=1)
    run = run_dag(
        f"""
    from airflow_import_status.operators.which50 import Which50ImportOperator

    Which50ImportOperator.partial(
        task_id="upload", contact_list_id=5, deferrable=True, poke_interval=0.2, retries=1, retry_delay=0
    ).expand(source={SOURCES!r})
"""
    )
    runs = run.mapped("upload")
    assert [r.state for r in runs] == ["success"] * 3
    assert sorted(r.try_number for r in runs) == [1, 1, 2], "one map index retried"
    job_ids = [r.xcoms["import_job"]["import_job_id"] for r in runs]
    created = sim.jobs("which50")
    assert len(created) == 3 and len(set(job_ids)) == 3, "each map index uploaded once, into its own job"
    assert {str(job["job_id"]) for job in created} == {str(job_id) for job_id in job_ids}
    for r, source, job_id in zip(runs, SOURCES, job_ids, strict=True):
        assert r.xcoms["return_value"]["job_id"] == str(job_id) and r.xcoms["return_value"]["state"] == "succeeded"
        assert r.xcoms["return_value"]["total"] == len(source), "each map index imported its own source"
    runs_started = [r for r in sim.requests("which50") if r["method"] == "POST" and r["path"].endswith("/run")]
    assert len(runs_started) == 3, "the retry waited on its job: it ran nothing again"
