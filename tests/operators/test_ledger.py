"""The ledger: the task instance's task_state_store on Airflow 3.3+, a Variable per entry before."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_import_status.operators import ledger as ledger_module
from airflow_import_status.operators.ledger import JOB, Ledger, ledger_key


class FakeStore:
    """What ``context["task_state_store"]`` offers: get / set / delete of JSON values."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def _context(store: FakeStore | None) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=3)
    return {"ti": ti, **({"task_state_store": store} if store is not None else {})}


def test_on_3_3_the_entries_live_in_the_task_state_store(monkeypatch):
    monkeypatch.setattr(ledger_module, "AIRFLOW_V_3_3_PLUS", True)
    store = FakeStore()
    ledger = Ledger(_context(store))  # type: ignore[arg-type]
    assert ledger.in_task_state_store
    ledger.set({"import_job_id": 7})
    ledger.set({"process_ids": [1, 2]}, "mailup_upload")
    assert store.values == {
        "import_status.job": {"import_job_id": 7},
        "import_status.mailup_upload": {"process_ids": [1, 2]},
    }
    assert ledger.get() == {"import_job_id": 7} and ledger.get("other") is None
    ledger.delete(JOB)
    ledger.delete("mailup_upload")
    assert store.values == {}


class FakeVariables:
    """``airflow.sdk.Variable``'s get / set / delete (it needs a running task), as stored strings."""

    values: dict[str, str] = {}

    @classmethod
    def get(cls, key: str, default: Any = None) -> Any:
        return cls.values.get(key, default)

    @classmethod
    def set(cls, key: str, value: str, description: str | None = None) -> None:
        cls.values[key] = value

    @classmethod
    def delete(cls, key: str) -> None:
        cls.values.pop(key, None)


def test_before_3_3_each_entry_is_a_variable_named_after_the_task_instance(monkeypatch):
    monkeypatch.setattr(ledger_module, "AIRFLOW_V_3_3_PLUS", False)
    monkeypatch.setattr(ledger_module, "Variable", FakeVariables)
    FakeVariables.values = {}
    context = _context(FakeStore())  # a store present but unused before 3.3
    ledger = Ledger(context)  # type: ignore[arg-type]
    assert not ledger.in_task_state_store
    assert ledger_key(context) == "import_status.job.d.r.t.3"  # type: ignore[arg-type]
    ledger.set({"import_job_id": 7})
    ledger.set({"process_ids": [1]}, "mailup_upload")
    assert FakeVariables.values == {
        "import_status.job.d.r.t.3": '{"import_job_id": 7}',
        "import_status.job.d.r.t.3.mailup_upload": '{"process_ids": [1]}',
    }
    assert ledger.get() == {"import_job_id": 7}
    ledger.delete()
    ledger.delete("mailup_upload")
    assert FakeVariables.values == {}


CLEAR_DAG = """
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Variable


def write_both(**context):
    context["task_state_store"].set("import_status.job", {"import_job_id": 7})  # as the operators' ledger
    Variable.set("clear_keeps_ledgers.variable", '{"import_job_id": 7}')


with DAG("clear_keeps_ledgers", schedule=None) as dag:
    PythonOperator(task_id="write", python_callable=write_both)
"""


@pytest.mark.slow
@pytest.mark.usefixtures("airflow_db")
def test_clearing_a_task_keeps_both_stores():
    """The docs' promise about "clear task": Airflow's clear deletes no Variable and no task_state_store row."""
    import importlib.util
    import os
    from pathlib import Path

    from airflow.models import TaskInstance, Variable
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.models.taskinstance import clear_task_instances
    from airflow.utils.session import create_session

    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "clear_keeps_ledgers.py"
    path.write_text(CLEAR_DAG)
    try:
        spec = importlib.util.spec_from_file_location("clear_keeps_ledgers", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        run = module.dag.test()
    finally:
        path.unlink()
    assert run.state == "success"
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id="clear_keeps_ledgers", run_id=run.run_id).all()
        assert len(tis) == 1
        clear_task_instances(tis, session)
    with create_session() as session:
        stored = session.query(TaskStateStoreModel).filter_by(dag_id="clear_keeps_ledgers", key="import_status.job")
        assert stored.count() == 1, "clear deleted the task_state_store row"
        variable = session.query(Variable).filter_by(key="clear_keeps_ledgers.variable")
        assert variable.count() == 1, "clear deleted the Variable"
        stored.delete()  # nothing left for other tests' ledger counts
        variable.delete()
