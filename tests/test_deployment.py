"""The provider in a real Airflow 3 deployment: api-server, scheduler, dag-processor and triggerer
as separate processes, driven and checked through the REST API, the CLI and a real browser.

One deployment serves the whole module (about 15 s to start); the triggerer restart test runs
after the others because it replaces the triggerer.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_import_status.get_provider_info import get_provider_info
from airflow_import_status.result import ImportResult
from airflow_import_status.simulators import simulator_classes
from tests.deployment import (
    DEPLOYMENT_DAGS,
    AirflowApi,
    AirflowDeployment,
    StateWatcher,
    example_dag_files,
    home_kept_on_failure,
    wait_until,
)

pytestmark = pytest.mark.slow

NORMALIZED_KEYS = {field.name for field in dataclasses.fields(ImportResult)}
SENSOR_TASK = "wait_for_import"
"""The sensor's task id in the test-only DAGs (``tests/deployment_dags``)."""
SCREENSHOTS = (
    Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "airflow-import-status-screenshots"
)
"""Where the browser check saves its PNGs; ``UPDATE_SCREENSHOTS=1`` refreshes the docs' (``dev/screenshots.py``)."""
CHROMIUM = "/usr/bin/chromium"
"""Debian's chromium package: Playwright drives it, it never downloads a browser."""
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest):
    dag_files = [*example_dag_files(), *sorted(DEPLOYMENT_DAGS.glob("deployment_*.py"))]
    started = time.monotonic()
    deployment = AirflowDeployment(dag_files)
    with home_kept_on_failure(request, deployment.home), deployment:
        print(f"deployment up and DAGs parsed in {time.monotonic() - started:.1f}s: {deployment.home}")
        yield deployment


def _timestamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _run_report(api: AirflowApi, dag_id: str, run_id: str, task_id: str) -> str:
    """Task states and the task's log, for assertion messages."""
    states = {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in api.task_instances(dag_id, run_id)}
    ti = api.task_instance(dag_id, run_id, task_id)
    log = api.task_log(dag_id, run_id, task_id, max(ti["try_number"], 1))
    return f"{dag_id}/{run_id}: {states}\n--- {task_id} log ---\n{log[-4000:]}"


def _sensor_gets(deployment: AirflowDeployment, job_id: str) -> int:
    """Status requests the Which50 simulator received for ``job_id``."""
    return sum(
        1
        for entry in deployment.sim.requests("which50")
        if entry["method"] == "GET" and entry["path"].endswith(f"/import/{job_id}")
    )


def _trigger_wait_dag(deployment: AirflowDeployment, dag_id: str, job_id: str, **job_spec: Any) -> str:
    """Script a Which50 job in the simulator, then trigger a test-only DAG that waits for it."""
    deployment.sim.create_job("which50", job_id=job_id, params={"contact_list_id": 7}, **job_spec)
    return deployment.api.trigger(dag_id, conf={"contact_list_id": 7, "import_job_id": job_id})


def test_provider_is_registered_with_airflow(deployment: AirflowDeployment):
    info = get_provider_info()
    providers = json.loads(deployment.airflow("providers", "list", "--output", "json").stdout)
    assert info["package-name"] in {p["package_name"] for p in providers}

    hooks = json.loads(deployment.airflow("providers", "hooks", "--output", "json").stdout)
    registered = {hook["connection_type"]: hook for hook in hooks}
    hook_meta = {meta["connection_type"]: meta for meta in deployment.api.hook_meta()}
    masked_defaults = []
    for conn_type in info["connection-types"]:
        name = conn_type["connection-type"]
        assert registered[name]["class"] == conn_type["hook-class-name"]
        assert registered[name]["package_name"] == info["package-name"]
        meta = hook_meta[name]
        assert set(meta["extra_fields"]) >= set(conn_type["conn-fields"]), f"{name}: UI fields missing"
        assert meta["standard_fields"], f"{name}: no standard field behaviour"
        # Airflow masks extras whose *name* looks secret; the new-connection form then saves "***"
        masked_defaults += [
            f"{name}.{field}: default {spec['schema']['default']!r} shown as {meta['extra_fields'][field]['value']!r}"
            for field, spec in conn_type["conn-fields"].items()
            if spec["schema"].get("default") is not None
            and meta["extra_fields"][field]["value"] != spec["schema"]["default"]
        ]
    assert not masked_defaults, "rename these fields (Airflow's secrets masker treats the names as sensitive):\n" + (
        "\n".join(masked_defaults)
    )
    assert len(info["connection-types"]) == len(simulator_classes(shipped_only=True))


