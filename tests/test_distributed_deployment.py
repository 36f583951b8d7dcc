"""The provider in Airflow's distributed shape: PostgreSQL, CeleryExecutor, two triggerers.

One scenario, each step checked as it happens (``tests/distributed.py`` starts the deployment
from Debian's ``postgresql`` and ``redis-server`` and the celery provider; ``.ci/run`` installs
the Debian packages):

1. the first triggerer alone, its ``capacity`` set to :data:`FIRST_CAPACITY`: that many
   sensors (every vendor, among them each vendor's deadline sensor) defer and it holds them all;
2. the second triggerer starts; the other sensors and every vendor's start-import operator
   defer and go to it (the first is full): both triggerers hold triggers;
3. ``kill -9`` the first triggerer mid-wait: the survivor holds every trigger within
   ``triggerer_health_check_threshold`` plus :data:`TAKEOVER_MARGIN`;
4. the deadline sensors time out at their original deadlines, not one restarted by the survivor;
5. the Celery worker stops while the sensors are deferred; their imports finish and the
   triggers fire with no worker to resume them; the worker starts again;
6. every import finished on try 1 with the counters the vendor reports (a fresh poll of the
   same job through the hook), exactly one trigger event per task instance.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from airflow_import_status.result import COUNTER_FIELDS
from airflow_import_status.simulators import connection_env
from airflow_import_status.vendors import builtin_specs, get_spec
from tests.deployment import DEPLOYMENT_DAGS, AirflowApi, home_kept_on_failure, wait_until
from tests.deployment_dags.distributed_vendors import DEADLINE_SECONDS, start_operator_class
from tests.distributed import SECOND_TRIGGERER, WORKER, DistributedDeployment, missing_packages

pytestmark = pytest.mark.slow

SENSORS_PER_VENDOR = 8
"""40 deferred sensors over the five shipped vendors (one of each vendor's is a deadline sensor)."""
FIRST_WAVE_PER_VENDOR = 5
FIRST_CAPACITY = 5 * FIRST_WAVE_PER_VENDOR
HEALTH_CHECK_THRESHOLD = 6
"""``[triggerer] triggerer_health_check_threshold`` (seconds; the default is 30)."""
TAKEOVER_MARGIN = 20
"""The survivor's next trigger load and a loaded 2-core CI machine, on top of the threshold."""
DEADLINE_MARGIN = 10
"""How long after its deadline a deadline sensor's trigger may fire (its last poll at the deadline)."""
DEFERRAL_REPORT_LAG = 5
"""How long before its trigger's creation a sensor may have set its deadline (the worker reports the deferral)."""
TASK = "wait_for_import"
RUNNING = [{"state": "running", "progress": 10}]
"""A job script that never finishes by itself; the test finishes it by scripting it again."""
FIRED = "Trigger fired event"
"""What Airflow logs for each event a trigger yields (in the task's log)."""


@dataclass
class Run:
    vendor: str
    dag_id: str
    task_id: str
    conf: dict[str, Any]
    run_id: str = ""
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dag_id, self.run_id, self.task_id)


def _timestamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _sensor_run(deployment: DistributedDeployment, vendor: str, kind: str, number: int) -> Run:
    """Script a running job at the vendor's simulator and trigger a sensor run that waits for it."""
    spec = get_spec(vendor)
    job_id = str(8000 + 100 * number + [s.key for s in builtin_specs()].index(vendor))
    params = dict(spec.simulator_class.job_params)
    deployment.sim.create_job(vendor, job_id=job_id, params=params, script=RUNNING)
    job = spec.job({**params, spec.job_type.id_field(): job_id}).to_params()
    # an optional field left out, not rendered as the text "None"
    run = Run(vendor, f"distributed_{vendor}_{kind}", TASK, {k: v for k, v in job.items() if v is not None})
    run.run_id = deployment.api.trigger(run.dag_id, conf=run.conf)
    return run


def _finish(deployment: DistributedDeployment, run: Run, number: int) -> None:
    """Script the job again, finished, with counters no other job has."""
    spec = get_spec(run.vendor)
    # one consistent set in every simulator's vocabulary (each reads its vendor's own names)
    inserted, updated = 10 * (number + 1), number % 2
    imported = inserted + updated
    run.counters = dict(
        inserted=inserted,
        new_email=inserted,
        updated=updated,
        imported=imported,
        valid=imported,
        duplicates=0,
        invalid_email=1,
        invalid=1,
        failed=1,
        processed=imported + 1,
        total=imported + 1,
    )
    final = {"state": "succeeded", "progress": 100, "counters": run.counters}
    deployment.sim.create_job(
        run.vendor,
        job_id=run.conf[spec.job_type.id_field()],
        params=dict(spec.simulator_class.job_params),
        script=[final],
    )


