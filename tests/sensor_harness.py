"""Run one import sensor through real Airflow (``dag.test()``) in any mode, and read back what it left.

``dag.test()`` runs deferred triggers in line (a real trigger ``run()`` in an event loop),
reschedules, retries, XCom and task states through the metadata DB. Airflow 3.3's
``dag.test()`` only runs DAGs found in a DAG bundle, so the harness writes a one-task DAG
file into the test DAG folder, runs it, and removes it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES = ("deferrable", "poke", "reschedule")
MODE_KWARGS: dict[str, dict[str, Any]] = {
    "deferrable": {"deferrable": True},
    "poke": {"deferrable": False, "mode": "poke"},
    "reschedule": {"deferrable": False, "mode": "reschedule"},
}

_dag_ids = itertools.count()

_DAG_TEMPLATE = """\
from datetime import datetime

from airflow.sdk import DAG, Asset  # noqa: F401
from {module} import {name}

with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    {name}(task_id="wait", {kwargs})
"""


@dataclass
class SensorRun:
    state: str
    """The sensor task instance's final state: success, failed, skipped, ..."""
    return_value: Any
    import_result: Any
    import_job: Any
    """What a start-import operator pushed under ``import_job``."""
    try_number: int
    was_deferred: bool
    trigger_kwargs: list[dict[str, Any]]
    xcoms: dict[str, Any] = field(default_factory=dict)
    """Every XCom the task instance left, by key."""
    rejected_records: Any = None
    """The summary a task with ``rejected_records_path`` pushed under ``rejected_records``."""


def run_dag_source(dag_id: str, source: str) -> tuple[Any, list[dict[str, Any]]]:
    """Write ``source`` (defining ``dag``) as a DAG file in the test DAG folder, ``dag.test()`` it, remove it.

    Returns the DAG run and the kwargs of every ImportStatusTrigger that ran.
    """
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    path.write_text(source)
    try:
        spec = importlib.util.spec_from_file_location(dag_id, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with trigger_spy() as trigger_runs:
            dag_run = module.dag.test()
    finally:
        path.unlink()
    return dag_run, trigger_runs


@contextlib.contextmanager
def trigger_spy() -> Iterator[list[dict[str, Any]]]:
    """Record the kwargs of every ImportStatusTrigger that runs (proof that a task deferred)."""
    from airflow_import_status.triggers.import_status import ImportStatusTrigger

    runs: list[dict[str, Any]] = []
    original_wait = ImportStatusTrigger._wait

    async def recording_wait(self: ImportStatusTrigger) -> Any:
        runs.append(self.serialize()[1])
        return await original_wait(self)

    ImportStatusTrigger._wait = recording_wait  # type: ignore[method-assign]
    try:
        yield runs
    finally:
        ImportStatusTrigger._wait = original_wait  # type: ignore[method-assign]


def run_sensor(
    sensor_class: type, mode: str, *, source_kwargs: dict[str, str] | None = None, **kwargs: Any
) -> SensorRun:
    """Run ``sensor_class(task_id="wait", **kwargs)`` in ``mode`` through ``dag.test()``.

    ``kwargs`` must be literals (written with ``repr``); ``source_kwargs`` are Python
    expressions (e.g. ``{"outlets": "[Asset('s3://b/contacts')]"}``). Defaults:
    ``poke_interval=0.2``, fast retry backoff.
    """
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    params = {"poke_interval": 0.2, "retry_backoff": 0.05, "retry_backoff_max": 0.2, **MODE_KWARGS[mode], **kwargs}
    rendered = [f"{key}={value!r}" for key, value in params.items()]
    rendered += [f"{key}={source}" for key, source in (source_kwargs or {}).items()]
    dag_id = f"sensor_harness_{os.getpid()}_{next(_dag_ids)}_{mode}"
    dag_run, trigger_runs = run_dag_source(
        dag_id,
        _DAG_TEMPLATE.format(
            module=sensor_class.__module__, name=sensor_class.__name__, dag_id=dag_id, kwargs=", ".join(rendered)
        ),
    )

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=dag_run.run_id, task_id="wait").one()

        def xcom(key: str) -> Any:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=dag_id, run_id=dag_run.run_id, task_id="wait", key=key)
                .one_or_none()
            )
            return XComModel.deserialize_value(row) if row is not None else None

        return SensorRun(
            state=str(getattr(ti.state, "value", ti.state)),
            return_value=xcom("return_value"),
            import_result=xcom("import_result"),
            import_job=xcom("import_job"),
            try_number=ti.try_number,
            was_deferred=bool(trigger_runs),
            trigger_kwargs=trigger_runs,
            xcoms={
                row.key: XComModel.deserialize_value(row)
                for row in session.query(XComModel).filter_by(dag_id=dag_id, run_id=dag_run.run_id, task_id="wait")
            },
            rejected_records=xcom("rejected_records"),
        )
