"""Import subscribers into a MailUp list over SOAP, wait for the import (deferred), then report it."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_import_status.hooks.mailup import MailUpHook
from airflow_import_status.sensors.mailup import MailUpImportSensor

LIST_ID = 1
LIST_GUID = "00000000-aaaa-bbbb-cccc-000123456789"


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["import-status", "mailup"])
def example_mailup_import():
    @task
    def upload_subscribers() -> int:
        subscribers = [{"email": f"user{i}@example.com", "Name": f"User {i}"} for i in range(20)]
        return MailUpHook().start_import(LIST_ID, LIST_GUID, subscribers)

    process_id = upload_subscribers()

    wait = MailUpImportSensor(
        task_id="wait_for_import",
        list_id=LIST_ID,
        list_guid=LIST_GUID,
        process_id=process_id,
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
            f"opted out={result['opted_out']} of total={result['total']}"
        )
        return result

    report(wait.output)


example_mailup_import()
