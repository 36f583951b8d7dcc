"""Test-only DAGs for the kill-and-retry test: one per vendor with a start-import operator.

``deployment_{key}_operator`` uploads the CSV named in the run's conf (``{"source": path}``)
with the vendor's operator, polling in the worker (``deferrable=False``: the task process is
alive while it waits, so a test can kill it), one retry allowed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_import_status.vendors import builtin_specs
from airflow_import_status.vendors.spec import VendorSpec

OPERATOR_TASK = "import_contacts"


def operator_dag(spec: VendorSpec[Any, Any]) -> DAG:
    simulator = spec.simulator_class
    id_field = spec.job_type.id_field()
    start = {k: v for k, v in spec.job({**simulator.job_params, id_field: "0"}).to_params().items() if k != id_field}
    with DAG(
        f"deployment_{spec.key}_operator",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["deployment-test"],
    ) as dag:
        assert spec.operator_class is not None
        spec.operator_class(
            task_id=OPERATOR_TASK,
            source="{{ dag_run.conf['source'] }}",
            field_mapping=simulator.contact_mapping,
            **start,
            deferrable=False,
            mode="poke",
            poke_interval=3,
            timeout=180,
            retries=1,
            retry_delay=timedelta(seconds=1),
        )
    return dag


for _spec in builtin_specs():
    if _spec.operator_class_name:
        globals()[f"{_spec.key}_operator_dag"] = operator_dag(_spec)
