"""Every vendor class declares its job fields and connection id in its own ``__init__``.

Airflow's dynamic task mapping (``partial``/``expand``/``expand_kwargs``) accepts only
parameters declared in an ``__init__`` signature along the class's MRO; a job field taken
from ``**kwargs`` is refused. These tests hold each vendor's sensor and operator to its spec,
so a spec change cannot silently break mapping.
"""

from __future__ import annotations

import inspect

import pytest
from airflow.sdk import DAG

from tests.registry import OPERATOR_VENDORS, VENDOR_CASES, operator_class, vendor_case


def _declared(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters the class's own ``__init__`` declares (Airflow's ``apply_defaults`` wraps it)."""
    init = inspect.unwrap(cls.__dict__["__init__"])
    return {
        name: param for name, param in inspect.signature(init).parameters.items() if param.kind is param.KEYWORD_ONLY
    }


def _spec_defaults(case_class: type, *, without_id: bool = False) -> dict[str, object]:
    """The spec's job fields (``inspect.Parameter.empty`` for a required one) and its connection id parameter."""
    spec = case_class.spec
    job_type = spec.job_type
    fields = {
        f.name: None if f.metadata["optional"] else inspect.Parameter.empty
        for f in job_type.job_fields()
        if not (without_id and f.name == job_type.id_field())
    }
    return {**fields, spec.conn_id_param: spec.default_conn_id}


@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_each_sensor_declares_exactly_its_specs_job_fields_and_conn_id(vendor):
    sensor_class = vendor_case(vendor).sensor_class
    declared = _declared(sensor_class)
    assert {name: param.default for name, param in declared.items()} == _spec_defaults(sensor_class)
    assert set(declared) <= set(sensor_class.template_fields) | {sensor_class.spec.conn_id_param}


@pytest.mark.parametrize("vendor", OPERATOR_VENDORS)
def test_each_operator_declares_its_specs_job_fields_but_the_id_and_its_conn_id(vendor):
    op_class = operator_class(vendor_case(vendor))
    spec_params = _spec_defaults(op_class, without_id=True)
    declared = {name: param.default for name, param in _declared(op_class).items() if name in spec_params}
    assert declared == spec_params
    assert op_class.spec.job_type.id_field() not in _declared(op_class), "the operator starts the job: no job id"


@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_airflow_maps_each_sensor_over_its_job_id(vendor):
    """What broke: ``partial(<what the job belongs to>).expand(<job id>=[...])`` was refused."""
    case = vendor_case(vendor)
    kwargs = case.job_kwargs({"job_id": "7"})
    fixed = {name: value for name, value in kwargs.items() if name != case.id_field}
    with DAG(f"mapped_{vendor}", schedule=None):
        mapped = case.sensor_class.partial(
            task_id="wait", **fixed, **{case.sensor_class.spec.conn_id_param: "x"}
        ).expand(**{case.id_field: [kwargs[case.id_field], "8"]})
        case.sensor_class.partial(task_id="wait_kwargs").expand_kwargs([kwargs, kwargs])
    assert mapped.partial_kwargs[case.sensor_class.spec.conn_id_param] == "x"


@pytest.mark.parametrize("vendor", OPERATOR_VENDORS)
def test_airflow_maps_each_operator_over_its_sources(vendor):
    case = vendor_case(vendor)
    op_class = operator_class(case)
    kwargs = case.operator_kwargs([{"a": 1}])
    source = kwargs.pop("source")
    with DAG(f"mapped_op_{vendor}", schedule=None):
        op_class.partial(task_id="upload", **kwargs).expand(source=[source, source])
        op_class.partial(task_id="upload_kwargs").expand_kwargs([{**kwargs, "source": source}])
