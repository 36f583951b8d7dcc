"""Import subscribers from a CSV into a MailUp list over SOAP in one deferrable task, then report it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import dag, task

from airflow_import_status.operators.mailup import MailUpImportOperator

LIST_ID = 1
LIST_GUID = "00000000-aaaa-bbbb-cccc-000123456789"
CONTACTS = Path(__file__).resolve().parent / "contacts.csv"  # beside this file (30 contacts, 2 invalid addresses)


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["import-status", "mailup"])
def example_mailup_import():
    import_subscribers = MailUpImportOperator(
        task_id="import_subscribers",
        list_id=LIST_ID,
        list_guid=LIST_GUID,
        source=str(CONTACTS),
        # CSV columns -> MailUp subscriber fields ("WSMailUpImport.NewImportProcess", XML feed)
        field_mapping={"email": "email", "first_name": "campo1", "last_name": "campo2"},
        deferrable=True,
        poke_interval=1,
        timeout=300,
    )

    @task
    def report(result: dict) -> dict:
        details = result["details"]
        print(
            f"MailUp import {result['job_id']}: {result['state']}, imported={result['imported']} "
            f"(new email={details['NewEmail']}, existing email={details['ExistingEmail']}), "
            f"opted out={result['opted_out']}, not imported={result['total'] - result['imported']} "
            f"of total={result['total']}"
        )
        return result

    report(import_subscribers.output)


example_mailup_import()
