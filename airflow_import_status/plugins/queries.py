"""The Imports UI's reads of the metadata DB: finished imports from XCom, waiting ones from deferred tasks.

A finished import is an ``import_result`` XCom (pushed by the sensors on success, failure and
timeout) joined to its task instance; a waiting one is a deferred task instance whose trigger is an
import trigger (:mod:`airflow_import_status.plugins.sources`). Rows are plain dicts built field by
field from the normalized result: nothing else from XCom, the trigger or the connection goes out.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from airflow.models.taskinstance import TaskInstance
from airflow.models.trigger import Trigger
from airflow.models.xcom import XComModel
from sqlalchemy import and_, case, func, literal, select, tuple_
from sqlalchemy.orm import Session, aliased

from airflow_import_status.plugins.sources import TRIGGER_CLASSPATHS, WaitingImport, read_trigger
from airflow_import_status.result import ImportResult, sum_counters, to_utc_iso
from airflow_import_status.sensors.base import GATE_XCOM_KEY, RESULT_XCOM_KEY

CONSOLE_LINK_XCOM_KEY = "_link_ImportConsoleLink"
"""Where Airflow stores the "Vendor console" extra link of a finished task."""
MAX_PAGE_SIZE = 200
HISTORY_RUNS = 20


class ImportStatus(enum.StrEnum):
    """What the Imports page shows: the import's state and what the task made of it."""

    WAITING = "waiting"
    """The task is deferred: the trigger is polling the vendor."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"
    """The vendor finished the import but the task failed it: too many rejected records (the gate)."""
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    """The task gave up (sensor timeout) before the vendor finished."""


_FAILED_TASK_STATES = ("failed", "skipped", "upstream_failed")


def _status_expression(result: Any, ti_state: Any) -> Any:
    """SQL for :class:`ImportStatus` from the XCom's ``state`` and the task's state."""
    state = result["state"].as_string()
    return case(
        (state == "failed", literal(ImportStatus.FAILED.value)),
        (and_(state == "succeeded", ti_state.in_(_FAILED_TASK_STATES)), literal(ImportStatus.REJECTED.value)),
        (state == "succeeded", literal(ImportStatus.SUCCEEDED.value)),
        (ti_state.in_(_FAILED_TASK_STATES), literal(ImportStatus.TIMED_OUT.value)),
        else_=literal(ImportStatus.RUNNING.value),
    )


_TASK_SIDE: dict[str, tuple[str, ...]] = {
    ImportStatus.REJECTED.value: _FAILED_TASK_STATES,
    ImportStatus.TIMED_OUT.value: _FAILED_TASK_STATES,
}
"""The task states a status needs, where it needs a bad end: tested on the task instance alone."""


def _with_status(keys: Any, status: str, import_dags: Collection[str]) -> Any:
    """``keys`` limited to the results whose :func:`_status_expression` is ``status``.

    ``failed`` is the import's own state: no task instance is read. The others join the task
    instances of the DAGs that have results (``import_dags``), narrowed on the task side to the
    states the status needs, and test the status itself once both rows are there: a JSON test
    alone on the XCom side is estimated at a fraction of a percent, which on PostgreSQL turns the
    join into one index lookup per result (50,000 for ``rejected`` at 100,000 imports) instead of
    one hash join.
    """
    if status == ImportStatus.FAILED.value:
        return keys.where(XComModel.value["state"].as_string() == "failed")
    keys = keys.join(TaskInstance, _ti_of_xcom()).where(TaskInstance.dag_id.in_(import_dags))
    if status in _TASK_SIDE:
        keys = keys.where(TaskInstance.state.in_(_TASK_SIDE[status]))
    return keys.where(_status_expression(XComModel.value, TaskInstance.state) == status)


def _epoch_iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat() if epoch is not None else None


def gate_of(value: Any) -> dict[str, Any] | None:
    """The gate's two thresholds from the ``import_gate`` XCom, or ``None`` when none was recorded."""
    if not isinstance(value, Mapping):
        return None
    max_rejected, max_ratio = value.get("max_rejected"), value.get("max_rejected_ratio")
    return {
        "max_rejected": max_rejected if isinstance(max_rejected, int) and not isinstance(max_rejected, bool) else None,
        "max_rejected_ratio": float(max_ratio) if isinstance(max_ratio, int | float) else None,
    }


def normalized(value: Any) -> ImportResult | None:
    """The XCom value as an :class:`ImportResult`, or ``None`` if it is not one."""
    if not isinstance(value, Mapping):
        return None
    try:
        return ImportResult.from_dict(dict(value))
    except (TypeError, ValueError):
        return None