def _report(api: AirflowApi, run: Run) -> str:
    ti = api.task_instance(run.dag_id, run.run_id, run.task_id)
    log = api.task_log(run.dag_id, run.run_id, run.task_id, max(ti["try_number"], 1))
    return f"{run.dag_id}/{run.run_id}: {ti['state']} try {ti['try_number']}\n{log[-3000:]}"


def _fired_at(api: AirflowApi, run: Run) -> list[float]:
    """When each of the task's trigger events fired, from the timestamps of Airflow's log lines."""
    data = api.get(f"dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/{run.task_id}/logs/1", full_content="true")
    lines = data.get("content") or []
    return [
        _timestamp(line["timestamp"])
        for line in lines
        if isinstance(line, dict) and FIRED in str(line.get("event", "")) and line.get("timestamp")
    ]


def _fresh_counters(vendor: str, job: dict[str, Any]) -> dict[str, Any]:
    """What the vendor reports for the job now, read through the hook from this process."""
    hook = get_spec(vendor).hook_class()
    result = hook.get_import_status(**job).to_dict()
    return {name: result[name] for name in ("state", "job_id", *COUNTER_FIELDS)}


@pytest.fixture
def deployment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    missing = missing_packages()
    if missing:
        pytest.skip(f"install Debian's {' '.join(missing)} (.ci/run does)")
    failed_before = request.session.testsfailed
    started = time.monotonic()
    deployment = DistributedDeployment(
        [DEPLOYMENT_DAGS / "distributed_vendors.py"],
        first_triggerer_capacity=FIRST_CAPACITY,
        config={
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_CHECK_THRESHOLD),
        },
    )
    with home_kept_on_failure(request, deployment.home), deployment:
        print(f"distributed deployment up in {time.monotonic() - started:.1f}s: {deployment.home}")
        # this process reads the vendors' answers through the hooks, as the deployment does
        for name, value in connection_env(deployment.sim_url, shipped_only=True).items():
            monkeypatch.setenv(name, value)
        yield deployment
        if request.session.testsfailed != failed_before:
            print(deployment.diagnostics())


