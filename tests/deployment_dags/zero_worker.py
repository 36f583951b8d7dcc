"""Test-only DAG for the zero-worker test: one import waited on three ways, plus a Jinja ``xcom_pull`` job id
(which warns at parse time: it cannot start from the trigger).

Trigger with ``conf={"contact_list_id": N, "deferred_job": A, "triggered_job": B, "xcom_job": C}``
after scripting the jobs through the simulator's control API.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_import_status.operators.which50 import Which50ImportOperator
from airflow_import_status.sensors.which50 import Which50ImportSensor

WAIT = {"poke_interval": 1, "retry_backoff": 0.5, "retry_backoff_max": 2, "timeout": 300}

with DAG(
    "deployment_zero_worker", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["deployment-test"]
) as dag:

    @task
    def publish_job_id(**context: object) -> str:
        return str(context["dag_run"].conf["xcom_job"])  # type: ignore[attr-defined]

    Which50ImportSensor(
        task_id="deferrable_sensor",
        contact_list_id="{{ dag_run.conf['contact_list_id'] }}",
        import_job_id="{{ dag_run.conf['deferred_job'] }}",
        deferrable=True,
        **WAIT,
    )
    Which50ImportSensor(
        task_id="trigger_sensor",
        contact_list_id="{{ dag_run.conf['contact_list_id'] }}",
        import_job_id="{{ dag_run.conf['triggered_job'] }}",
        start_from_trigger=True,
        **WAIT,
    )
    publish_job_id() >> Which50ImportSensor(
        task_id="xcom_pull_sensor",
        contact_list_id="{{ dag_run.conf['contact_list_id'] }}",
        import_job_id="{{ ti.xcom_pull(task_ids='publish_job_id') }}",
        start_from_trigger=True,
        **WAIT,
    )
    Which50ImportOperator(
        task_id="operator",
        contact_list_id="{{ dag_run.conf['contact_list_id'] }}",
        source=[{"Email": f"user{i}@example.com", "FirstName": f"User {i}"} for i in range(5)],
        deferrable=True,
        end_from_trigger=True,  # off by default (Airflow refuses it while a listener is registered)
        **WAIT,
    )
