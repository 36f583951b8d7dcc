"""Upload ``contacts.csv`` to a Which50 contact list, wait for the import (deferred), then gate on its counters.

One task does it all: ``Which50ImportOperator`` streams the CSV in batches to a new ImportJob,
runs it, puts the job in XCom (``import_job``) at once, then waits like ``Which50ImportSensor``.
A retry after the upload waits on the same job instead of uploading the file again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import dag, task

from airflow_import_status.operators.which50 import Which50ImportOperator

CONTACT_LIST_ID = 42
CONTACTS_CSV = Path(__file__).resolve().parent / "contacts.csv"
"""Shipped beside this file: 30 contacts (email, first_name, last_name, phone), 2 invalid addresses."""


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["import-status", "which50"])
def example_which50_import():
    upload_and_wait = Which50ImportOperator(
        task_id="import_contacts",
        contact_list_id=CONTACT_LIST_ID,
        source=str(CONTACTS_CSV),
        field_mapping={"email": "Email", "first_name": "FirstName", "last_name": "LastName", "phone": "Mobile"},
        deferrable=True,
        poke_interval=1,
        timeout=300,
        max_rejected_ratio=0.1,  # the 2 invalid addresses of 30 pass the quality gate
        retries=2,
        retry_delay=timedelta(seconds=5),
    )

    @task
    def report(result: dict) -> dict:
        print(
            f"Which50 import {result['job_id']}: {result['state']}, imported={result['imported']}, "
            f"invalid={result['invalid']} of total={result['total']}"
        )
        return result

    report(upload_and_wait.output)


example_which50_import()
