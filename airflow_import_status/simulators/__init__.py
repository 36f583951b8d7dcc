"""Vendor simulators: real HTTP servers imitating each vendor's import-status API.

One module per vendor (``simulators/<key>.py``, named by its spec's ``VendorClasses``), what
they share (``core``) and the server (``server``). Shipped so users can test their own DAGs
against them; the runtime code (hooks, triggers, sensors, operators, plugins) never imports them.
"""

from __future__ import annotations

import json

from airflow_import_status.simulators.core import VendorSimulator


def simulator_classes(shipped_only: bool = False) -> list[type[VendorSimulator]]:
    """Every registered vendor's simulator class (``shipped_only``: the package's own vendors)."""
    from airflow_import_status.vendors import all_specs, builtin_specs

    return [spec.simulator_class for spec in (builtin_specs() if shipped_only else all_specs())]


def connection_env(base_url: str, shipped_only: bool = False) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables pointing every vendor's default connection at the simulators."""
    return {
        f"AIRFLOW_CONN_{cls.conn_id.upper()}": json.dumps(cls.connection(base_url))
        for cls in simulator_classes(shipped_only)
    }