def test_connection_test_works_for_every_default_connection(deployment: AirflowDeployment):
    conn_ids = [cls.conn_id for cls in simulator_classes(shipped_only=True)]

    def cli_test(conn_id: str) -> tuple[str, int, str]:
        result = deployment.airflow("connections", "test", conn_id, check=False)
        return conn_id, result.returncode, result.stdout + result.stderr

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(cli_test, conn_ids))
    failures = [f"{conn_id}: {output[-1500:]}" for conn_id, code, output in outcomes if code != 0]
    assert not failures, "\n".join(failures)
    assert all("Connection success!" in output for _, _, output in outcomes)

    for cls in simulator_classes(shipped_only=True):
        connection = cls.connection(deployment.sim_url)
        body = {"connection_id": cls.conn_id, **connection}
        if isinstance(body.get("extra"), dict):
            body["extra"] = json.dumps(body["extra"])
        outcome = deployment.api.test_connection(body)
        assert outcome["status"] is True, f"{cls.conn_id} through the API server: {outcome['message']}"


def test_every_example_dag_defers_succeeds_and_returns_the_normalized_result(deployment: AirflowDeployment):
    api = deployment.api
    examples = [path.name for path in example_dag_files()]
    assert examples
    runs: dict[str, tuple[str, list[str]]] = {}
    with StateWatcher(api) as watcher:
        for example in examples:
            for dag_id in deployment.dag_ids[example]:
                sensors = api.sensor_task_ids(dag_id)
                assert sensors, f"{example}: {dag_id} has no import sensor"
                run_id = api.trigger(dag_id)
                watcher.watch(dag_id, run_id)
                runs[dag_id] = (run_id, sensors)
        states = {dag_id: api.wait_for_run(dag_id, run_id, timeout=240) for dag_id, (run_id, _) in runs.items()}

    problems = []
    for dag_id, (run_id, sensors) in runs.items():
        for task_id in sensors:
            seen = watcher.seen(dag_id, run_id, task_id)
            result = api.xcom(dag_id, run_id, task_id)
            ti = api.task_instance(dag_id, run_id, task_id)
            checks = {
                "run succeeded": states[dag_id] == "success",
                "sensor went through deferred": "deferred" in seen,
                "sensor succeeded on its first try": (ti["state"], ti["try_number"]) == ("success", 1),
                "trigger ran in the triggerer": "Trigger fired event" in api.task_log(dag_id, run_id, task_id),
                "return_value is the normalized result": isinstance(result, dict) and set(result) == NORMALIZED_KEYS,
                "import succeeded": isinstance(result, dict) and result.get("state") == "succeeded",
                "import_result XCom equals return_value": api.xcom(dag_id, run_id, task_id, "import_result") == result,
            }
            failed = [name for name, ok in checks.items() if not ok]
            if failed:
                problems.append(f"{failed} (states seen: {seen})\n{_run_report(api, dag_id, run_id, task_id)}")
    assert not problems, "\n\n".join(problems)


