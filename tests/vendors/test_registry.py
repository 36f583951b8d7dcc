"""The vendor registry: each shipped vendor's classes are where its spec says, and bound to it."""

from __future__ import annotations

import pytest

from airflow_import_status.vendors import BUILTIN_VENDORS, all_specs, builtin_specs, get_spec, register
from tests.registry import VENDOR_CASES


@pytest.mark.parametrize("spec", builtin_specs(), ids=lambda spec: spec.key)
def test_a_vendor_is_its_folder_and_two_thin_classes(spec):
    assert spec.hook_class.spec is spec and spec.sensor_class.spec is spec
    assert spec.simulator_class.name == spec.key
    assert type(spec.codec).__module__ == f"airflow_import_status.vendors.{spec.key}.codec"
    assert spec.hook_class.conn_type == spec.key and spec.hook_class.default_conn_name == f"{spec.key}_default"
    assert spec.job_type.id_field() in spec.sensor_class.template_fields
    for method in ("settings", "transport", "status_flow", "check_flow", "decode_status", "console_url"):
        assert callable(getattr(spec.codec, method)), method


def test_the_toy_vendor_joined_every_suite_through_the_registry_alone():
    assert "toy" not in BUILTIN_VENDORS and get_spec("toy").key == "toy"
    assert "toy" in [spec.key for spec in all_specs()] and "toy" in VENDOR_CASES
    assert set(BUILTIN_VENDORS) < set(VENDOR_CASES)


def test_a_vendor_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="registered already"):
        register(get_spec("which50"))
    with pytest.raises(KeyError, match="unknown vendor 'nope'"):
        get_spec("nope")
