"""The fault matrix: every vendor x every fault, through the async trigger and the sync poke path.

Each case asserts the outcome and the number of status requests the vendor saw, so a fault
that is retried too often, not at all, or past the point of sense shows up here. The poke path
runs for each vendor's sensor and, where the vendor has one, its start-import operator waiting
on the job it started (the same polling; the trigger is the same class for both).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk import PokeReturnValue

from airflow_import_status.polling import PollPolicy
from airflow_import_status.triggers.import_status import (
    EventStatus,
    ImportStatusEvent,
    ImportStatusTrigger,
)
from airflow_import_status.version_compat import AirflowException, AirflowFailException
from tests.registry import OPERATOR_VENDORS, VENDOR_CASES, VendorCase, operator_class, vendor_case

MAX_FAILURES = 3


@dataclass(frozen=True)
class FaultCase:
    fault: dict[str, Any] | None
    outcome: str
    """succeeded (after riding the fault out), error (final), error_retryable (gave up)."""
    status_requests: int
    connection: dict[str, Any] = field(default_factory=dict)
    job: dict[str, Any] = field(default_factory=dict)
    unknown_job: bool = False
    not_found_grace: float = 0.0
    min_seconds: float = 0.0


FAULTS: dict[str, FaultCase] = {
    "http_500": FaultCase({"kind": "status", "status": 500, "body": "Internal Server Error"}, "succeeded", 2),
    "http_502": FaultCase({"kind": "status", "status": 502, "body": "<html>Bad Gateway</html>"}, "succeeded", 2),
    "http_503": FaultCase({"kind": "status", "status": 503, "body": "Service Unavailable"}, "succeeded", 2),
    "http_429_retry_after": FaultCase(
        {"kind": "status", "status": 429, "headers": {"Retry-After": "1"}}, "succeeded", 2, min_seconds=1.0
    ),
    "connection_reset": FaultCase({"kind": "disconnect"}, "succeeded", 2),
    "read_timeout": FaultCase(
        {"kind": "delay", "seconds": 1.5}, "succeeded", 2, connection={"extra": {"timeout": 0.4}}
    ),
    "html_body": FaultCase(
        {"kind": "body", "body": "<html><body><h1>Maintenance</h1></body></html>", "content_type": "text/html"},
        "succeeded",
        2,
    ),
    "truncated_body": FaultCase({"kind": "truncate", "keep": 25}, "succeeded", 2),
    "persistent_503": FaultCase({"kind": "status", "status": 503, "times": 50}, "error_retryable", MAX_FAILURES),
    "auth_failure": FaultCase(None, "error", 1),
    "not_found": FaultCase(None, "error", 1, unknown_job=True),
    "not_found_then_found": FaultCase(None, "succeeded", 3, job={"hidden_polls": 2}, not_found_grace=30),
}

POLICY = PollPolicy(poll_interval=0.05, max_consecutive_failures=MAX_FAILURES, backoff_initial=0.02, backoff_max=2)


def _prepare(sim, monkeypatch, case: VendorCase, fault_name: str) -> tuple[FaultCase, dict[str, Any], str]:
    fault = FAULTS[fault_name]
    job = sim.create_job(case.vendor, params=case.job_params, polls=1, **fault.job)
    job_kwargs = case.unknown_job_kwargs(job) if fault.unknown_job else case.job_kwargs(job)
    overrides = dict(fault.connection)
    if fault_name == "auth_failure":
        overrides.update(case.bad_credentials)
    conn_id = f"fault_matrix_{case.vendor}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", case.connection(sim.base_url, **overrides))
    if fault.fault:
        sim.add_fault(case.vendor, **{"times": 1, **case.status_request, **fault.fault})
    return fault, job_kwargs, conn_id


def _status_requests(sim, case: VendorCase) -> int:
    return sum(1 for entry in sim.requests(case.vendor) if case.is_status_request(entry))


def _check(sim, case: VendorCase, fault: FaultCase, outcome: str, started: float) -> None:
    assert outcome == fault.outcome
    requests = _status_requests(sim, case)
    if fault.outcome == "error" and not fault.unknown_job:
        assert requests <= 1, "a credential failure was retried"
        assert len(sim.requests(case.vendor)) <= 3, "a credential failure was retried"
    elif fault.unknown_job:
        assert requests == case.not_found_requests
    else:
        assert requests == fault.status_requests
    assert time.monotonic() - started >= fault.min_seconds, "Retry-After was not honoured"


@pytest.mark.parametrize("fault_name", FAULTS)
@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_trigger(sim, monkeypatch, vendor, fault_name):
    case = vendor_case(vendor)
    fault, job_kwargs, conn_id = _prepare(sim, monkeypatch, case, fault_name)
    trigger = ImportStatusTrigger(
        vendor=case.vendor,
        conn_id=conn_id,
        job=job_kwargs,
        policy={**POLICY.to_dict(), "not_found_grace": fault.not_found_grace},
        deadline=time.time() + 60,
        waiting_since=time.time(),
    )

    async def first_event() -> ImportStatusEvent:
        async for event in trigger.run():
            return ImportStatusEvent.from_payload(event.payload)
        raise AssertionError("no event")

    started = time.monotonic()
    event = asyncio.run(first_event())
    outcome = {
        EventStatus.SUCCEEDED: "succeeded",
        EventStatus.ERROR: "error_retryable" if event.retryable else "error",
    }.get(event.status, event.status.value)
    _check(sim, case, fault, outcome, started)
    assert case.vendor in event.message


POKERS = [(vendor, "sensor") for vendor in VENDOR_CASES] + [(vendor, "operator") for vendor in OPERATOR_VENDORS]
"""The sensor of every vendor, and the start-import operator of every vendor that has one."""


def _poker(case: VendorCase, kind: str, job_kwargs: dict[str, Any], **kwargs: Any) -> Any:
    if kind == "sensor":
        return case.sensor_class(task_id="fault_matrix", **job_kwargs, **kwargs)
    operator = operator_class(case)(
        task_id="fault_matrix", **case.operator_kwargs([{"unused": "the job is started already"}]), **kwargs
    )
    operator.bind_job(job_kwargs)  # as after its start (or a retry finding the job in the ledger)
    return operator


@pytest.mark.parametrize("fault_name", FAULTS)
@pytest.mark.parametrize(("vendor", "kind"), POKERS)
def test_poke(sim, monkeypatch, mocker, vendor, kind, fault_name):
    case = vendor_case(vendor)
    fault, job_kwargs, conn_id = _prepare(sim, monkeypatch, case, fault_name)
    sensor = _poker(
        case,
        kind,
        job_kwargs,
        **{case.hook_class.conn_name_attr: conn_id},
        poke_interval=0.05,
        retry_backoff=0.02,
        retry_backoff_max=2,
        max_consecutive_failures=MAX_FAILURES,
        not_found_grace=fault.not_found_grace,
    )
    context = {"ti": mocker.MagicMock()}
    started = time.monotonic()
    try:
        for _ in range(20):
            if isinstance(returned := sensor.poke(context), PokeReturnValue):
                outcome = "succeeded" if returned.xcom_value["state"] == "succeeded" else "other"
                break
            time.sleep(0.05)
        else:
            outcome = "still waiting"
    except AirflowFailException as err:
        outcome, message = "error", str(err)
        assert case.vendor in message
    except AirflowException as err:
        outcome, message = "error_retryable", str(err)
        assert case.vendor in message
    _check(sim, case, fault, outcome, started)
