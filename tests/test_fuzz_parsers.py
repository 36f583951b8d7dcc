"""Property-based fuzzing of every vendor's pure parser (hypothesis).

Whatever the bytes, a parser returns a valid normalized result or raises one of the
project's typed errors; counters are never negative (the result refuses them); and
``succeeded`` only comes from a status the vendor uses for success, about the job asked for.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_import_status.errors import ImportStatusError
from airflow_import_status.result import ImportResult, ImportState
from tests.registry import VENDOR_CASES, VendorCase, vendor_case

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "Completed", "SUCCESS", "3", "2", "Failed", "12/13/2024 25.61.99"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _check(case: VendorCase, payload: bytes) -> None:
    try:
        result = case.parse(payload)
    except ImportStatusError:
        return
    assert isinstance(result, ImportResult)
    assert result.vendor == case.vendor
    if result.state is ImportState.SUCCEEDED:
        assert case.vendor_said_success(result), f"succeeded from status {result.vendor_status!r}"
        if case.expected_job_id is not None:
            assert result.job_id == case.expected_job_id, f"a success about job {result.job_id!r}, not the one asked"


def _mutated_json(sample: Any, draw: st.DrawFn) -> Any:
    """Replace, drop or add values anywhere in a JSON document."""
    if isinstance(sample, dict):
        out = {}
        for key, value in sample.items():
            action = draw(st.sampled_from(["keep", "keep", "mutate", "replace", "drop"]))
            if action == "keep":
                out[key] = value
            elif action == "mutate":
                out[key] = _mutated_json(value, draw)
            elif action == "replace":
                out[key] = draw(json_values)
        return out
    if isinstance(sample, list):
        return [_mutated_json(item, draw) for item in sample] + draw(st.lists(json_values, max_size=1))
    return draw(st.one_of(st.just(sample), json_values))


@pytest.mark.parametrize("vendor", VENDOR_CASES)
@FUZZ
@given(payload=st.binary(max_size=400))
def test_arbitrary_bytes(vendor, payload):
    _check(vendor_case(vendor), payload)


@pytest.mark.parametrize("vendor", VENDOR_CASES)
@FUZZ
@given(data=st.data())
def test_byte_mutations_of_a_valid_payload(vendor, data):
    case = vendor_case(vendor)
    sample = bytearray(case.sample)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        position = data.draw(st.integers(min_value=0, max_value=max(0, len(sample) - 1)))
        if op == "flip" and sample:
            sample[position] = data.draw(st.integers(min_value=0, max_value=255))
        elif op == "cut":
            del sample[position : position + data.draw(st.integers(min_value=1, max_value=40))]
        else:
            sample[position:position] = data.draw(st.binary(min_size=1, max_size=12))
    _check(case, bytes(sample))


@pytest.mark.parametrize("vendor", [v for v in VENDOR_CASES if vendor_case(v).sample_is_json])
@FUZZ
@given(data=st.data())
def test_structural_mutations_of_a_json_payload(vendor, data):
    case = vendor_case(vendor)
    document = _mutated_json(json.loads(case.sample), data.draw)
    _check(case, json.dumps(document).encode())
