"""``start_from_trigger``: the parse-time trigger arguments, the 3.1/3.2 fallback, XComArg job ids."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from airflow.sdk import DAG

from airflow_import_status import version_compat
from airflow_import_status.operators.which50 import Which50ImportOperator
from airflow_import_status.sensors.which50 import Which50ImportSensor
from airflow_import_status.triggers.import_status import ImportStatusEvent
from airflow_import_status.triggers.start import DEFERRAL_TIMEOUT_MARGIN, ImportStatusStartTrigger
from tests.sensor_harness import run_sensor
from tests.version_compat import DagSerialization

needs_3_3 = pytest.mark.skipif(
    not version_compat.AIRFLOW_V_3_3_PLUS,
    reason="the triggerer starts tasks from Airflow 3.3 (earlier releases: the before_3_3 tests)",
)

JOB = {"contact_list_id": "{{ params.list }}", "import_job_id": "{{ dag_run.conf['job'] }}"}


@needs_3_3
def test_start_trigger_args_hold_the_templated_job_under_the_sensors_names():
    sensor = Which50ImportSensor(task_id="wait", start_from_trigger=True, timeout=600, max_rejected=3, **JOB)
    assert sensor.start_from_trigger and sensor.end_from_trigger and sensor.deferrable
    args = sensor.start_trigger_args
    assert args.trigger_cls == "airflow_import_status.triggers.start.ImportStatusStartTrigger"
    assert args.next_method == "execute_complete"
    assert args.timeout.total_seconds() == 600 + DEFERRAL_TIMEOUT_MARGIN.total_seconds()
    kwargs = args.trigger_kwargs
    assert {k: kwargs[k] for k in JOB} == JOB, "the triggerer renders these (the task's template_fields)"
    assert kwargs["which50_conn_id"] == "which50_default" and kwargs["timeout"] == 600
    assert kwargs["end"]["gate"] == {"max_rejected": 3, "max_rejected_ratio": None}
    # the trigger the triggerer builds from them exposes each templated field it needs under the same name
    # (Airflow renders only the template fields present on the trigger; rejected_records_path is a worker's)
    trigger = ImportStatusStartTrigger(**kwargs)
    assert set(sensor.template_fields) - {"rejected_records_path"} <= {n for n in kwargs if hasattr(trigger, n)}
    assert trigger.serialize()[1] == kwargs


@needs_3_3
def test_start_from_trigger_survives_dag_serialization():
    with DAG("zero_worker_serialization", schedule=None) as dag:
        Which50ImportSensor(task_id="wait", start_from_trigger=True, **JOB)
    task = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("wait")
    assert task.start_from_trigger is True
    assert task.start_trigger_args.trigger_cls.endswith("ImportStatusStartTrigger")


@pytest.mark.parametrize("flag", [False])
def test_before_3_3_it_warns_and_defers_from_a_worker(monkeypatch, flag):
    monkeypatch.setattr(version_compat, "AIRFLOW_V_3_3_PLUS", flag)
    with pytest.warns(UserWarning, match="needs Airflow 3.3 or later"):
        sensor = Which50ImportSensor(task_id="wait", start_from_trigger=True, **JOB)
    assert sensor.start_from_trigger is False and sensor.deferrable and sensor.end_from_trigger


@pytest.mark.slow
@pytest.mark.usefixtures("airflow_db")
def test_before_3_3_the_task_defers_as_today(sim, monkeypatch):
    monkeypatch.setattr(version_compat, "AIRFLOW_V_3_3_PLUS", False)
    job = sim.create_job("which50", params={"contact_list_id": 5}, polls=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = run_sensor(
            Which50ImportSensor, "deferrable", start_from_trigger=True, contact_list_id=5, import_job_id=job["job_id"]
        )
    assert any("needs Airflow 3.3" in str(w.message) for w in caught)
    assert run.state == "success" and run.was_deferred and run.return_value["state"] == "succeeded"


@needs_3_3
def test_an_xcomarg_job_id_cannot_start_from_the_trigger():
    with DAG("zero_worker_xcomarg", schedule=None):
        upload = Which50ImportSensor(task_id="upload", contact_list_id=1, import_job_id=2)
        with pytest.warns(UserWarning, match="never resolves an XComArg"):
            sensor = Which50ImportSensor(
                task_id="wait", start_from_trigger=True, contact_list_id=1, import_job_id=upload.output
            )
    assert sensor.start_from_trigger is False and sensor.deferrable


@needs_3_3
def test_a_jinja_xcom_pull_job_id_cannot_start_from_the_trigger():
    """Measured on 3.3.2 (tests/test_zero_worker_deployment.py): the trigger's xcom_pull is never answered."""
    with pytest.warns(UserWarning, match="cannot render xcom_pull"):
        sensor = Which50ImportSensor(
            task_id="wait",
            start_from_trigger=True,
            contact_list_id=1,
            import_job_id="{{ ti.xcom_pull(task_ids='upload') }}",
        )
    assert sensor.start_from_trigger is False and sensor.deferrable


def test_an_operator_cannot_start_from_the_trigger():
    with pytest.raises(TypeError, match="uploads on a worker"):
        Which50ImportOperator(
            task_id="op", contact_list_id=1, source=[{"Email": "a@example.com"}], start_from_trigger=True
        )


@needs_3_3
def test_the_start_trigger_waits_on_its_rendered_fields(sim):
    job = sim.create_job("which50", params={"contact_list_id": 5}, polls=2)
    sensor = Which50ImportSensor(
        task_id="wait", start_from_trigger=True, contact_list_id=5, import_job_id=job["job_id"], poke_interval=0.05
    )
    trigger = ImportStatusStartTrigger(**sensor.start_trigger_args.trigger_kwargs)

    async def first() -> ImportStatusEvent:
        async for event in trigger.run():
            return ImportStatusEvent.from_payload(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(first())
    assert event.status.value == "succeeded" and event.result.job_id == str(job["job_id"])
    assert trigger.deadline is not None and trigger.deadline - trigger.waiting_since == sensor.timeout


def test_a_mapped_sensor_warns_at_parse_time_and_defers_from_a_worker():
    """Airflow 3.3 starts no mapped task in the triggerer (its mapped operator takes ``start_trigger_args``
    from the class, never from ``__init__``): the task is serialized as a plain deferrable one."""
    with DAG("zero_worker_mapped", schedule=None) as dag, pytest.warns(UserWarning, match="cannot start a mapped"):
        Which50ImportSensor.partial(task_id="wait", contact_list_id=1, start_from_trigger=True).expand(
            import_job_id=[2, 3]
        )
    task = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("wait")
    assert task.start_from_trigger is False and task.start_trigger_args is None
    assert task.partial_kwargs["deferrable"] is True and task.partial_kwargs["end_from_trigger"] is True


def test_a_mapped_operator_cannot_start_from_the_trigger_either():
    with pytest.raises(TypeError, match="uploads on a worker"):
        Which50ImportOperator.partial(task_id="op", contact_list_id=1, start_from_trigger=True)
