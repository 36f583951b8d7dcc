"""Stage contacts.csv into a MyPreferences bulk import, execute it and wait for it (deferred) in one task.

The refused records (the rows the operator refused before sending, and those MyPreferences'
staging refused, joined back to their row in contacts.csv) are written to a CSV file that a
downstream task reads.
"""

from __future__ import annotations

import csv
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path

from airflow.sdk import dag, task

from airflow_import_status.operators.mypreferences import MyPreferencesImportOperator

CONTACTS = Path(__file__).resolve().parent / "contacts.csv"  # beside this file (a symlinked DAG too)
REFUSED = f"{tempfile.gettempdir()}/airflow-import-status/{{{{ ti.dag_id }}}}/{{{{ run_id }}}}/refused_contacts.csv"
"""Where the refused records go (templated; an ``ObjectStoragePath`` URL such as ``s3://...`` works too).

``run_id``, not ``ts_nodash``: a manual run of Airflow 3 may have no logical date, and then ``ts_nodash``
is undefined and the template fails."""


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
        rejected_records_path=REFUSED,
    )

    @task
    def report(result: dict) -> dict:
        print(
            f"MyPreferences import {result['job_id']}: {result['state']}, imported={result['imported']}, "
            f"invalid={result['invalid']}, failed={result['failed']} of total={result['total']}"
        )
        return result

    @task
    def review_refused(ti=None) -> dict:
        """Read the refused records' file; hand on only row numbers and reasons (the addresses stay in the file)."""
        summary = ti.xcom_pull(task_ids="import_contacts", key="rejected_records")
        with open(summary["path"], newline="", encoding="utf-8") as handle:
            refused = list(csv.DictReader(handle))
        print(f"{len(refused)} refused records to fix in {summary['path']}")
        return {
            "rows": sorted(int(line["row"]) for line in refused if line["row"]),
            "reasons": dict(Counter(line["reason"] for line in refused)),
        }

    report(import_contacts.output)
    import_contacts >> review_refused()


example_mypreferences_import()