def result_fields(result: ImportResult) -> dict[str, Any]:
    """The normalized result as the card shows it (details limited to JSON scalars and their lists)."""
    data = result.to_dict()
    data["details"] = {str(k): v for k, v in result.details.items() if _plain(v)}
    data["warnings"] = [str(w) for w in result.warnings]
    data["rejected"] = sum_counters(result.invalid, result.failed)
    return data


def _plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(item, str | int | float | bool) or item is None for item in value)
    return isinstance(value, str | int | float | bool) or value is None


def ratio(rejected: int | None, total: int | None) -> float | None:
    """Rejected records as a fraction of the total (``None`` when either is unknown or the total is 0)."""
    return rejected / total if rejected is not None and total else None


def _counters(result: ImportResult | None) -> dict[str, Any]:
    rejected = sum_counters(result.invalid, result.failed) if result else None
    total = result.total if result else None
    return {
        "total": total,
        "imported": result.imported if result else None,
        "rejected": rejected,
        "rejected_ratio": ratio(rejected, total),
    }


def _row(
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    status: str,
    task_state: str | None,
    result: ImportResult | None,
    gate: dict[str, Any] | None,
    started_at: str | None,
    finished_at: str | None,
    console_url: Any = None,
    waiting: WaitingImport | None = None,
) -> dict[str, Any]:
    return {
        "vendor": result.vendor if result else (waiting.vendor if waiting else None),
        "job_id": result.job_id if result else (waiting.job_label if waiting else None),
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": map_index,
        "status": status,
        "task_state": task_state,
        "vendor_status": result.vendor_status if result else None,
        "progress_percent": result.progress_percent if result else None,
        **_counters(result),
        "gate": gate,
        "started_at": (result.started_at if result and result.started_at else started_at),
        "finished_at": finished_at,
        "waiting_since": _epoch_iso(waiting.waiting_since) if waiting else None,
        "deadline": _epoch_iso(waiting.deadline) if waiting else None,
        "console_url": console_url if isinstance(console_url, str) and console_url.startswith("http") else None,
    }


# ----- waiting imports (deferred task instances) --------------------------------------------------
def waiting_imports(
    session: Session,
    dag_ids: Collection[str],
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
) -> list[tuple[TaskInstance, WaitingImport]]:
    """Deferred task instances of ``dag_ids`` waiting in an import trigger, longest-waiting first."""
    query = (
        select(TaskInstance, Trigger)
        .join(Trigger, Trigger.id == TaskInstance.trigger_id)
        .where(TaskInstance.state == "deferred", Trigger.classpath.in_(TRIGGER_CLASSPATHS))
        .where(TaskInstance.dag_id.in_(dag_ids))
    )
    for column, value in (
        (TaskInstance.dag_id, dag_id),
        (TaskInstance.run_id, run_id),
        (TaskInstance.task_id, task_id),
        (TaskInstance.map_index, map_index),
    ):
        if value is not None:
            query = query.where(column == value)
    found = []
    for ti, trigger in session.execute(query):
        try:
            kwargs = trigger.kwargs
        except Exception:  # a trigger whose kwargs cannot be decrypted (rotated Fernet key) is not listed
            continue
        waiting = read_trigger(trigger.classpath, kwargs)
        if waiting is not None:
            found.append((ti, waiting))
    found.sort(key=lambda item: item[1].waiting_since or 0)
    return found


def waiting_row(ti: TaskInstance, waiting: WaitingImport, gate: dict[str, Any] | None = None) -> dict[str, Any]:
    return _row(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        status=ImportStatus.WAITING.value,
        task_state=ti.state,
        result=None,
        gate=gate,
        started_at=to_utc_iso(ti.start_date),
        finished_at=None,
        waiting=waiting,
    )


# ----- finished imports (import_result XComs) ------------------------------------------------------
def _ti_of_xcom() -> Any:
    return and_(
        TaskInstance.dag_id == XComModel.dag_id,
        TaskInstance.run_id == XComModel.run_id,
        TaskInstance.task_id == XComModel.task_id,
        TaskInstance.map_index == XComModel.map_index,
    )


_NEWEST_FIRST = (XComModel.timestamp.desc(), XComModel.dag_run_id.desc(), XComModel.task_id, XComModel.map_index)


