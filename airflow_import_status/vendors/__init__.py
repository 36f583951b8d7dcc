"""The vendor registry: one line per vendor, everything else is derived from its spec.

Each vendor is one folder, ``vendors/<key>/``: ``spec.py`` (the :class:`VendorSpec`: connection
schema, job, status table), ``codec.py`` (requests and pure parsers); its fake API is
``simulators/<key>.py``. The Airflow-facing classes stay where users import them (``hooks/<key>.py``,
``sensors/<key>.py``) as thin modules bound to the spec.
"""

from __future__ import annotations

import importlib
from typing import Any

from airflow_import_status.vendors.spec import VendorSpec

BUILTIN_VENDORS: tuple[str, ...] = ("which50", "mailup", "mypreferences", "isales", "luminate")
"""The vendors the package ships, by key (each ``vendors/<key>/spec.py`` defines ``SPEC``)."""

_REGISTERED: dict[str, VendorSpec[Any, Any]] = {}


def register(spec: VendorSpec[Any, Any]) -> VendorSpec[Any, Any]:
    """Add a vendor that is not shipped with the package (a plugin, or a test's toy vendor)."""
    if spec.key in BUILTIN_VENDORS or _REGISTERED.get(spec.key, spec) is not spec:
        raise ValueError(f"vendor {spec.key!r} is registered already")
    _REGISTERED[spec.key] = spec
    return spec


def builtin_specs() -> list[VendorSpec[Any, Any]]:
    """The shipped vendors' specs, in registry order (what the provider info lists)."""
    return [importlib.import_module(f"airflow_import_status.vendors.{key}.spec").SPEC for key in BUILTIN_VENDORS]


def all_specs() -> list[VendorSpec[Any, Any]]:
    """Every vendor: shipped, then registered."""
    return [*builtin_specs(), *_REGISTERED.values()]


def get_spec(key: str) -> VendorSpec[Any, Any]:
    """The spec of vendor ``key``; ``KeyError`` naming the known vendors otherwise."""
    if key in _REGISTERED:
        return _REGISTERED[key]
    if key in BUILTIN_VENDORS:
        return importlib.import_module(f"airflow_import_status.vendors.{key}.spec").SPEC  # type: ignore[no-any-return]
    raise KeyError(f"unknown vendor {key!r}; known: {', '.join(s.key for s in all_specs())}")
