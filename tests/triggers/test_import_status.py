"""ImportStatusTrigger: serialization, and run() against the simulator (real async HTTP)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_import_status.hooks.which50 import Which50Hook
from airflow_import_status.polling import PollPolicy
from airflow_import_status.triggers.import_status import (
    EventStatus,
    ImportStatusEvent,
    ImportStatusTrigger,
    load_hook_class,
)
from tests.registry import VENDOR_CASES, vendor_case

FAST = PollPolicy(poll_interval=0.05, backoff_initial=0.01, backoff_max=0.05, not_found_grace=0).to_dict()


def _trigger(
    job_id: str, *, deadline: float | None = None, policy: dict | None = None, **kwargs
) -> ImportStatusTrigger:
    return ImportStatusTrigger(
        vendor="which50",
        conn_id="which50_default",
        job={"contact_list_id": 2, "import_job_id": job_id},
        policy=policy or FAST,
        deadline=deadline,
        waiting_since=kwargs.get("waiting_since", time.time()),
    )


def _run(trigger: ImportStatusTrigger) -> ImportStatusEvent:
    async def first_event():
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger yielded nothing")

    return ImportStatusEvent.from_payload(asyncio.run(first_event()))


def test_serialize_round_trip_builds_an_equal_trigger():
    trigger = _trigger("17", deadline=1_900_000_000.5, waiting_since=1_800_000_000.25)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_import_status.triggers.import_status.ImportStatusTrigger"
    rebuilt = ImportStatusTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["deadline"] == 1_900_000_000.5 and kwargs["waiting_since"] == 1_800_000_000.25
    assert set(kwargs) == {"vendor", "conn_id", "job", "policy", "deadline", "waiting_since"}


def test_trigger_kwargs_go_through_airflow_serde():
    from tests.version_compat import deserialize, serialize

    _, kwargs = _trigger("17", deadline=123.0).serialize()
    assert deserialize(serialize(kwargs)) == kwargs


def test_load_hook_class_refuses_other_classes():
    assert load_hook_class("airflow_import_status.hooks.which50.Which50Hook") is Which50Hook
    with pytest.raises(TypeError, match="not an import-status hook"):
        load_hook_class("os.path.join")


def test_triggers_stored_before_the_vendor_key_still_run(sim):
    """Kwargs of 0.1 named the hook class; they keep working for one release."""
    job = sim.create_job("which50", params={"contact_list_id": 2}, polls=1)
    _, kwargs = _trigger(job["job_id"]).serialize()
    legacy = {
        **{k: v for k, v in kwargs.items() if k != "vendor"},
        "hook_class": "airflow_import_status.hooks.which50.Which50Hook",
    }
    assert _run(ImportStatusTrigger(**legacy)).status is EventStatus.SUCCEEDED


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_every_vendor_trigger_round_trips_through_airflow_and_runs(sim, vendor):
    """Stored the way Airflow stores it (serde + encryption in the trigger table), loaded by classpath, run."""
    from airflow.models.trigger import Trigger

    from tests.version_compat import import_string

    case = vendor_case(vendor)
    job = sim.create_job(vendor, params=case.job_params, polls=2, counters={"total": 4})
    trigger = ImportStatusTrigger(
        vendor=vendor,
        conn_id=case.sensor_class.spec.default_conn_id,
        job=case.job_kwargs(job),
        policy=FAST,
        deadline=time.time() + 60,
        waiting_since=time.time(),
    )
    stored = Trigger.from_object(trigger)
    loaded = import_string(stored.classpath)(**stored.kwargs)
    assert loaded.serialize() == trigger.serialize()
    event = _run(loaded)
    assert event.status is EventStatus.SUCCEEDED, event.message
    assert event.result.vendor == vendor and event.result.job_id == str(job["job_id"])


def test_a_bug_in_a_flow_ends_the_trigger_at_once_without_retries(sim, mocker):
    job = sim.create_job("which50", params={"contact_list_id": 2}, polls=1)
    mocker.patch("airflow_import_status.vendors.which50.codec.Which50Codec.status_request", side_effect=KeyError("Id"))
    event = _run(_trigger(job["job_id"]))
    assert event.status is EventStatus.ERROR and not event.retryable
    assert "bug in airflow-import-status, not a vendor fault: KeyError" in event.message
    assert sim.requests("which50") == [], "nothing was sent, and nothing retried"


def test_a_malformed_vendor_body_is_still_retried(sim):
    job = sim.create_job("which50", params={"contact_list_id": 2}, polls=1)
    sim.add_fault("which50", "body", body="<html>maintenance</html>", content_type="text/html")
    event = _run(_trigger(job["job_id"]))
    assert event.status is EventStatus.SUCCEEDED
    assert len(sim.requests("which50")) == 2


def test_run_yields_success_with_the_normalized_result(sim):
    job = sim.create_job("which50", params={"contact_list_id": 2}, counters={"total": 5, "inserted": 5}, polls=4)
    event = _run(_trigger(job["job_id"]))
    assert event.status is EventStatus.SUCCEEDED
    assert event.result.state.value == "succeeded" and event.result.imported == 5
    assert len(sim.requests("which50")) == 4


def test_run_yields_failure(sim):
    job = sim.create_job("which50", params={"contact_list_id": 2}, polls=2, fail=True)
    event = _run(_trigger(job["job_id"]))
    assert event.status is EventStatus.FAILED
    assert event.result.vendor_status == "Failed"


def test_run_times_out_at_the_deadline_after_one_last_poll(sim):
    job = sim.create_job("which50", params={"contact_list_id": 2}, script=[{"state": "running", "progress": 5}])
    policy = {**FAST, "poll_interval": 10.0}
    started = time.monotonic()
    event = _run(_trigger(job["job_id"], deadline=time.time() + 0.5, policy=policy))
    assert event.status is EventStatus.TIMEOUT
    assert event.result.state.value == "running"
    assert time.monotonic() - started < 5, "the trigger slept past its deadline"
    assert len(sim.requests("which50")) == 2, "one poll at start, one last poll at the deadline"


def test_deadline_survives_a_recreated_trigger(sim):
    job = sim.create_job("which50", params={"contact_list_id": 2}, script=[{"state": "running", "progress": 5}])
    original = _trigger(job["job_id"], deadline=time.time() - 1)
    recreated = ImportStatusTrigger(**original.serialize()[1])
    event = _run(recreated)
    assert event.status is EventStatus.TIMEOUT
    assert len(sim.requests("which50")) == 1


def test_transient_faults_are_retried_then_succeed(sim):
    job = sim.create_job("which50", params={"contact_list_id": 2}, polls=1)
    sim.add_fault("which50", "status", status=503, times=2)
    event = _run(_trigger(job["job_id"]))
    assert event.status is EventStatus.SUCCEEDED
    assert [r["fault"] for r in sim.requests("which50")] == ["status", "status", None]


def test_too_many_transient_faults_end_with_a_retryable_error(sim):
    job = sim.create_job("which50", params={"contact_list_id": 2}, polls=1)
    sim.add_fault("which50", "status", status=502, times=10)
    event = _run(_trigger(job["job_id"], policy={**FAST, "max_consecutive_failures": 3}))
    assert event.status is EventStatus.ERROR and event.retryable
    assert "gave up after 3 consecutive transient failures" in event.message
    assert "which50 import job" in event.message and "HTTP 502" in event.message
    assert len(sim.requests("which50")) == 3


def test_auth_failure_is_final_at_once(sim, monkeypatch):
    job = sim.create_job("which50", params={"contact_list_id": 2})
    monkeypatch.setenv(
        "AIRFLOW_CONN_WHICH50_DEFAULT",
        json.dumps({"conn_type": "which50", "host": Which50Hook().get_settings().base_url, "password": "bad"}),
    )
    event = _run(_trigger(job["job_id"]))
    assert event.status is EventStatus.ERROR and not event.retryable
    assert "refused the credentials" in event.message
    assert len(sim.requests("which50")) == 1


def test_not_found_within_grace_keeps_waiting(sim):
    job = sim.create_job("which50", params={"contact_list_id": 2}, polls=1, hidden_polls=2)
    event = _run(_trigger(job["job_id"], policy={**FAST, "not_found_grace": 30}))
    assert event.status is EventStatus.SUCCEEDED
    assert len(sim.requests("which50")) == 3


def test_not_found_after_grace_is_final(sim):
    event = _run(_trigger("424242", policy={**FAST, "not_found_grace": 0}))
    assert event.status is EventStatus.ERROR and not event.retryable
    assert "not found" in event.message


@pytest.mark.parametrize(
    "payload",
    [None, {"status": "weird", "message": "x"}, {"message": "x"}, {"status": "succeeded", "message": "x"}],
)
def test_malformed_events_are_refused(payload):
    with pytest.raises(ValueError):
        ImportStatusEvent.from_payload(payload)


class _RecordingLog:
    """Stands in for the trigger's logger: (level, message) of each line."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def log(self, level: int, message: str, *args: object, **kwargs: object) -> None:
        self.lines.append((level, message % args))

    def __getattr__(self, name: str):
        import logging

        level = logging.getLevelName(name.upper())
        return lambda message, *args, **kwargs: self.log(level, message, *args)

    def levels(self, text: str) -> list[int]:
        return [level for level, message in self.lines if text in message]


