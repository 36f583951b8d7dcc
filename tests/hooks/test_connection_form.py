"""The connection form Airflow's UI shows for each vendor, on the running Airflow release.

3.2+ builds it from the provider info's ``conn-fields``; 3.1 from the hook methods that
``hooks/connection_form.py`` attaches. Either way the UI must show every field of the vendor's
schema with its label, type, choices, default and secrecy, and the standard fields relabelled
or hidden. CI runs this on the oldest supported release and on the newest.
"""

from __future__ import annotations

import pytest

from airflow_import_status.get_provider_info import get_provider_info
from airflow_import_status.vendors import builtin_specs
from airflow_import_status.version_compat import AIRFLOW_V_3_2_PLUS

CONNECTION_TYPES = {entry["connection-type"]: entry for entry in get_provider_info()["connection-types"]}


@pytest.fixture(scope="module")
def hook_meta():
    """What the API server's ``/ui/connections/hook_meta`` serves (Airflow's own code, in process)."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    return {meta.connection_type: meta.model_dump() for meta in HookMetaService.hook_meta_data()}


@pytest.mark.parametrize("spec", builtin_specs(), ids=lambda spec: spec.key)
def test_the_ui_shows_every_field_of_the_vendor_schema(hook_meta, spec):
    meta = hook_meta[spec.conn_type]
    shown = meta["extra_fields"] or {}
    assert set(shown) == {field.name for field in spec.connection.all_extras}
    for field in spec.connection.all_extras:
        schema = shown[field.name]["schema"]
        json_type = field.form_entry()["schema"]["type"]
        if not AIRFLOW_V_3_2_PLUS:
            # 3.1 makes every hook-declared field optional (the parser still requires what the
            # vendor needs) and a float a string (its form has no float field)
            base = json_type if isinstance(json_type, str) else json_type[0]
            json_type = ["string" if field.kind is float else base, "null"]
        assert schema.get("title") == field.label, field.name
        assert schema.get("type") == json_type, field.name
        assert (schema.get("format") == "password") is field.secret, field.name
        if field.choices:
            assert set(field.choices) <= set(schema.get("enum") or ()), field.name
        if field.default is not None:
            assert type(field.default)(shown[field.name]["value"]) == field.default, field.name


@pytest.mark.parametrize("spec", builtin_specs(), ids=lambda spec: spec.key)
def test_the_ui_relabels_and_hides_the_standard_fields(hook_meta, spec):
    standard = hook_meta[spec.conn_type]["standard_fields"]
    used = {field.name: field for field in spec.connection.standard}
    for name, key in (
        ("host", "host"),
        ("port", "port"),
        ("login", "login"),
        ("password", "password"),
        ("schema", "url_schema"),
    ):
        behaviour = standard[key]
        if name in used:
            assert behaviour["title"] == used[name].label and not behaviour["hidden"], name
            assert behaviour["placeholder"] == used[name].placeholder, name
        else:
            assert behaviour["hidden"], name


@pytest.mark.parametrize("spec", builtin_specs(), ids=lambda spec: spec.key)
def test_hooks_declare_the_form_only_where_airflow_reads_it_from_them(spec):
    """3.1 looks the methods up in each hook class's own ``__dict__``; 3.2+ warns about them."""
    declared = {"get_connection_form_widgets", "get_ui_field_behaviour"} & set(vars(spec.hook_class))
    assert declared == (set() if AIRFLOW_V_3_2_PLUS else {"get_connection_form_widgets", "get_ui_field_behaviour"})
    assert set(CONNECTION_TYPES[spec.conn_type]["conn-fields"]) == {f.name for f in spec.connection.all_extras}
