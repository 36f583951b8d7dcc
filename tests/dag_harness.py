"""Run a DAG written as source through real Airflow (``dag.test()``) and read back each task instance.

For tests whose DAG is more than the one task of :func:`tests.sensor_harness.run_sensor`, e.g.
a mapped task and its upstream: every task instance (each map index its own) with its state
and XComs.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

from tests.sensor_harness import run_dag_source

_dag_ids = itertools.count()


@dataclass
class TaskRun:
    state: str
    try_number: int
    xcoms: dict[str, Any]


@dataclass
class DagRun:
    dag_id: str
    tasks: dict[tuple[str, int], TaskRun]
    """Each task instance by ``(task_id, map_index)``."""
    trigger_kwargs: list[dict[str, Any]]
    """Every ImportStatusTrigger that ran."""

    def mapped(self, task_id: str) -> list[TaskRun]:
        """The task's instances in map-index order."""
        return [run for (tid, _), run in sorted(self.tasks.items()) if tid == task_id]


def run_dag(body: str, *, imports: str = "") -> DagRun:
    """Run ``body`` (the statements inside ``with DAG(...) as dag:``, indented four spaces) with ``dag.test()``."""
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag_id = f"dag_harness_{os.getpid()}_{next(_dag_ids)}"
    dag_run, trigger_runs = run_dag_source(
        dag_id,
        "from datetime import datetime\n\nfrom airflow.sdk import DAG, task  # noqa: F401\n"
        f"{imports}\n\n"
        f"with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:\n{body}\n",
    )
    with create_session() as session:
        tasks = {}
        for ti in session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=dag_run.run_id):
            rows = session.query(XComModel).filter_by(
                dag_id=dag_id, run_id=dag_run.run_id, task_id=ti.task_id, map_index=ti.map_index
            )
            tasks[(ti.task_id, ti.map_index)] = TaskRun(
                state=str(getattr(ti.state, "value", ti.state)),
                try_number=ti.try_number,
                xcoms={row.key: XComModel.deserialize_value(row) for row in rows},
            )
    return DagRun(dag_id=dag_id, tasks=tasks, trigger_kwargs=trigger_runs)
