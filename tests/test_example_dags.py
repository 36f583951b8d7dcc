"""Every example DAG end to end with dag.test(): upload, deferral, trigger in line, downstream XCom."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_import_status.demo import load_dag
from airflow_import_status.result import COUNTER_FIELDS
from tests.sensor_harness import trigger_spy

EXAMPLES = sorted(p.name for p in (Path(__file__).resolve().parents[1] / "example_dags").glob("example_*.py"))
NORMALIZED_KEYS = {
    "vendor", "job_id", "state", "vendor_status", "progress_percent", "started_at", "finished_at",
    "message", "details", "warnings", *COUNTER_FIELDS,
}  # fmt: skip

EXPECTED: dict[str, dict] = {
    # what each example's upload task sends, as the vendor reports it back
    "example_which50.py": {"vendor": "which50", "total": 28, "imported": 28, "invalid": 2},  # contacts.csv
    "example_mailup.py": {"vendor": "mailup", "total": 30, "inserted": 28, "imported": 28},  # contacts.csv
    "example_mypreferences.py": {
        "vendor": "mypreferences", "vendor_status": "Completed", "total": 30, "invalid": 2, "imported": 28, "failed": 0,
    },
    "example_isales.py": {"vendor": "isales", "imported": 20, "duplicates": 1, "failed": 1, "total": 22},
    "example_luminate.py": {"vendor": "luminate", "total": 12, "message": "Import complete"},
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.usefixtures("airflow_db", "sim")
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_dag_runs_end_to_end(example):
    """Upload task -> sensor (deferred) -> downstream task that read the normalized result."""
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag = load_dag(Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / example)
    with trigger_spy() as trigger_runs:
        dag_run = dag.test()
    assert dag_run.state == "success"
    assert trigger_runs, "the sensor did not defer"
    with create_session() as session:
        tis = {ti.task_id: ti for ti in session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id)}
        assert all(ti.state == "success" for ti in tis.values())
        xcoms = {
            (row.task_id, row.key): XComModel.deserialize_value(row)
            for row in session.query(XComModel).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id)
        }
    [(sensor_task, _)] = [key for key in xcoms if key[1] == "import_result"]
    result = xcoms[(sensor_task, "return_value")]
    assert set(result) == NORMALIZED_KEYS
    assert result["state"] == "succeeded"
    assert {key: result[key] for key in EXPECTED[example]} == EXPECTED[example]
    assert xcoms[(sensor_task, "import_result")] == result
    downstream = [task.task_id for task in dag.get_task(sensor_task).downstream_list]
    assert downstream, "the example has no task gated on the import"
    assert any(xcoms.get((task_id, "return_value")) == result for task_id in downstream), (
        "the downstream task did not read the normalized result"
    )
    if example == "example_mypreferences.py":
        summary = xcoms[(sensor_task, "rejected_records")]
        assert (summary["count"], summary["by_source"], summary["truncated"]) == (2, {"upload": 0, "vendor": 2}, False)
        assert xcoms[("review_refused", "return_value")] == {
            "rows": [8, 20],  # not-an-email and leslie.lamport.example.com, refused by the vendor's staging
            "reasons": {"The email address does not match the account's RegEx.": 2},
        }, "the downstream task did not read the refused records' file"


def test_every_example_has_expectations():
    assert set(EXAMPLES) == set(EXPECTED)
