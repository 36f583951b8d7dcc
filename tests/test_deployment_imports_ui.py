"""The Imports UI in a real Airflow 3 deployment: api-server, scheduler, dag-processor and triggerer, headless Chromium.

The deployment loads the provider's plugin (``[core] lazy_discover_providers = False``: Airflow
loads providers' plugins only then) and uses :class:`tests.plugins.auth_manager.DagLimitedAuthManager`
so that a user can be limited to one DAG. Screenshots go where ``tests/test_deployment.py`` puts
them (``UPDATE_SCREENSHOTS=1``: the docs', ``dev/screenshots.py``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from airflow_import_status.result import sum_counters
from airflow_import_status.simulators import simulator_classes
from tests.deployment import (
    DEPLOYMENT_DAGS,
    REPO,
    AirflowDeployment,
    example_dag_files,
    home_kept_on_failure,
    wait_until,
)
from tests.test_deployment import SCREENSHOTS, SENSOR_TASK, _launch_chromium, _trigger_wait_dag

pytestmark = pytest.mark.slow

LIMITED_DAG = "example_mailup_import"
LIMITED_USER = f"only-{LIMITED_DAG}"
IMPORTS_API = "/import-status/api/imports"


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest):
    config = {
        "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.plugins.auth_manager.DagLimitedAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"admin:admin,{LIMITED_USER}:viewer",
        "PYTHONPATH": str(REPO),
    }
    deployment = AirflowDeployment(
        [*example_dag_files(), *sorted(DEPLOYMENT_DAGS.glob("deployment_*.py"))], config=config
    )
    with home_kept_on_failure(request, deployment.home), deployment:
        yield deployment


@pytest.fixture(scope="module")
def example_runs(deployment: AirflowDeployment) -> dict[str, str]:
    """Every example DAG run once to success: run id by DAG id."""
    dag_ids = [dag_id for path in example_dag_files() for dag_id in deployment.dag_ids[path.name]]
    runs = {dag_id: deployment.api.trigger(dag_id) for dag_id in dag_ids}
    for dag_id, run_id in runs.items():
        assert deployment.api.wait_for_run(dag_id, run_id) == "success", dag_id
    return runs


def _token(deployment: AirflowDeployment, username: str) -> str:
    passwords = json.loads((deployment.home / "simple_auth_manager_passwords.json.generated").read_text())
    response = requests.post(
        f"{deployment.base_url}/auth/token", json={"username": username, "password": passwords[username]}, timeout=30
    )
    response.raise_for_status()
    return response.json()["access_token"]


def _plugin_get(deployment: AirflowDeployment, path: str, token: str | None, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{deployment.base_url}{path}", params=params, headers=headers, timeout=30)


def _cells(row: Any) -> dict[str, str]:
    return {
        name: row.locator(f'[data-testid="{name}"]').inner_text().strip() for name in ("total", "imported", "rejected")
    }


def _shown(value: int | None) -> str:
    return "\u2013" if value is None else f"{value:,}"  # the page shows an en dash


def _secrets() -> list[str]:
    """Every credential the simulators' connections carry."""
    found = []
    for cls in simulator_classes(shipped_only=True):
        connection = cls.connection("http://x")
        found += [connection[k] for k in ("password",) if connection.get(k)]
        found += [v for k, v in (connection.get("extra") or {}).items() if "key" in k or "secret" in k]
    return found


def _waiting_task(deployment: AirflowDeployment, dag_id: str) -> str:
    """The example DAG's one task that waits for the import (a sensor or a start-import operator)."""
    [task_id] = deployment.api.sensor_task_ids(dag_id)
    return task_id


def test_imports_page_lists_every_example_import_with_its_counters(deployment: AirflowDeployment, example_runs):
    sync_api = pytest.importorskip("playwright.sync_api")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = _launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1600, "height": 900})
        context.add_cookies([{"name": "_token", "value": deployment.api.token, "url": deployment.base_url}])
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{deployment.base_url}/plugin/imports")
        frame = page.frame_locator("iframe")
        for dag_id, run_id in example_runs.items():
            result = deployment.api.xcom(dag_id, run_id, _waiting_task(deployment, dag_id), key="import_result")
            row = frame.locator(f'tr[data-dag-id="{dag_id}"][data-run-id="{run_id}"]')
            row.wait_for()
            assert row.locator('[data-testid="status"]').inner_text() == "succeeded"
            rejected = sum_counters(result["invalid"], result["failed"])
            assert _cells(row) == {
                "total": _shown(result["total"]),
                "imported": _shown(result["imported"]),
                "rejected": _shown(rejected),
            }, dag_id
        page.wait_for_timeout(500)
        page.screenshot(path=SCREENSHOTS / "imports-page.png")
        browser.close()


