"""Import rows written straight into the metadata DB, as the sensors and the scheduler leave them.

Shared by the plugin's API tests and ``benchmarks/imports_page.py``: DAGs, runs, task instances,
``import_result`` / ``import_gate`` XComs and import triggers, inserted in bulk.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.models.dag import DagModel
from airflow.models.dagbundle import DagBundleModel
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.trigger import Trigger
from airflow.models.xcom import XComModel
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from airflow_import_status.plugins.queries import CONSOLE_LINK_XCOM_KEY
from airflow_import_status.rejected import XCOM_KEY as REJECTED_XCOM_KEY
from airflow_import_status.sensors.base import GATE_XCOM_KEY, RESULT_XCOM_KEY

BUNDLE = "import-status-tests"
TRIGGER_CLASSPATH = "airflow_import_status.triggers.import_status.ImportStatusTrigger"
WHICH50_HOOK = "airflow_import_status.hooks.which50.Which50Hook"
START = datetime(2026, 6, 1, tzinfo=UTC)


def result(vendor: str, job_id: str, state: str, **fields: Any) -> dict[str, Any]:
    """A normalized result as the sensors push it (every key; unset counters null)."""
    base: dict[str, Any] = {
        "vendor": vendor,
        "job_id": job_id,
        "state": state,
        "vendor_status": None,
        **dict.fromkeys(
            ("total", "imported", "inserted", "updated", "unchanged", "deleted", "duplicates", "invalid", "failed")
        ),
        "opted_out": None,
        "progress_percent": None,
        "started_at": None,
        "finished_at": None,
        "message": None,
        "details": {},
        "warnings": [],
    }
    return base | fields


def ensure_dags(session: Session, *dag_ids: str) -> None:
    if session.get(DagBundleModel, BUNDLE) is None:
        session.add(DagBundleModel(name=BUNDLE))
        session.flush()
    existing = set(session.scalars(select(DagModel.dag_id).where(DagModel.dag_id.in_(dag_ids))))
    rows = [
        {
            "dag_id": dag_id,
            "bundle_name": BUNDLE,
            "max_active_tasks": 16,
            "max_consecutive_failed_dag_runs": 0,
            "has_task_concurrency_limits": False,
            "is_paused": False,
        }
        for dag_id in dag_ids
        if dag_id not in existing
    ]
    if rows:
        session.execute(insert(DagModel.__table__), rows)


def add_imports(session: Session, imports: list[dict[str, Any]]) -> None:
    """Insert each import: its run, its task instance and its XComs (or its trigger when deferred).

    Each item: ``dag_id``, ``run_id``, ``when`` (datetime), ``ti_state``, optional ``task_id``,
    ``map_index``, ``result`` (the ``import_result`` value), ``gate``, ``console_url``, ``rejected_records`` and
    ``trigger`` (kwargs of an import trigger; the task is then deferred on it).
    """
    ensure_dags(session, *{item["dag_id"] for item in imports})
    runs = {(item["dag_id"], item["run_id"]): item["when"] for item in imports}
    session.execute(
        insert(DagRun.__table__),
        [
            {
                "dag_id": dag_id,
                "run_id": run_id,
                "run_type": "manual",
                "state": "success",
                "run_after": when,
                "start_date": when,
                "end_date": when + timedelta(minutes=5),
            }
            for (dag_id, run_id), when in runs.items()
        ],
    )
    run_ids = {
        (row.dag_id, row.run_id): row.id
        for row in session.execute(
            select(DagRun.id, DagRun.dag_id, DagRun.run_id).where(DagRun.run_id.in_({run for _, run in runs}))
        )
        if (row.dag_id, row.run_id) in runs
    }
    trigger_ids: dict[int, int] = {}
    for index, item in enumerate(imports):
        if item.get("trigger") is not None:
            trigger = Trigger(classpath=item.get("classpath", TRIGGER_CLASSPATH), kwargs=item["trigger"])
            session.add(trigger)
            session.flush()
            trigger_ids[index] = trigger.id
    tis, xcoms = [], []
    for index, item in enumerate(imports):
        task_id, map_index, when = item.get("task_id", "wait_for_import"), item.get("map_index", -1), item["when"]
        finished = item["ti_state"] not in ("deferred", "running")
        tis.append(
            {
                "dag_id": item["dag_id"],
                "run_id": item["run_id"],
                "task_id": task_id,
                "map_index": map_index,
                "state": item["ti_state"],
                "pool": "default_pool",
                "try_number": 1,
                "start_date": when,
                "end_date": when + timedelta(minutes=4) if finished else None,
                "trigger_id": trigger_ids.get(index),
            }
        )
        for key, value in (
            (RESULT_XCOM_KEY, item.get("result")),
            (GATE_XCOM_KEY, item.get("gate")),
            (CONSOLE_LINK_XCOM_KEY, item.get("console_url")),
            (REJECTED_XCOM_KEY, item.get("rejected_records")),
        ):
            if value is not None:
                xcoms.append(
                    {
                        "dag_run_id": run_ids[(item["dag_id"], item["run_id"])],
                        "dag_id": item["dag_id"],
                        "run_id": item["run_id"],
                        "task_id": task_id,
                        "map_index": map_index,
                        "key": key,
                        "value": value,
                        "timestamp": when + timedelta(minutes=4),
                    }
                )
    session.execute(insert(TaskInstance.__table__), tis)
    if xcoms:
        session.execute(insert(XComModel.__table__), xcoms)
    session.commit()
