"""A test auth manager with per-DAG limits: the simple auth manager grants a role on every DAG or none.

Configured with ``[core] auth_manager = tests.plugins.auth_manager.DagLimitedAuthManager``; a user
named ``only-<dag_id>`` may read that one DAG and no other.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

LIMITED_PREFIX = "only-"


class DagLimitedAuthManager(SimpleAuthManager):
    """The simple auth manager, plus users limited to one DAG by their name."""

    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        if user.username.startswith(LIMITED_PREFIX):
            allowed = user.username.removeprefix(LIMITED_PREFIX)
            return method == "GET" and details is not None and details.id == allowed
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