def test_a_running_import_shows_progress_then_finishes_and_the_import_tab_renders(
    deployment: AirflowDeployment, example_runs
):
    sync_api = pytest.importorskip("playwright.sync_api")
    dag_id, job_id = "deployment_which50_ui", "7301"
    script = [
        {"state": "running", "progress": 3 * i, "counters": {"inserted": 4 * i, "total": 200}} for i in range(1, 30)
    ]
    script.append({"state": "succeeded", "progress": 100, "counters": {"inserted": 190, "updated": 4, "total": 200}})
    run_id = _trigger_wait_dag(deployment, dag_id, job_id, script=script)
    with sync_api.sync_playwright() as playwright:
        browser = _launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1600, "height": 900})
        context.add_cookies([{"name": "_token", "value": deployment.api.token, "url": deployment.base_url}])
        page = context.new_page()
        page.set_default_timeout(60_000)

        page.goto(f"{deployment.base_url}/plugin/imports")
        row = page.frame_locator("iframe").locator(f'tr[data-dag-id="{dag_id}"][data-run-id="{run_id}"]')
        row.locator('[data-testid="progress"]').wait_for()
        assert row.get_attribute("data-status") == "waiting"
        assert row.locator('[data-testid="progress"]').inner_text().strip().endswith("%")
        page.screenshot(path=SCREENSHOTS / "imports-running.png")

        tab = f"{deployment.base_url}/dags/{dag_id}/runs/{run_id}/tasks/{SENSOR_TASK}/plugin/import"
        page.goto(tab)
        card = page.frame_locator("iframe").locator('[data-testid="import-card"]')
        card.locator('[data-testid="progress"]').wait_for()
        assert "waiting" in card.locator('[data-testid="status"]').inner_text()
        assert "polled" in card.inner_text()

        assert deployment.api.wait_for_run(dag_id, run_id) == "success"
        page.goto(f"{deployment.base_url}/plugin/imports")
        finished = page.frame_locator("iframe").locator(f'tr[data-dag-id="{dag_id}"][data-run-id="{run_id}"]')
        wait_until(
            lambda: finished.get_attribute("data-status") == "succeeded",
            timeout=30,
            what="the finished import on the Imports page",
        )
        assert {k: v for k, v in _cells(finished).items() if k != "rejected"} == {"total": "200", "imported": "194"}

        which50_run = example_runs["example_which50_import"]
        which50_task = _waiting_task(deployment, "example_which50_import")
        page.goto(
            f"{deployment.base_url}/dags/example_which50_import/runs/{which50_run}/tasks/{which50_task}/plugin/import"
        )
        frame = page.frame_locator("iframe")
        frame.locator('[data-testid="counter-total"]').wait_for()
        assert "succeeded" in frame.locator('[data-testid="status"]').inner_text()
        history = frame.locator('[data-testid="import-history"] svg')
        assert history.count() == 2
        assert frame.locator('[data-testid="threshold"]').count() >= 1, "the gate the sensor recorded is drawn"
        assert "gate ≤ 10.0%" in frame.locator('[data-testid="import-card"]').inner_text()
        page.wait_for_timeout(500)
        page.screenshot(path=SCREENSHOTS / "import-tab.png")
        browser.close()


def test_imports_need_a_token_and_a_limited_user_sees_only_its_dag(deployment: AirflowDeployment, example_runs):
    for path in ("/import-status/", "/import-status/task-instance", IMPORTS_API, "/import-status/static/imports.js"):
        assert _plugin_get(deployment, path, None).status_code == 401, path

    limited = _token(deployment, LIMITED_USER)
    data = _plugin_get(deployment, IMPORTS_API, limited, limit=200).json()
    assert data["imports"], "the limited user sees its own DAG's import"
    assert {row["dag_id"] for row in data["imports"]} == {LIMITED_DAG}
    other = {"dag_id": "example_which50_import", "task_id": _waiting_task(deployment, "example_which50_import")}
    assert _plugin_get(deployment, "/import-status/api/history", limited, **other).status_code == 403
    card = {**other, "run_id": example_runs["example_which50_import"]}
    assert _plugin_get(deployment, "/import-status/api/task-instance", limited, **card).status_code == 403

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = _launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1600, "height": 900})
        context.add_cookies([{"name": "_token", "value": limited, "url": deployment.base_url}])
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{deployment.base_url}/plugin/imports")
        rows = page.frame_locator("iframe").locator('tr[data-testid="import-row"]')
        rows.first.wait_for()
        time.sleep(1)
        assert {rows.nth(i).get_attribute("data-dag-id") for i in range(rows.count())} == {LIMITED_DAG}
        browser.close()

    admin = deployment.api.token
    bodies = [_plugin_get(deployment, IMPORTS_API, admin, limit=200).text]
    for dag_id, run_id in example_runs.items():
        ti = {"dag_id": dag_id, "run_id": run_id, "task_id": SENSOR_TASK}
        bodies.append(_plugin_get(deployment, "/import-status/api/task-instance", admin, **ti).text)
        bodies.append(
            _plugin_get(deployment, "/import-status/api/history", admin, dag_id=dag_id, task_id=SENSOR_TASK).text
        )
    text = "\n".join(bodies)
    assert all(dag_id in text for dag_id in example_runs)
    leaked = [secret for secret in _secrets() if secret in text]
    assert not leaked, f"credentials in plugin responses: {leaked}"
