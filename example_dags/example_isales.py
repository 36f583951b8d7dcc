"""Upload a blacklist file to CC-iSales, wait for its import task (deferred), then report its counters.

The upload uses the simulator-only ``importFile`` call (see ``ISalesHook.upload_import_file``);
on a real CC-iSales server the file arrives through the file-server interfaces and only the
task id is handed to the sensor.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_import_status.hooks.isales import ISalesHook
from airflow_import_status.sensors.isales import ISalesImportSensor

VDN_ID = 12


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["import-status", "isales"])
def example_isales_import():
    @task
    def upload_blacklist() -> str:
        numbers = [f"861380000{i:04d}" for i in range(20)]
        numbers += ["8613800000001", "not-a-number"]  # one duplicate, one invalid line
        return ISalesHook().upload_import_file(VDN_ID, "blacklist.csv", "\n".join(numbers))

    import_task_id = upload_blacklist()

    wait = ISalesImportSensor(
        task_id="wait_for_import",
        vdn_id=VDN_ID,
        import_task_id=import_task_id,
        deferrable=True,
        poke_interval=1,
        timeout=300,
        max_rejected_ratio=0.1,
    )

    @task
    def report(result: dict) -> dict:
        print(
            f"CC-iSales import task {result['job_id']}: {result['state']}, imported={result['imported']}, "
            f"duplicates={result['duplicates']}, failed={result['failed']} of total={result['total']}"
        )
        return result

    report(wait.output)


example_isales_import()
