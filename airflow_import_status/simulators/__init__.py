"""Vendor simulators: real HTTP servers imitating each vendor's import-status API."""

from __future__ import annotations

import importlib
import json

from airflow_import_status.simulators.core import VendorSimulator

SIMULATOR_MODULES: tuple[str, ...] = ("isales", "luminate", "mailup")
"""Vendors whose simulator is not yet in their ``vendors/<key>/`` folder."""


def simulator_classes() -> list[type[VendorSimulator]]:
    """Every registered vendor's simulator class."""
    from airflow_import_status.vendors import all_specs

    classes: list[type[VendorSimulator]] = [spec.simulator_class for spec in all_specs()]
    for name in SIMULATOR_MODULES:
        module = importlib.import_module(f"airflow_import_status.simulators.{name}")
        classes += [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, VendorSimulator)
            and obj is not VendorSimulator
            and obj.__module__ == module.__name__
        ]
    return classes


def connection_env(base_url: str) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables pointing every vendor's default connection at the simulators."""
    return {f"AIRFLOW_CONN_{cls.conn_id.upper()}": json.dumps(cls.connection(base_url)) for cls in simulator_classes()}
