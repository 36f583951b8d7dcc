"""Records each import sensor's quality gate where the Imports UI can read it.

The gate (``max_rejected`` / ``max_rejected_ratio``) is a sensor attribute that Airflow does not
serialize, so the API server cannot see it. This listener runs in the task's process when an
import sensor starts (and resumes) and pushes the gate as the ``import_gate`` XCom.
"""

from __future__ import annotations

from typing import Any

from airflow.listeners import hookimpl

GATE_XCOM_KEY = "import_gate"
"""XCom key of ``{"max_rejected": int | None, "max_rejected_ratio": float | None}``."""


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    """Push the sensor's gate (both thresholds, ``None`` when unset) before it polls."""
    from airflow_import_status.sensors.base import ImportStatusSensor

    task = getattr(task_instance, "task", None)
    if not isinstance(task, ImportStatusSensor):
        return
    task_instance.xcom_push(
        key=GATE_XCOM_KEY,
        value={"max_rejected": task.max_rejected, "max_rejected_ratio": task.max_rejected_ratio},
    )