def test_an_unchanged_progress_line_goes_to_info_once_per_interval(sim, monkeypatch):
    """A per-poll INFO line costs the real triggerer ~10 ms of CPU a poll: repeats go to DEBUG."""
    import logging

    from airflow_import_status.triggers import import_status

    INFO, DEBUG = logging.INFO, logging.DEBUG
    recorder = _RecordingLog()
    monkeypatch.setattr(ImportStatusTrigger, "log", property(lambda self: recorder))
    running = {"state": "running", "progress": 5}
    script = [running, running, running, {"state": "running", "progress": 40}, running, running, running]
    job = sim.create_job("which50", params={"contact_list_id": 2}, script=[*script, {"state": "succeeded"}])
    _run(_trigger(job["job_id"]))
    assert recorder.levels("state=running") == [INFO, DEBUG, DEBUG, INFO, INFO, DEBUG, DEBUG], recorder.lines
    assert recorder.levels("progress=40%") == [INFO]
    assert recorder.levels("state=succeeded") == [INFO]

    # past the interval, an unchanged line is logged at INFO again
    monkeypatch.setattr(import_status, "UNCHANGED_PROGRESS_LOG_SECONDS", 0.0)
    recorder.lines.clear()
    job = sim.create_job("which50", params={"contact_list_id": 2}, script=[running, running, {"state": "succeeded"}])
    _run(_trigger(job["job_id"]))
    assert recorder.levels("state=running") == [INFO, INFO], recorder.lines
