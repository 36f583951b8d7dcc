"""Stage profiles into a MyPreferences bulk import, execute it, wait (deferred), then report its counters."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_import_status.hooks.mypreferences import MyPreferencesHook
from airflow_import_status.sensors.mypreferences import MyPreferencesImportSensor


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["import-status", "mypreferences"])
def example_mypreferences_import():
    @task
    def upload_profiles() -> str:
        profiles = [
            {"ProfileId": f"customer-{i}", "Emails": [{"Email": f"customer{i}@example.com"}]} for i in range(20)
        ]
        profiles.append({"ProfileId": "customer-broken", "Emails": [{"Email": "not-an-email"}]})
        return MyPreferencesHook().start_import(profiles, name="Nightly CRM sync")

    access_token = upload_profiles()

    wait = MyPreferencesImportSensor(
        task_id="wait_for_import",
        access_token=access_token,
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

    report(wait.output)


example_mypreferences_import()
