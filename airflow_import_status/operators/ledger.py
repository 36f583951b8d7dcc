"""The start-import operators' ledger: what a task instance started or uploaded, kept across its tries.

On Airflow 3.3 and later it is the task instance's own ``task_state_store``
(``context["task_state_store"]``, JSON values scoped to the DAG run, task and map index,
shared by every try; the store ``airflow.sdk.bases.resumablejobmixin.ResumableJobMixin`` is
built on). On 3.1 and 3.2 it is an Airflow Variable per entry, named after the task instance
(``import_status.job.{dag_id}.{run_id}.{task_id}.{map_index}``, a suffix per further entry).
Either holds only job identities and upload progress, never a credential or a contact. A task
with ``end_from_trigger=True`` keeps the Variable on 3.3 too: the triggerer that ends it deletes
the ledger, and a triggerer has no task's ``task_state_store``.

"Clear task" deletes neither: Airflow's ``clear_task_instances`` touches no Variable and no
``task_state_store`` row (those go with the DAG run, or with ``[state_store] clear_on_success``
after a success). A cleared task whose ledger is still there (it was cleared while running or
after a retryable failure) therefore waits on, or resumes, that same import; the operators
delete their entries once the task's outcome is final, so a task cleared after it succeeded
or failed for good uploads afresh.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow.sdk import Variable

from airflow_import_status.version_compat import AIRFLOW_V_3_3_PLUS

if TYPE_CHECKING:
    from airflow.sdk import Context

LEDGER_DESCRIPTION = "airflow-import-status: the import job this task instance started (deleted when it ends)"

JOB = "job"
"""The entry holding the job this task instance started (its job fields)."""


def ledger_key(context: Context) -> str:
    """The Variable name of a task instance's ledger (3.1/3.2; on 3.3 the store's keys are ``import_status.*``)."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    return f"import_status.job.{ti.dag_id}.{ti.run_id}.{ti.task_id}.{map_index}"


class Ledger:
    """A task instance's entries (``JOB`` and vendor-named ones such as ``mailup_upload``), kept across tries."""

    def __init__(self, context: Context, *, variable: bool = False) -> None:
        """``variable``: a Variable on 3.3 too (a triggerer ending the task can delete a Variable, not the store)."""
        store = None if variable or not AIRFLOW_V_3_3_PLUS else context.get("task_state_store")  # type: ignore[misc,unused-ignore]
        self._store: Any = store
        self._variable = ledger_key(context)

    @property
    def in_task_state_store(self) -> bool:
        return self._store is not None

    def _name(self, entry: str) -> str:
        if self._store is not None:
            return f"import_status.{entry}"
        return self._variable if entry == JOB else f"{self._variable}.{entry}"

    def get(self, entry: str = JOB) -> dict[str, Any] | None:
        if self._store is not None:
            value = self._store.get(self._name(entry))
            return value if isinstance(value, dict) else None
        raw = Variable.get(self._name(entry), default=None)
        return json.loads(raw) if raw else None

    def set(self, value: dict[str, Any], entry: str = JOB) -> None:
        if self._store is not None:
            self._store.set(self._name(entry), value)
        else:
            Variable.set(self._name(entry), json.dumps(value), description=LEDGER_DESCRIPTION)

    def delete(self, entry: str = JOB) -> None:
        if self._store is not None:
            self._store.delete(self._name(entry))
        else:
            Variable.delete(self._name(entry))
