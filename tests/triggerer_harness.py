"""``dag.test()`` with a deferred task's event handled as Airflow 3.3's real triggerer handles it.

``dag.test()`` runs a trigger in line but always resumes the task on the "worker" with the
event's payload; it neither gives the trigger its task instance nor applies the task-end
events of ``end_from_trigger`` (``TaskSuccessEvent`` / ``TaskFailedEvent``). Within
:func:`triggerer_semantics`, a deferral runs its trigger with the task instance set (as
``TriggerRunner.create_triggers`` does) and submits the event through Airflow's own
``airflow.models.trigger.handle_event_submit`` (as ``Trigger.submit_event`` does): a plain
event resumes the task in a new worker run, a task-end event ends it there, with Airflow's
retry routing and XCom pushes. Worker runs are counted (``run_task_in_process`` calls).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock


@dataclass
class TriggererRuns:
    worker_runs: int = 0
    events: list[Any] = field(default_factory=list)
    """Every event a trigger yielded (task-end events included)."""


@contextlib.contextmanager
def triggerer_semantics() -> Iterator[TriggererRuns]:
    import airflow.sdk.definitions.dag as dag_module
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import handle_event_submit
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.api.datamodels._generated import TaskInstance as TaskInstanceSDK
    from airflow.sdk.execution_time.comms import DeferTask
    from airflow.sdk.execution_time.supervisor import run_task_in_process
    from airflow.sdk.serde import deserialize
    from airflow.serialization.serialized_objects import create_scheduler_operator
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    runs = TriggererRuns()

    def run_task(*, ti: Any, task: Any, run_triggerer: bool = False) -> Any:
        while True:
            ti.set_state(TaskInstanceState.QUEUED)
            sdk_ti = TaskInstanceSDK(
                id=ti.id,
                task_id=ti.task_id,
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                try_number=ti.try_number,
                map_index=ti.map_index,
                dag_version_id=ti.dag_version_id,
            )
            runs.worker_runs += 1
            result = run_task_in_process(ti=sdk_ti, task=task)
            ti.set_state(result.ti.state)
            ti.task = create_scheduler_operator(result.ti.task)
            if not (ti.state == TaskInstanceState.DEFERRED and isinstance(result.msg, DeferTask)):
                return result
            trigger = import_string(result.msg.classpath)(**deserialize(result.msg.trigger_kwargs))
            trigger.task_instance = sdk_ti  # what the real triggerer sets (its workload's task instance)
            event = dag_module._run_inline_trigger(trigger, sdk_ti)
            runs.events.append(event)
            with create_session() as session:
                db_ti = session.get(TaskInstance, ti.id)
                handle_event_submit(event, task_instance=db_ti, session=session)
                state = db_ti.state
            ti.refresh_from_db()
            if state != TaskInstanceState.SCHEDULED:
                return result

    with mock.patch.object(dag_module, "_run_task", run_task):
        yield runs
