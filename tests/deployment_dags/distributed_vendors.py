"""Test-only DAGs for the distributed deployment test: every vendor's sensor, and its start-import operator.

Per shipped vendor ``<key>``:

- ``distributed_<key>_wait``: the vendor's sensor, its job fields from the run's conf;
- ``distributed_<key>_deadline``: the same with a short ``timeout`` and ``soft_fail`` (a skip
  at the deadline);
- ``distributed_<key>_start``: the vendor's start-import operator uploading
  ``example_dags/contacts.csv``, for each vendor whose spec names one
  (``VendorClasses.operator``), found without editing this file. Its job fields other than the
  job id come from the run's conf.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_import_status.vendors import builtin_specs

DEADLINE_SECONDS = 240
"""The deadline DAGs' ``timeout`` (the test checks it is kept across a killed triggerer)."""
CONTACTS = Path(__file__).resolve().parents[2] / "example_dags" / "contacts.csv"
DEFAULTS: dict[str, Any] = {
    "deferrable": True,
    "poke_interval": 2,
    "retry_backoff": 0.5,
    "retry_backoff_max": 2,
    # retries are allowed: every import must still finish on try 1
    "retries": 2,
    "retry_delay": timedelta(seconds=1),
}


def _job_templates(field_names: tuple[str, ...]) -> dict[str, str]:
    return {name: f"{{{{ dag_run.conf.get('{name}', '') }}}}" for name in field_names}


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["distributed-test"])


def start_operator_class(spec: Any) -> type[Any] | None:
    """The vendor's start-import operator, where it has one."""
    try:
        module = importlib.import_module(f"airflow_import_status.operators.{spec.key}")
    except ModuleNotFoundError:
        return None
    operator: type[Any] | None = getattr(module, spec.operator_class_name.rpartition(".")[2], None)
    return operator


for _spec in builtin_specs():
    _fields = _spec.job_type.field_names()
    with _dag(f"distributed_{_spec.key}_wait"):
        _spec.sensor_class(task_id="wait_for_import", timeout=900, **_job_templates(_fields), **DEFAULTS)
    with _dag(f"distributed_{_spec.key}_deadline"):
        _spec.sensor_class(
            task_id="wait_for_import",
            timeout=DEADLINE_SECONDS,
            soft_fail=True,
            **_job_templates(_fields),
            **DEFAULTS,
        )
    _operator = start_operator_class(_spec)
    if _operator is not None:
        _id_field = _spec.job_type.id_field()
        with _dag(f"distributed_{_spec.key}_start"):
            _operator(
                task_id="start_import",
                source=str(CONTACTS),
                field_mapping=_spec.simulator_class.contact_mapping,  # contacts.csv's columns -> the vendor's
                timeout=900,
                **_job_templates(tuple(name for name in _fields if name != _id_field)),
                **DEFAULTS,
            )
