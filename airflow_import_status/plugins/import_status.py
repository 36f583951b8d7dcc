"""The plugin the provider registers: the Imports page and the task instance's Import tab.

External views (Airflow 3.1+, every supported release) embed the plugin app's pages.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/import-status"
"""Where the API server mounts the plugin app."""


class _LazyApp:
    """ASGI app that builds the FastAPI app on its first request.

    Processes other than the API server load plugins too: they never import the app's modules.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from airflow_import_status.plugins.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)

    def __repr__(self) -> str:
        return "airflow_import_status.plugins.app:create_app()"


class ImportStatusPlugin(AirflowPlugin):
    """Imports waited on by this provider's sensors, in the Airflow UI."""

    name = "import_status"
    fastapi_apps = [{"name": "Import Status", "app": _LazyApp(), "url_prefix": URL_PREFIX}]
    external_views = [
        {
            "name": "Imports",
            "href": f"{URL_PREFIX.lstrip('/')}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "imports",
        },
        {
            "name": "Import",
            "href": f"{URL_PREFIX.lstrip('/')}/task-instance"
            "?dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}&map_index={MAP_INDEX}",
            "destination": "task_instance",
            "url_route": "import",
        },
    ]
