"""The one waiting component: the sensor and the start-import operator use it, neither inherits it."""

from __future__ import annotations

import time

import pytest
from airflow.sdk import PokeReturnValue

from airflow_import_status.operators.base import ImportStartOperator
from airflow_import_status.operators.which50 import Which50ImportOperator
from airflow_import_status.outcome import QualityGate
from airflow_import_status.sensors.base import ImportStatusSensor
from airflow_import_status.sensors.which50 import Which50ImportSensor
from airflow_import_status.waiting import ImportWait

WAITING = {"poke_interval": 7, "max_rejected": 3, "retry_backoff": 2, "not_found_grace": 9, "max_rejected_records": 50}


def test_the_sensor_and_the_operator_use_one_wait_and_share_no_waiting_base():
    sensor = Which50ImportSensor(task_id="wait", contact_list_id=1, import_job_id=2, **WAITING)
    operator = Which50ImportOperator(task_id="op", contact_list_id=1, source=[{"Email": "a@example.com"}], **WAITING)
    assert not issubclass(ImportStartOperator, ImportStatusSensor) and not issubclass(
        ImportStatusSensor, ImportStartOperator
    )
    assert isinstance(sensor.waiting, ImportWait) and sensor.waiting == operator.waiting
    assert sensor.waiting.gate == QualityGate(max_rejected=3) and sensor.waiting.policy.poll_interval == 7
    assert operator.import_job_id is None, "no placeholder job id: bound once the vendor returns it"


def test_the_wait_checks_its_parameters():
    with pytest.raises(ValueError, match="max_rejected_records must be >= 1"):
        Which50ImportSensor(task_id="wait", contact_list_id=1, import_job_id=2, max_rejected_records=0)
    with pytest.raises(ValueError, match=r"max_rejected_ratio must be within 0\.\.1"):
        Which50ImportOperator(task_id="op", contact_list_id=1, source=[], max_rejected_ratio=2)


def test_the_wait_polls_the_rendered_copy_of_its_task(sim, mocker):
    """Airflow renders a copy of the task (``prepare_for_execution``): the wait reads the task it is given."""
    job = sim.create_job("which50", params={"contact_list_id": 5}, polls=2)
    sensor = Which50ImportSensor(
        task_id="wait", contact_list_id="{{ params.list }}", import_job_id="{{ params.job }}", poke_interval=0.05
    )
    task = sensor.prepare_for_execution()
    task.contact_list_id, task.import_job_id = 5, job["job_id"]  # what rendering the copy's template fields does
    context = {"ti": mocker.MagicMock()}
    for _ in range(20):
        if isinstance(done := task.poke(context), PokeReturnValue):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the job never finished")
    assert done.xcom_value["job_id"] == str(job["job_id"]) and done.xcom_value["state"] == "succeeded"
    assert sensor.import_job_id == "{{ params.job }}", "the task built at parse time keeps its templates"