def test_failed_import_fails_at_once_and_timeout_soft_fails(deployment: AirflowDeployment):
    api = deployment.api
    counters = {"inserted": 3, "updated": 1, "invalid_email": 2, "total": 6}
    with StateWatcher(api) as watcher:
        failing = _trigger_wait_dag(deployment, "deployment_which50_wait", "7001", fail=True, counters=counters)
        endless = _trigger_wait_dag(
            deployment, "deployment_which50_short_timeout", "7002", script=[{"state": "running", "progress": 10}]
        )
        watcher.watch("deployment_which50_wait", failing)
        watcher.watch("deployment_which50_short_timeout", endless)
        failing_state = api.wait_for_run("deployment_which50_wait", failing)
        endless_state = api.wait_for_run("deployment_which50_short_timeout", endless)

    report = _run_report(api, "deployment_which50_wait", failing, SENSOR_TASK)
    assert failing_state == "failed", report
    ti = api.task_instance("deployment_which50_wait", failing, SENSOR_TASK)
    assert (ti["state"], ti["try_number"]) == ("failed", 1), f"a failed import must not be retried\n{report}"
    assert "deferred" in watcher.seen("deployment_which50_wait", failing, SENSOR_TASK)
    assert api.xcom("deployment_which50_wait", failing, SENSOR_TASK) is None
    result = api.xcom("deployment_which50_wait", failing, SENSOR_TASK, "import_result")
    assert result is not None, report
    assert set(result) == NORMALIZED_KEYS
    assert (result["state"], result["job_id"], result["inserted"], result["invalid"]) == ("failed", "7001", 3, 2)

    report = _run_report(api, "deployment_which50_short_timeout", endless, SENSOR_TASK)
    ti = api.task_instance("deployment_which50_short_timeout", endless, SENSOR_TASK)
    assert ti["state"] == "skipped", f"soft_fail turns the timeout into a skip\n{report}"
    assert "deferred" in watcher.seen("deployment_which50_short_timeout", endless, SENSOR_TASK)
    assert endless_state == "success"


def _launch_chromium(playwright: Any) -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)


def _grid_state(page: Any, run_id: str, task_id: str) -> str:
    """The task's state as the grid's tooltip shows it ("State: Deferred" -> "deferred")."""
    page.locator(f'[id="grid-{run_id}-{task_id}"]').hover()
    tooltip = page.get_by_role("tooltip").filter(has_text=f"Task ID: {task_id}")
    tooltip.wait_for(timeout=10_000)
    state = re.search(r"State:\s*(\w+)", tooltip.inner_text())
    page.mouse.move(1200, 700)
    tooltip.wait_for(state="hidden", timeout=10_000)
    return state.group(1).lower() if state else ""


def test_ui_shows_the_deferred_sensor_its_console_link_and_the_connection_form(deployment: AirflowDeployment):
    sync_api = pytest.importorskip("playwright.sync_api")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dag_id, job_id = "deployment_which50_ui", "7201"
    script = [{"state": "running", "progress": 8 * i} for i in range(1, 12)]
    script.append({"state": "succeeded", "progress": 100, "counters": {"inserted": 120, "updated": 8, "total": 128}})
    run_id = _trigger_wait_dag(deployment, dag_id, job_id, script=script)
    task_url = f"{deployment.base_url}/dags/{dag_id}/runs/{run_id}/tasks/{SENSOR_TASK}"

    with sync_api.sync_playwright() as playwright:
        browser = _launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1280, "height": 760})
        context.add_cookies([{"name": "_token", "value": deployment.api.token, "url": deployment.base_url}])
        page = context.new_page()
        page.set_default_timeout(30_000)

        page.goto(task_url)
        wait_until(
            lambda: _grid_state(page, run_id, SENSOR_TASK) == "deferred",
            timeout=60,
            interval=1,
            what="the grid to show the sensor deferred",
        )
        page.get_by_text("state=running").first.wait_for()  # the triggerer's log lines, streamed into the task log
        page.wait_for_timeout(1500)
        page.screenshot(path=SCREENSHOTS / "sensor-deferred.png")

        assert deployment.api.wait_for_run(dag_id, run_id) == "success"
        page.goto(f"{task_url}/details")
        assert _grid_state(page, run_id, SENSOR_TASK) == "success"
        console_url = deployment.api.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{SENSOR_TASK}/links")[
            "extra_links"
        ]["Vendor console"]
        link = page.get_by_role("link", name="Vendor console")
        link.wait_for()
        assert link.get_attribute("href") == console_url
        page.screenshot(path=SCREENSHOTS / "sensor-succeeded-console-link.png")

        which50 = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == "which50")
        page.set_viewport_size({"width": 1280, "height": 1400})
        page.goto(f"{deployment.base_url}/connections")
        page.get_by_role("button", name="Add Connection").click()
        page.get_by_role("textbox", name="Connection ID").fill("which50_production")
        page.get_by_role("combobox").click()
        page.keyboard.type(which50["hook-name"])
        page.keyboard.press("Enter")
        page.get_by_role("button", name="Extra Fields", exact=True).click()
        dialog = page.get_by_role("dialog")
        for label in [
            *which50["ui-field-behaviour"]["relabeling"].values(),
            *(field["label"] for field in which50["conn-fields"].values()),
        ]:
            assert dialog.get_by_text(label, exact=True).count() >= 1, f"the which50 form has no field {label!r}"
        page.wait_for_timeout(500)
        dialog.screenshot(path=SCREENSHOTS / "connection-form-which50.png")
        browser.close()


