"""The Import tab's refused-records block: the ``rejected_records`` XCom, checked field by field.

Only what the task put in XCom is shown: the file's path, the count, whether the list was cut, the
listing's error and the top reasons (already masked). The records themselves stay in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from airflow_import_status.plugins.queries import task_xcom_value
from airflow_import_status.rejected import TOP_REASONS, XCOM_KEY


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def summary_of(value: Any) -> dict[str, Any] | None:
    """The XCom value as the tab shows it, or ``None`` if it is not a refused-records summary."""
    if not isinstance(value, Mapping) or not isinstance(value.get("path"), str) or _count(value.get("count")) is None:
        return None
    reasons = value.get("top_reasons")
    top = [
        {"reason": item["reason"], "count": item["count"]}
        for item in (reasons if isinstance(reasons, list) else [])[:TOP_REASONS]
        if isinstance(item, Mapping) and isinstance(item.get("reason"), str) and _count(item.get("count")) is not None
    ]
    by_source = value.get("by_source")
    return {
        "path": value["path"],
        "count": value["count"],
        "by_source": {
            str(k): v for k, v in (by_source.items() if isinstance(by_source, Mapping) else ()) if _count(v) is not None
        },
        "truncated": value.get("truncated") is True,
        "top_reasons": top,
        "error": value["error"] if isinstance(value.get("error"), str) else None,
    }


def refused_summary(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> dict[str, Any] | None:
    """One task instance's refused-records summary, if it wrote a file."""
    return summary_of(task_xcom_value(session, dag_id, run_id, task_id, map_index, XCOM_KEY))
