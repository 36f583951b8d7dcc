"""Stage contacts.csv into a MyPreferences bulk import, execute it and wait for it (deferred) in one task."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import dag, task

from airflow_import_status.operators.mypreferences import MyPreferencesImportOperator

CONTACTS = Path(__file__).resolve().parent / "contacts.csv"  # beside this file (a symlinked DAG too)


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["import-status", "mypreferences"])
def example_mypreferences_import():
    import_contacts = MyPreferencesImportOperator(
        task_id="import_contacts",
        import_name="Nightly CRM sync",
        source=str(CONTACTS),
        field_mapping={
            "email": "EmailAddress",
            "first_name": "FirstName",
            "last_name": "LastName",
            "phone": "PhoneNumber",
        },
        deferrable=True,
        poke_interval=1,
        timeout=300,
        max_rejected_ratio=0.1,
    )

    @task
    def report(result: dict) -> dict:
        print(
            f"MyPreferences import {result['job_id']}: {result['state']}, imported={result['imported']}, "
            f"invalid={result['invalid']}, failed={result['failed']} of total={result['total']}"
        )
        return result

    report(import_contacts.output)


example_mypreferences_import()
