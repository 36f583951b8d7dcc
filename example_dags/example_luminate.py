"""Start a Luminate Online address book import, wait for it (deferred), then report what it brought in."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_import_status.hooks.luminate import LuminateHook
from airflow_import_status.sensors.luminate import LuminateImportSensor

CALLBACK_URL = "https://www.example.org/address-book-import/callback"


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["import-status", "luminate"])
def example_luminate_import():
    @task
    def start_address_book_import() -> str:
        started = LuminateHook().start_import(import_source="GOOGLE", callback_url=CALLBACK_URL)
        print(f"Luminate import job {started.job_id}: the constituent grants access at {started.oauth_url}")
        return started.job_id

    import_job_id = start_address_book_import()

    wait = LuminateImportSensor(
        task_id="wait_for_import",
        import_job_id=import_job_id,
        count_contacts=True,
        deferrable=True,
        poke_interval=1,
        timeout=300,
    )

    @task
    def report(result: dict) -> dict:
        events = " -> ".join(result["details"]["events"])
        print(f"Luminate import {result['job_id']}: {result['state']}, {result['total']} contacts ({events})")
        return result

    report(wait.output)


example_luminate_import()
