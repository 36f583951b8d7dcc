"""The provider registers with Airflow: valid provider info, one connection type per vendor, sane UI fields."""

from __future__ import annotations

import json
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_import_status.get_provider_info import get_provider_info
from airflow_import_status.triggers.import_status import load_hook_class
from tests.registry import VENDOR_CASES

INFO = get_provider_info()
CONNECTION_TYPES = {entry["connection-type"]: entry for entry in INFO["connection-types"]}


def test_provider_info_matches_airflow_schema():
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(INFO, schema)


def test_one_connection_type_per_vendor():
    assert set(CONNECTION_TYPES) == {"which50", "mailup", "mypreferences", "isales", "luminate"}


@pytest.mark.parametrize("conn_type", sorted(CONNECTION_TYPES))
def test_connection_type_points_at_its_hook(conn_type):
    entry = CONNECTION_TYPES[conn_type]
    hook = load_hook_class(entry["hook-class-name"])
    assert (hook.conn_type, hook.hook_name) == (conn_type, entry["hook-name"])
    assert hook.default_conn_name == f"{conn_type}_default"


@pytest.mark.parametrize("conn_type", sorted(CONNECTION_TYPES))
def test_only_secret_fields_are_hidden_by_airflow(conn_type):
    """Airflow masks extras whose *name* looks secret; a plain setting so named would be saved as '***'."""
    from tests.version_compat import _secrets_masker

    masker = _secrets_masker()
    for name, field in CONNECTION_TYPES[conn_type]["conn-fields"].items():
        is_secret = field["schema"].get("format") == "password"
        assert masker.should_hide_value_for_key(name) == is_secret, f"{conn_type}.{name}"


def test_declared_modules_import():
    import importlib

    for group in ("hooks", "operators", "sensors", "triggers"):
        for entry in INFO[group]:
            for module in entry["python-modules"]:
                importlib.import_module(module)


@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_settings_read_every_field_the_form_declares(simulator_server, vendor):
    """The form and the parser come from one schema: a declared field nobody reads is a dead form field."""
    from airflow.sdk import Connection

    from airflow_import_status.vendors import get_spec

    spec = get_spec(vendor)
    conn = spec.simulator_class.connection(simulator_server.url)
    extra = conn.get("extra") or {}
    conn = {**conn, "extra": json.dumps(extra) if isinstance(extra, dict) else extra}
    values = spec.connection.parse(Connection(conn_id=f"{vendor}_fields", **conn), spec.conn_type)
    spec.codec.settings(values)
    declared = {f.name for f in spec.connection.standard} | {f.name for f in spec.connection.all_extras}
    assert declared <= values.read, f"declared but never read: {sorted(declared - values.read)}"


def test_generated_docs_match_the_registry():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dev"))
    import docgen

    assert docgen.stale_files() == [], "run: python dev/docgen.py"


def test_one_version_everywhere():
    """pyproject reads the version from the package; the provider info and the changelog agree with it."""
    from importlib.metadata import version

    from airflow_import_status import __version__

    assert INFO["versions"] == [__version__]
    assert version("airflow-import-status") == __version__
    changelog = (Path(__file__).parents[1] / "CHANGELOG.md").read_text()
    assert f"## {__version__}" in changelog


def test_the_imports_plugin_is_a_provider_plugin_and_loads_once_with_lazy_discovery_off(monkeypatch):
    """Listed in the provider info (no ``airflow.plugins`` entry point: see get_provider_info.py)."""
    from importlib.metadata import entry_points

    from airflow import plugins_manager, settings

    assert not [ep for ep in entry_points(group="airflow.plugins") if ep.value.startswith("airflow_import_status")]
    assert INFO["plugins"] == [
        {"name": "import_status", "plugin-class": "airflow_import_status.plugins.import_status.ImportStatusPlugin"}
    ]
    if not hasattr(plugins_manager, "_get_plugins"):
        # 3.1 keeps loaded plugins in module globals that earlier tests fill; its loading is covered by
        # the Imports UI deployment test on the newest release
        return
    monkeypatch.setattr(settings, "LAZY_LOAD_PROVIDERS", False)
    plugins_manager._get_plugins.cache_clear()
    try:
        plugins, errors = plugins_manager._get_plugins()
    finally:
        plugins_manager._get_plugins.cache_clear()
    assert [p.name for p in plugins].count("import_status") == 1
    assert not [name for name in errors if "import_status" in name], errors


def test_static_provider_info_is_what_the_registry_generates():
    """``get_provider_info.py`` is a generated dict literal: equal to what the specs produce, importing no registry."""
    import ast
    import sys

    from airflow_import_status import get_provider_info as module
    from airflow_import_status.vendors import builtin_specs

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dev"))
    import docgen

    assert get_provider_info() == docgen.provider_info(builtin_specs())
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"__future__", "typing", "airflow_import_status"}, "only the version, never the registry"
