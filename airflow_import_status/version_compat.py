"""Differences between the Airflow 3 releases this provider supports, in one place.

Like the ``version_compat.py`` of Airflow's own providers: every other module imports these
names from here instead of checking versions itself. Each fallback names the release that
lacks the newer home (measured on 3.1.8, 3.2.2 and 3.3.2; docs/installation.md says why 3.0 is not
supported). Test-only differences are in ``tests/version_compat.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from airflow import __version__ as _airflow_version
from airflow.sdk.log import mask_secret
from packaging.version import Version


def get_base_airflow_version_tuple() -> tuple[int, int, int]:
    """The running Airflow's (major, minor, micro), pre-release tags dropped."""
    version = Version(_airflow_version)
    return version.major, version.minor, version.micro


AIRFLOW_V_3_2_PLUS = get_base_airflow_version_tuple() >= (3, 2, 0)
"""The UI reads ``conn-fields`` / ``ui-field-behaviour`` from the provider info (before: from
each hook class's own ``get_connection_form_widgets`` / ``get_ui_field_behaviour``)."""

AIRFLOW_V_3_3_PLUS = get_base_airflow_version_tuple() >= (3, 3, 0)
"""The triggerer honours ``start_from_trigger`` (3.1 and 3.2 ignore it: apache/airflow#54646, #55068)
and renders the task's templated fields before starting its trigger.
It also gives every task instance a ``task_state_store`` (JSON values kept across tries): the
operators' ledger."""

try:  # 3.2+
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
except ImportError:  # 3.1: still in core
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )


try:  # 3.2+
    from airflow.sdk import conf
except ImportError:  # 3.1: still in core
    from airflow.configuration import conf  # type: ignore[no-redef,attr-defined,assignment,unused-ignore]

amask_secret: Callable[[Any], Awaitable[None]]
try:  # 3.3+: registers the secret with the supervisor without blocking the event loop
    from airflow.sdk.log import amask_secret
except ImportError:  # before 3.3 the masker is process-local: registering it is a cheap sync call

    async def amask_secret(secret: Any) -> None:  # type: ignore[misc,unused-ignore]
        mask_secret(secret)


try:  # 3.3+: the task SDK's copy, which workers and the triggerer's trigger runner initialise
    from airflow.sdk.observability.stats import Stats
except ImportError:
    try:  # 3.2
        from airflow.observability.stats import Stats  # type: ignore[no-redef,assignment,unused-ignore]
    except ImportError:  # 3.1
        from airflow.stats import Stats  # type: ignore[no-redef,attr-defined,unused-ignore]


def dag_bag_class() -> type[Any]:
    """Airflow's ``DagBag`` (imported on use: it loads much of Airflow)."""
    try:  # 3.2+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]
    return DagBag  # type: ignore[no-any-return,unused-ignore]


__all__ = [
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "Stats",
    "amask_secret",
    "conf",
    "dag_bag_class",
    "get_base_airflow_version_tuple",
    "mask_secret",
]
