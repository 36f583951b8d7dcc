"""Vendor simulators: real HTTP servers imitating each vendor's import-status API.

Each vendor's simulator lives in its folder (``vendors/<key>/simulator.py``); the registry
lists them. This package holds what they share (``core``) and the server (``server``).
"""

from __future__ import annotations

import json

from airflow_import_status.simulators.core import VendorSimulator


def simulator_classes() -> list[type[VendorSimulator]]:
    """Every registered vendor's simulator class."""
    from airflow_import_status.vendors import all_specs

    return [spec.simulator_class for spec in all_specs()]


def connection_env(base_url: str) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables pointing every vendor's default connection at the simulators."""
    return {f"AIRFLOW_CONN_{cls.conn_id.upper()}": json.dumps(cls.connection(base_url)) for cls in simulator_classes()}
