"""The vendor registry: each shipped vendor's classes are where its spec says, and bound to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_import_status.get_provider_info import get_provider_info
from airflow_import_status.operators.base import ImportStartOperator
from airflow_import_status.vendors import BUILTIN_VENDORS, all_specs, builtin_specs, get_spec, register
from tests.registry import OPERATOR_VENDORS, VENDOR_CASES, operator_class, vendor_case

OPERATORS_PACKAGE = Path(__file__).resolve().parents[2] / "airflow_import_status" / "operators"
SHARED_OPERATOR_MODULES = {"__init__", "base", "ledger", "upload"}


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


@pytest.mark.parametrize("vendor", OPERATOR_VENDORS)
def test_an_operator_is_named_by_its_spec_and_bound_to_it(vendor):
    spec = get_spec(vendor)
    operator = operator_class(vendor_case(vendor))
    assert issubclass(operator, ImportStartOperator) and operator.spec is spec
    assert f"{operator.__module__}.{operator.__name__}" == spec.operator_class_name
    assert spec.operator_class is operator
    listed = {m for entry in get_provider_info()["operators"] for m in entry["python-modules"]}
    assert operator.__module__ in listed, "the provider info does not list the operator"


def test_every_operator_module_belongs_to_a_vendor_and_every_vendor_without_one_has_none():
    """An ``operators/<key>.py`` its spec does not name would be silently ignored: it must not exist."""
    modules = {path.stem for path in OPERATORS_PACKAGE.glob("*.py")} - SHARED_OPERATOR_MODULES
    assert modules == {spec.key for spec in builtin_specs() if spec.operator_class_name}
    assert set(OPERATOR_VENDORS) <= set(BUILTIN_VENDORS), "the toy vendor has no operator"
    assert get_spec("isales").operator_class is None and get_spec("luminate").operator_class is None
    assert "operators" in get_provider_info() and all(
        entry["integration-name"] in {s.display_name for s in builtin_specs()}
        for entry in get_provider_info()["operators"]
    )
