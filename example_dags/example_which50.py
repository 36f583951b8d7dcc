"""Upload contacts to Which50, wait for the import (deferred), then gate on its counters."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_import_status.hooks.which50 import Which50Hook
from airflow_import_status.sensors.which50 import Which50ImportSensor

CONTACT_LIST_ID = 42


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["import-status", "which50"])
def example_which50_import():
    @task
    def upload_contacts() -> str:
        contacts = [{"Email": f"user{i}@example.com", "FirstName": f"User {i}"} for i in range(25)]
        contacts.append({"Email": "not-an-email", "FirstName": "Broken"})
        return Which50Hook().start_import(CONTACT_LIST_ID, contacts)

    import_job_id = upload_contacts()

    wait = Which50ImportSensor(
        task_id="wait_for_import",
        contact_list_id=CONTACT_LIST_ID,
        import_job_id=import_job_id,
        deferrable=True,
        poke_interval=1,
        timeout=300,
        max_rejected_ratio=0.1,
    )

    @task
    def report(result: dict) -> dict:
        print(
            f"Which50 import {result['job_id']}: {result['state']}, imported={result['imported']}, "
            f"invalid={result['invalid']} of total={result['total']}"
        )
        return result

    report(wait.output)


example_which50_import()
