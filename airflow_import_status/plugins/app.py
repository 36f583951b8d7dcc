"""The Imports UI's FastAPI app: two pages (the Imports list, a task instance's Import tab) and their JSON API.

Airflow mounts plugin apps without any authentication, so every route here depends on Airflow's
own ``get_user`` (the UI's JWT: cookie ``_token`` or ``Authorization: Bearer``) and asks the
configured auth manager what the user may read: the list is limited to
``get_authorized_dag_ids``, one task's import and history to ``requires_access_dag`` on its DAG.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, get_user, requires_access_dag
from airflow.utils.session import create_session
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from airflow_import_status.plugins import queries
from airflow_import_status.plugins.live import LiveStatus
from airflow_import_status.plugins.rejected import refused_summary
from airflow_import_status.plugins.sources import vendors

STATIC_FILES = {"imports.js": "text/javascript", "imports.css": "text/css"}
PAGES = {"imports": "imports.html", "task_instance": "task_instance.html"}


def _static(name: str) -> bytes:
    return resources.files("airflow_import_status.plugins").joinpath("static", name).read_bytes()


def _live(request: Request) -> LiveStatus:
    live: LiveStatus = request.app.state.live
    return live


def _fold_live(row: dict[str, Any], status: dict[str, Any]) -> None:
    """Fold a waiting row's live status into it (``row["live"]`` holds the poll's outcome)."""
    result = status["result"]
    if result:
        for key in ("vendor_status", "progress_percent", "total", "imported", "rejected"):
            row[key] = result[key]
        row["rejected_ratio"] = queries.ratio(result["rejected"], result["total"])
        row["started_at"] = result["started_at"] or row["started_at"]
    row["console_url"] = row["console_url"] or status.get("console_url")
    row["live"] = {
        "state": result["state"] if result else None,
        "error": status["error"],
        "polled_at": status["polled_at"],
    }


def create_app() -> FastAPI:
    """The app Airflow's API server mounts under ``import_status.URL_PREFIX``."""
    app = FastAPI(
        title="Import Status",
        description="Imports waited on by airflow-import-status sensors (authenticated by Airflow's auth manager).",
        docs_url=None,
        redoc_url=None,
    )
    app.state.live = LiveStatus()
    router = APIRouter(dependencies=[Depends(get_user)])
    read_xcom = Depends(requires_access_dag("GET", DagAccessEntity.XCOM))

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def imports_page() -> HTMLResponse:
        return HTMLResponse(_static(PAGES["imports"]))

    @router.get("/task-instance", response_class=HTMLResponse, include_in_schema=False)
    def task_instance_page() -> HTMLResponse:
        return HTMLResponse(_static(PAGES["task_instance"]))

    @router.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, "Not found")
        return Response(_static(name), media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})

    @router.get("/api/imports")
    async def list_imports(
        user: GetUserDep,
        live: Annotated[LiveStatus, Depends(_live)],
        vendor: str | None = None,
        state: str | None = None,
        dag_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
        with_live: bool = True,
    ) -> dict[str, Any]:
        """A page of the imports of the DAGs the user may read, waiting ones first, then newest first."""
        if state and state not in set(queries.ImportStatus):
            raise HTTPException(400, f"unknown state {state!r}; one of {', '.join(queries.ImportStatus)}")

        def read() -> queries.ImportPage:
            with create_session() as session:
                dag_ids = get_auth_manager().get_authorized_dag_ids(user=user, method="GET", session=session)
                return queries.list_imports(
                    session, dag_ids, vendor=vendor, status=state, dag_id=dag_id, limit=limit, offset=offset
                )

        page = await run_in_threadpool(read)
        if with_live:
            polled = [(row, waiting) for row, waiting in zip(page.rows, page.sources, strict=True) if waiting]
            statuses = await asyncio.gather(*(live.get(waiting) for _, waiting in polled))
            for (row, _), status in zip(polled, statuses, strict=True):
                _fold_live(row, status)
        return {
            "total": page.total,
            "limit": limit,
            "offset": offset,
            "imports": page.rows,
            "vendors": vendors(),
            "states": list(queries.ImportStatus),
            "dag_ids": page.dag_ids,
        }

    @router.get("/api/task-instance", dependencies=[read_xcom])
    async def task_instance(
        live: Annotated[LiveStatus, Depends(_live)],
        dag_id: str,
        run_id: str,
        task_id: str,
        map_index: int = -1,
    ) -> dict[str, Any]:
        """One task instance's import: its row, its normalized result, and for a deferred task the live status."""

        def read() -> tuple[Any, Any, Any, Any]:
            with create_session() as session:
                found = queries.task_import(session, dag_id, run_id, task_id, map_index)
                return (*found, refused_summary(session, dag_id, run_id, task_id, map_index))

        row, result, waiting, refused = await run_in_threadpool(read)
        if row is None:
            return {"import": None, "result": None}
        if waiting is not None:
            status = await live.get(waiting)
            _fold_live(row, status)
            return {"import": row, "result": status["result"]}
        return {"import": row, "result": queries.result_fields(result) if result else None, "rejected_records": refused}

    @router.get("/api/history", dependencies=[read_xcom])
    def task_history(
        dag_id: str, task_id: str, limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = queries.HISTORY_RUNS
    ) -> dict[str, Any]:
        """The task's last imports (oldest first) with the gate's threshold, for the chart."""
        with create_session() as session:
            return {"dag_id": dag_id, "task_id": task_id, "runs": queries.history(session, dag_id, task_id, limit)}

    app.include_router(router)
    return app