def test_task_survives_a_killed_triggerer_and_keeps_its_absolute_deadline(deployment: AirflowDeployment):
    """kill -9 the triggerer while two sensors are deferred, start a new one: both finish as if nothing happened."""
    api = deployment.api
    slow_job, endless_job, timeout = "7101", "7102", 30
    polls_to_finish = 16
    script = [{"state": "running", "progress": 5 * i} for i in range(1, polls_to_finish)]
    counters = {"inserted": 40, "updated": 2, "invalid_email": 1, "total": 42}
    script.append({"state": "succeeded", "progress": 100, "counters": counters})
    slow = _trigger_wait_dag(deployment, "deployment_which50_wait", slow_job, script=script)
    endless = _trigger_wait_dag(
        deployment, "deployment_which50_restart_deadline", endless_job, script=[{"state": "running", "progress": 10}]
    )

    def deferred_and_polling() -> bool:
        return all(
            api.task_instance(dag_id, run_id, SENSOR_TASK)["state"] == "deferred" and _sensor_gets(deployment, job) >= 2
            for dag_id, run_id, job in (
                ("deployment_which50_wait", slow, slow_job),
                ("deployment_which50_restart_deadline", endless, endless_job),
            )
        )

    wait_until(deferred_and_polling, timeout=60, what="both sensors to defer and their triggers to poll")
    endless_ti = api.task_instance("deployment_which50_restart_deadline", endless, SENSOR_TASK)
    deadline = _timestamp(endless_ti["start_date"]) + timeout
    # kill late enough that a deadline restarted by the new triggerer would land well past the real one
    time.sleep(max(0.0, deadline - timeout + 10 - time.time()))
    polls_before_kill = _sensor_gets(deployment, slow_job)
    assert polls_before_kill < polls_to_finish, "the slow job finished before the kill: make it slower"

    killed_pid = deployment.kill_triggerer()
    time.sleep(3)
    assert _sensor_gets(deployment, slow_job) == polls_before_kill, f"triggerer {killed_pid} still polls after kill -9"
    restarted_at = time.time()
    deployment.start_triggerer()

    state = api.wait_for_run("deployment_which50_wait", slow, timeout=120)
    report = _run_report(api, "deployment_which50_wait", slow, SENSOR_TASK)
    assert state == "success", report
    ti = api.task_instance("deployment_which50_wait", slow, SENSOR_TASK)
    assert ti["try_number"] == 1, f"the restart must not cost a task retry\n{report}"
    assert _sensor_gets(deployment, slow_job) > polls_before_kill, "the new triggerer did not resume polling"
    result = api.xcom("deployment_which50_wait", slow, SENSOR_TASK)
    assert set(result) == NORMALIZED_KEYS
    assert (result["state"], result["job_id"], result["imported"], result["invalid"], result["total"]) == (
        "succeeded",
        slow_job,
        42,
        1,
        42,
    )
    assert api.task_log("deployment_which50_wait", slow, SENSOR_TASK).count("Trigger fired event") == 1

    api.wait_for_run("deployment_which50_restart_deadline", endless, timeout=120)
    ti = api.task_instance("deployment_which50_restart_deadline", endless, SENSOR_TASK)
    report = _run_report(api, "deployment_which50_restart_deadline", endless, SENSOR_TASK)
    assert ti["state"] == "skipped", report
    finished = _timestamp(ti["end_date"])
    assert restarted_at + timeout > deadline + 10, "the test cannot tell an absolute deadline from a restarted one"
    assert finished < deadline + 8, f"timed out {finished - deadline:.1f}s after the deadline: it restarted\n{report}"