def _result_keys(
    dag_ids: Collection[str],
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
) -> Any:
    """Keys of the matching ``import_result`` XComs (the chart's and the card's; the list pages with
    :func:`_scan_results`); only the chosen rows are then read in full."""
    query = select(XComModel.dag_run_id, XComModel.task_id, XComModel.map_index).where(
        XComModel.key == RESULT_XCOM_KEY, XComModel.dag_id.in_(dag_ids)
    )
    for column, value in (
        (XComModel.dag_id, dag_id),
        (XComModel.run_id, run_id),
        (XComModel.task_id, task_id),
        (XComModel.map_index, map_index),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


def _attached(key: str) -> Any:
    """An XCom of the same task instance under ``key`` (outer-joined)."""
    other = aliased(XComModel)
    return other, and_(
        other.dag_run_id == XComModel.dag_run_id,
        other.task_id == XComModel.task_id,
        other.map_index == XComModel.map_index,
        other.key == key,
    )


def _finished_rows(keys: Any) -> Any:
    """The rows of ``keys`` in full, newest first: result, status, task instance, gate and console link."""
    page = keys.subquery()
    gate, on_gate = _attached(GATE_XCOM_KEY)
    link, on_link = _attached(CONSOLE_LINK_XCOM_KEY)
    return (
        select(
            XComModel.dag_id,
            XComModel.run_id,
            XComModel.task_id,
            XComModel.map_index,
            XComModel.value,
            _status_expression(XComModel.value, TaskInstance.state).label("status"),
            TaskInstance.state,
            TaskInstance.start_date,
            TaskInstance.end_date,
            gate.value.label("gate"),
            link.value.label("console_url"),
        )
        .join(
            page,
            and_(
                XComModel.dag_run_id == page.c.dag_run_id,
                XComModel.task_id == page.c.task_id,
                XComModel.map_index == page.c.map_index,
                XComModel.key == RESULT_XCOM_KEY,
            ),
        )
        .join(TaskInstance, _ti_of_xcom())
        .outerjoin(gate, on_gate)
        .outerjoin(link, on_link)
        .order_by(*_NEWEST_FIRST)
    )


def _finished_row(row: Any) -> dict[str, Any]:
    result = normalized(row.value)
    return _row(
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_id=row.task_id,
        map_index=row.map_index,
        status=row.status,
        task_state=row.state,
        result=result,
        gate=gate_of(row.gate),
        started_at=to_utc_iso(row.start_date),
        finished_at=(result.finished_at if result and result.finished_at else to_utc_iso(row.end_date)),
        console_url=row.console_url,
    )


@dataclasses.dataclass
class ImportPage:
    """A page of the Imports list."""

    total: int
    rows: list[dict[str, Any]]
    sources: list[WaitingImport | None]
    """Aligned with ``rows``: what each waiting row's trigger waits for (``None`` for finished rows)."""
    dag_ids: list[str]
    """The DAGs that have imports, for the DAG filter."""


def list_imports(
    session: Session,
    dag_ids: Collection[str],
    *,
    vendor: str | None = None,
    status: str | None = None,
    dag_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ImportPage:
    """One page of imports of ``dag_ids``: waiting ones (deferred) first, then the others newest first."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, offset)
    waiting: list[tuple[TaskInstance, WaitingImport]] = []
    if status in (None, "", ImportStatus.WAITING.value):
        waiting = [
            item for item in waiting_imports(session, dag_ids, dag_id=dag_id) if not vendor or item[1].vendor == vendor
        ]
    rows = [
        waiting_row(ti, w, gate_for(session, ti.dag_id, ti.run_id, ti.task_id, ti.map_index))
        for ti, w in waiting[offset : offset + limit]
    ]
    sources: list[WaitingImport | None] = [w for _, w in waiting[offset : offset + limit]]

    per_dag, finished_total, page_keys = _scan_results(
        session,
        dag_ids,
        vendor=vendor,
        status=status,
        dag_id=dag_id,
        limit=max(0, limit - len(rows)),
        offset=max(0, offset - len(waiting)),
    )
    if page_keys:
        keys = select(XComModel.dag_run_id, XComModel.task_id, XComModel.map_index).where(
            XComModel.key == RESULT_XCOM_KEY,
            tuple_(XComModel.dag_run_id, XComModel.task_id, XComModel.map_index).in_(page_keys),
        )
        finished = [_finished_row(row) for row in session.execute(_finished_rows(keys))]
        rows += finished
        sources += [None] * len(finished)
    dags_with_imports = sorted({*per_dag, *_deferred_dag_ids(session, dag_ids)})
    return ImportPage(len(waiting) + finished_total, rows, sources, dags_with_imports)


def _scan_results(
    session: Session,
    dag_ids: Collection[str],
    *,
    vendor: str | None,
    status: str | None,
    dag_id: str | None,
    limit: int,
    offset: int,
) -> tuple[dict[str, int], int, list[tuple[int, str, int]]]:
    """Results per DAG (the DAG filter's choices), the filtered count and one page's keys.

    On PostgreSQL each pass over the ``import_result`` rows reads them from the table (no index
    holds ``dag_id`` or ``timestamp`` with ``key``, and Airflow's schema is not ours to change), so
    passes are counted: one for the counts per DAG, one for the page, whose window count gives a
    filtered total without a third pass.
    """
    per_dag = dict(
        session.execute(
            select(XComModel.dag_id, func.count())
            .where(XComModel.key == RESULT_XCOM_KEY, XComModel.dag_id.in_(dag_ids))
            .group_by(XComModel.dag_id)
        ).all()
    )
    if status == ImportStatus.WAITING.value:
        return per_dag, 0, []
    keys = _result_keys(dag_ids, dag_id=dag_id)
    if vendor:
        keys = keys.where(XComModel.value["vendor"].as_string() == vendor)
    if status:
        if status not in set(ImportStatus):
            return per_dag, 0, []
        keys = _with_status(keys, status, [dag_id] if dag_id else list(per_dag))
    if not (vendor or status):
        total = per_dag.get(dag_id, 0) if dag_id else sum(per_dag.values())
        if not limit or offset >= total:
            return per_dag, total, []
        page = session.execute(keys.order_by(*_NEWEST_FIRST).offset(offset).limit(limit)).all()
        return per_dag, total, [tuple(row) for row in page]
    counted = session.execute(
        keys.add_columns(func.count().over().label("total"))
        .order_by(*_NEWEST_FIRST)
        .offset(offset)
        .limit(max(1, limit))
    ).all()
    if not counted:  # past the end: the window had no row to report the total on
        return per_dag, session.scalar(select(func.count()).select_from(keys.subquery())) or 0, []
    total = counted[0].total
    return per_dag, total, [(row[0], row[1], row[2]) for row in counted[:limit]]


def _deferred_dag_ids(session: Session, dag_ids: Collection[str]) -> set[str]:
    """DAGs of ``dag_ids`` with a task deferred on an import trigger (kwargs left encrypted)."""
    return set(
        session.scalars(
            select(TaskInstance.dag_id)
            .distinct()
            .join(Trigger, Trigger.id == TaskInstance.trigger_id)
            .where(
                TaskInstance.state == "deferred",
                Trigger.classpath.in_(TRIGGER_CLASSPATHS),
                TaskInstance.dag_id.in_(dag_ids),
            )
        )
    )


def task_xcom_value(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> Any:
    """One task instance's XCom value under ``key`` (``None`` when it pushed none)."""
    return session.scalar(
        select(XComModel.value).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.task_id == task_id,
            XComModel.map_index == map_index,
            XComModel.key == key,
        )
    )


def gate_for(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> dict[str, Any] | None:
    """The gate recorded for one task instance."""
    return gate_of(task_xcom_value(session, dag_id, run_id, task_id, map_index, GATE_XCOM_KEY))


def task_import(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int
) -> tuple[dict[str, Any] | None, ImportResult | None, WaitingImport | None]:
    """One task instance's import: its row, its normalized result (if any) and what it waits for (if deferred)."""
    deferred = waiting_imports(session, [dag_id], dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
    if deferred:
        ti, waiting = deferred[0]
        return waiting_row(ti, waiting, gate_for(session, dag_id, run_id, task_id, map_index)), None, waiting
    keys = _result_keys([dag_id], dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
    row = session.execute(_finished_rows(keys)).first()
    if row is None:
        return None, None, None
    return _finished_row(row), normalized(row.value), None


def history(session: Session, dag_id: str, task_id: str, limit: int = HISTORY_RUNS) -> list[dict[str, Any]]:
    """The task's last ``limit`` imports, oldest first: counters, status and the gate's threshold in records."""
    keys = _result_keys([dag_id], dag_id=dag_id, task_id=task_id)
    newest = keys.order_by(*_NEWEST_FIRST).limit(max(1, min(limit, MAX_PAGE_SIZE)))
    rows = session.execute(_finished_rows(newest)).all()
    points = []
    for row in reversed(rows):
        item = _finished_row(row)
        points.append(
            {
                key: item[key]
                for key in ("run_id", "map_index", "status", "total", "imported", "rejected", "gate", "finished_at")
            }
            | {"threshold": threshold(item["gate"], item["total"])}
        )
    return points


def threshold(gate: dict[str, Any] | None, total: int | None) -> float | None:
    """The most rejected records the gate lets through for an import of ``total`` records."""
    if not gate:
        return None
    limits = []
    if gate["max_rejected"] is not None:
        limits.append(float(gate["max_rejected"]))
    if gate["max_rejected_ratio"] is not None and total is not None:
        limits.append(gate["max_rejected_ratio"] * total)
    return min(limits) if limits else None