def test_two_triggerers_a_killed_one_and_a_stopped_worker_lose_nothing(deployment: DistributedDeployment):
    api, db = deployment.api, deployment.db
    vendors = [spec.key for spec in builtin_specs()]
    [first_triggerer] = db.triggerer_job_ids()

    # 1. the first triggerer alone, full: every vendor's deadline sensor and 4 waiting ones
    first_wave = [
        # the deadline sensors last: their deadlines fall after the takeover, with the least waiting
        _sensor_run(deployment, vendor, "deadline" if n == FIRST_WAVE_PER_VENDOR - 1 else "wait", n)
        for n in range(FIRST_WAVE_PER_VENDOR)
        for vendor in vendors
    ]
    sensor_dags = {f"distributed_{vendor}_{kind}" for vendor in vendors for kind in ("wait", "deadline")}

    def held_by(runs: list[Run], triggerer: int) -> bool:
        holders = db.deferred_task_triggerers(sensor_dags)
        return all(holders.get(run.key) == triggerer for run in runs)

    wait_until(
        lambda: held_by(first_wave, first_triggerer),
        timeout=300,
        interval=1,
        what=f"the first {FIRST_CAPACITY} sensors to defer to the first triggerer",
    )
    assert db.triggers_by_triggerer() == {first_triggerer: FIRST_CAPACITY}

    # 2. the second triggerer; the rest of the sensors and the start-import operators go to it
    deployment.start_component(SECOND_TRIGGERER)
    second_triggerer = wait_until(
        lambda: (ids := db.triggerer_job_ids()) and len(ids) == 2 and ids[1],
        timeout=120,
        what="the second triggerer to start",
    )
    second_wave = [
        _sensor_run(deployment, vendor, "wait", n)
        for n in range(FIRST_WAVE_PER_VENDOR, SENSORS_PER_VENDOR)
        for vendor in vendors
    ]
    starts = []
    for vendor in vendors:
        operator = start_operator_class(get_spec(vendor))
        if operator is not None:
            spec = get_spec(vendor)
            conf = {k: v for k, v in spec.simulator_class.job_params.items() if k != spec.job_type.id_field()}
            start = Run(vendor, f"distributed_{vendor}_start", "start_import", conf)
            start.run_id = api.trigger(start.dag_id, conf=conf)
            starts.append(start)
    sensors = first_wave + second_wave
    assert len(sensors) == SENSORS_PER_VENDOR * len(vendors) == 40
    wait_until(
        lambda: held_by(second_wave, second_triggerer),
        timeout=300,
        interval=1,
        what="the second wave of sensors to defer to the second triggerer",
    )
    holders = db.deferred_task_triggerers(sensor_dags)
    assert {holders[run.key] for run in sensors} == {first_triggerer, second_triggerer}, "both triggerers hold"
    held = db.triggers_by_triggerer()
    assert held[first_triggerer] == FIRST_CAPACITY and held[second_triggerer] >= len(second_wave), held

    # 3. kill -9 the first triggerer mid-wait: the survivor takes every trigger
    deployment.kill_component("triggerer")
    killed_at = time.time()
    wait_until(
        lambda: held_by(sensors, second_triggerer),
        timeout=HEALTH_CHECK_THRESHOLD + TAKEOVER_MARGIN,
        interval=0.5,
        what="the surviving triggerer to hold every trigger",
    )
    taken_over_at = time.time()
    print(f"the survivor held every trigger {taken_over_at - killed_at:.1f}s after kill -9")
    assert set(db.triggers_by_triggerer()) == {second_triggerer}

    # 4. the deadline sensors time out at their original deadlines (the sensor sets the deadline
    # as it defers: its trigger's creation, give or take the worker's report of the deferral)
    deadlines = [run for run in first_wave if run.dag_id.endswith("_deadline")]
    assert len(deadlines) == len(vendors)
    created = db.trigger_created(run.dag_id for run in deadlines)
    for run in deadlines:
        deadline = created[run.key] + DEADLINE_SECONDS
        assert taken_over_at < deadline, "the deadline passed before the takeover: raise DEADLINE_SECONDS"
        assert taken_over_at + DEADLINE_SECONDS > deadline + DEADLINE_MARGIN, "a restarted deadline looks kept"
    for run in deadlines:
        api.wait_for_run(run.dag_id, run.run_id, timeout=DEADLINE_SECONDS + 180)
        ti = api.task_instance(*run.key)
        assert (ti["state"], ti["try_number"]) == ("skipped", 1), _report(api, run)
        deadline = created[run.key] + DEADLINE_SECONDS
        [fired] = _fired_at(api, run)
        assert deadline - DEFERRAL_REPORT_LAG <= fired < deadline + DEADLINE_MARGIN, (
            f"timed out {fired - deadline:+.1f}s from its deadline\n{_report(api, run)}"
        )

    # 5. stop the worker while the sensors are deferred; their triggers fire with no worker
    waiting = [run for run in sensors if run.dag_id.endswith("_wait")]
    assert all(api.task_instance(*run.key)["state"] == "deferred" for run in waiting)
    deployment.stop_component(WORKER)
    for number, run in enumerate(waiting):
        _finish(deployment, run, number)
    wait_until(
        lambda: not any(ti == "deferred" for ti in (api.task_instance(*r.key)["state"] for r in waiting)),
        timeout=120,
        interval=1,
        what="every finished import's trigger to fire",
    )
    states = {api.task_instance(*run.key)["state"] for run in waiting}
    assert states <= {"scheduled", "queued"}, f"resumed without a worker? {states}"
    deployment.start_component(WORKER)

    # 6. everything finished on try 1, with the vendor's counters, one event each
    problems = []
    reported: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for run in [*waiting, *starts]:
        state = api.wait_for_run(run.dag_id, run.run_id, timeout=300)
        ti = api.task_instance(*run.key)
        result = api.xcom(*run.key)
        job = api.xcom(*run.key, key="import_job") if run in starts else run.conf
        log = api.task_log(*run.key, max(ti["try_number"], 1))
        checks = {
            "run succeeded": state == "success",
            "on try 1": (ti["state"], ti["try_number"]) == ("success", 1),
            # at most one: under load Airflow 3.3.2's triggerer can lose the tail of a finished trigger's log
            # (jobs/triggerer_job_runner.py `_handle_request`: a `TriggerStateChanges` naming the trigger
            # finished pops its log file from `logger_cache`, and log lines still in the log socket then go to
            # the triggerer's own log; seen once in CI, 2026-12-04: the final lines, "Trigger fired event"
            # included, were missing while the task had resumed once, on try 1). A second event still shows.
            "at most one trigger event": log.count(FIRED) <= 1 and len(_fired_at(api, run)) <= 1,
            "the vendor's counters": isinstance(result, dict)
            and job is not None
            and {k: result.get(k) for k in ("state", "job_id", *COUNTER_FIELDS)} == _fresh_counters(run.vendor, job),
            "import succeeded": isinstance(result, dict) and result["state"] == "succeeded",
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            problems.append(f"{failed}: {result}\n{_report(api, run)}")
        elif run in waiting:
            reported[run.vendor].add(tuple(result[name] for name in COUNTER_FIELDS))
    assert not problems, "\n\n".join(problems)
    # each job was finished with counters no other had: a mix-up between jobs would repeat some
    # (Luminate's status carries no counters: its result is checked against the fresh poll only)
    counting = [vendor for vendor in vendors if any(v is not None for c in reported[vendor] for v in c)]
    assert len(counting) >= len(vendors) - 1, reported
    for vendor in counting:
        assert len(reported[vendor]) == sum(run.vendor == vendor for run in waiting), f"{vendor}: {reported[vendor]}"
