"""Test-only DAGs for the deployment test: one Which50 sensor, its job given in the run's conf.

Trigger with ``conf={"contact_list_id": N, "import_job_id": M}`` after scripting the job through
the simulator's control API (a failing import, one that never finishes, a slow one, ...).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_import_status.sensors.which50 import Which50ImportSensor


def which50_wait_dag(dag_id: str, **sensor_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["deployment-test"]) as dag:
        Which50ImportSensor(
            task_id="wait_for_import",
            contact_list_id="{{ dag_run.conf['contact_list_id'] }}",
            import_job_id="{{ dag_run.conf['import_job_id'] }}",
            deferrable=True,
            poke_interval=1,
            retry_backoff=0.5,
            retry_backoff_max=2,
            # retries are allowed: a failed import must still fail at once, without using them
            retries=2,
            retry_delay=timedelta(seconds=1),
            **sensor_kwargs,
        )
    return dag


wait_dag = which50_wait_dag("deployment_which50_wait", timeout=300)
ui_dag = which50_wait_dag("deployment_which50_ui", timeout=300)
short_timeout_dag = which50_wait_dag("deployment_which50_short_timeout", timeout=4, soft_fail=True)
restart_deadline_dag = which50_wait_dag("deployment_which50_restart_deadline", timeout=30, soft_fail=True)
