"""The Imports UI's endpoints inside Airflow's real API app, against the test suite's SQLite metadata DB.

Airflow's own ``create_app`` loads the provider's plugin and mounts its app, so these requests
go through the same mounting, auth manager and JWTs as in a deployment. Per-DAG access is tested
with :class:`tests.plugins.auth_manager.DagLimitedAuthManager` (the simple auth manager has no
per-DAG limits).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from airflow_import_status.simulators.which50 import API_KEY
from tests.plugins.seed import START, WHICH50_HOOK, add_imports, ensure_dags, result

DAG_A, DAG_B, DAG_WITHOUT_IMPORTS = "imports_ui_a", "imports_ui_b", "imports_ui_none"
DAG_WAITING_ONLY = "imports_ui_waiting"
LIMITED_USER = f"only-{DAG_B}"
PREFIX = "/import-status"
GATE = {"max_rejected": None, "max_rejected_ratio": 0.1}
POLICY = {"poll_interval": 1.0, "max_consecutive_failures": 5, "backoff_initial": 1.0, "backoff_max": 2.0}
LIVE_JOB, ERROR_JOB = "8801", "8803"


def _trigger(job_id: str, conn_id: str = "which50_default", **kwargs: Any) -> dict[str, Any]:
    return {
        "hook_class": WHICH50_HOOK,
        "conn_id": conn_id,
        "job": {"contact_list_id": 7, "import_job_id": job_id},
        "policy": POLICY,
        "deadline": START.timestamp() + 3600,
        "waiting_since": START.timestamp() + 60,
        **kwargs,
    }


REFUSED = {
    "path": "s3://bucket/refused/rejected.csv",
    "count": 30,
    "by_source": {"upload": 0, "vendor": 30},
    "truncated": False,
    "top_reasons": [{"reason": "Email not valid", "count": 20}, {"reason": "<email> is blocked", "count": 10}],
}


def _at(minutes: int) -> Any:
    return START + timedelta(minutes=minutes)


IMPORTS = [
    {
        "dag_id": DAG_A,
        "run_id": "succeeded",
        "when": _at(10),
        "ti_state": "success",
        "gate": GATE,
        "console_url": "https://app.which50.com/",
        "result": result(
            "which50",
            "5001",
            "succeeded",
            vendor_status="Completed",
            total=100,
            imported=95,
            inserted=90,
            updated=5,
            invalid=5,
            progress_percent=100,
            started_at="2026-06-01T00:10:00+00:00",
            finished_at="2026-06-01T00:13:00+00:00",
            details={"contact_list_id": 7, "InvalidEmailCount": 5, "nested": {"dropped": True}},
            warnings=["a warning worth a look"],
        ),
    },
    {
        "dag_id": DAG_A,
        "run_id": "failed",
        "when": _at(20),
        "ti_state": "failed",
        "gate": GATE,
        "result": result("which50", "5002", "failed", vendor_status="Failed", total=40, message="file is not CSV"),
    },
    {
        "dag_id": DAG_A,
        "run_id": "rejected",
        "when": _at(30),
        "ti_state": "failed",
        "gate": GATE,
        "rejected_records": REFUSED,
        "result": result("which50", "5003", "succeeded", total=100, imported=70, invalid=20, failed=10),
    },
    {
        "dag_id": DAG_A,
        "run_id": "timed_out",
        "when": _at(40),
        "ti_state": "skipped",
        "gate": GATE,
        "result": result("which50", "5004", "running", total=100, imported=40, progress_percent=40),
    },
    {"dag_id": DAG_A, "run_id": "deferred", "when": _at(50), "ti_state": "deferred", "trigger": _trigger(LIVE_JOB)},
    {
        "dag_id": DAG_A,
        "run_id": "deferred_missing_conn",
        "when": _at(55),
        "ti_state": "deferred",
        "trigger": _trigger("8802", conn_id="which50_missing", waiting_since=START.timestamp() + 120),
    },
    {
        "dag_id": DAG_A,
        "run_id": "deferred_vendor_error",
        "when": _at(56),
        "ti_state": "deferred",
        "trigger": _trigger(ERROR_JOB, waiting_since=START.timestamp() + 180),
    },
    {"dag_id": DAG_A, "run_id": "succeeded", "task_id": "report", "when": _at(10), "ti_state": "success"},
    {
        "dag_id": DAG_A,
        "run_id": "other_trigger",
        "when": _at(56),
        "ti_state": "deferred",
        "classpath": "airflow.providers.standard.triggers.temporal.TimeDeltaTrigger",
        "trigger": {"delta": 60},
    },
    {
        "dag_id": DAG_WAITING_ONLY,
        "run_id": "waiting_only",
        "when": _at(58),
        "ti_state": "deferred",
        "trigger": _trigger("8805", waiting_since=START.timestamp() + 240),
    },
    {
        "dag_id": DAG_B,
        "run_id": "b_succeeded",
        "when": _at(60),
        "ti_state": "success",
        "result": result("mailup", "6001", "succeeded", total=20, imported=20),
    },
]
"""Every state: succeeded, failed, rejected by the gate, timed out, deferred (two), plus rows that are not imports."""


def _clear_plugin_caches() -> None:
    from airflow import plugins_manager

    for value in vars(plugins_manager).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@pytest.fixture(scope="module")
def client(airflow_db, simulator_server) -> Iterator[Any]:
    """Airflow's API app (core) with the provider's plugin mounted, and tokens of three users.

    Airflow loads providers' plugins only with ``[core] lazy_discover_providers = False``.
    """
    from airflow import settings
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "LAZY_LOAD_PROVIDERS", False)
        _clear_plugin_caches()
        patch.setenv("AIRFLOW__CORE__AUTH_MANAGER", "tests.plugins.auth_manager.DagLimitedAuthManager")
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", f"admin:admin,viewer:viewer,{LIMITED_USER}:viewer")
        patch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", os.urandom(16).hex())
        from airflow.api_fastapi.app import create_app, get_auth_manager, purge_cached_app
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
        from airflow.utils.session import create_session

        with create_session() as session:
            add_imports(session, IMPORTS)
            ensure_dags(session, DAG_WITHOUT_IMPORTS)
        purge_cached_app()
        app = create_app(apps="core")
        manager = get_auth_manager()
        tokens = {
            name: manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role))
            for name, role in (("admin", "admin"), ("viewer", "viewer"), (LIMITED_USER, "viewer"))
        }
        with TestClient(app) as test_client:
            test_client.tokens = tokens
            [test_client.plugin_app] = [route.app for route in app.routes if getattr(route, "path", "") == PREFIX]
            yield test_client
        purge_cached_app()
    _clear_plugin_caches()


@pytest.fixture(autouse=True)
def fresh_live_status(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with an empty live-status cache (the API tests share one app)."""
    if "client" not in request.fixturenames:
        yield
        return
    from airflow_import_status.plugins.live import LiveStatus

    client = request.getfixturevalue("client")
    _get(client, "/api/imports", dag_id=DAG_B)  # the plugin app is built on its first request
    live = client.plugin_app._app.state.live = LiveStatus()
    yield
    live.close()


def _get(client: Any, path: str, user: str | None = "admin", **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {client.tokens[user]}"} if user else {}
    return client.get(f"{PREFIX}{path}", params=params, headers=headers)


def _imports(client: Any, user: str = "admin", **params: Any) -> dict[str, Any]:
    response = _get(client, "/api/imports", user, **params)
    assert response.status_code == 200, response.text
    return response.json()


def _which50_polls(sim: Any, job_id: str) -> int:
    return sum(1 for entry in sim.requests("which50") if entry["path"].endswith(f"/import/{job_id}"))


def _live_job(sim: Any) -> None:
    sim.create_job(
        "which50",
        job_id=LIVE_JOB,
        params={"contact_list_id": 7},
        script=[{"state": "running", "progress": 60, "counters": {"inserted": 30, "total": 50}}],
    )


def test_airflow_lists_the_plugin_with_its_nav_entry_and_task_instance_tab(client):
    response = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {client.tokens['admin']}"})
    plugin = next(p for p in response.json()["plugins"] if p["name"] == "import_status")
    views = {view["destination"]: view for view in plugin["external_views"]}
    assert views["nav"]["href"] == "import-status/"
    assert views["task_instance"]["href"].startswith("import-status/task-instance?dag_id={DAG_ID}&run_id={RUN_ID}")
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == [PREFIX]


def test_rows_cover_every_state_waiting_first_then_newest(client, sim):
    _live_job(sim)
    data = _imports(client, dag_id=DAG_A)
    rows = {row["run_id"]: row for row in data["imports"]}
    assert [row["run_id"] for row in data["imports"]] == [
        "deferred",
        "deferred_missing_conn",
        "deferred_vendor_error",
        "timed_out",
        "rejected",
        "failed",
        "succeeded",
    ]
    assert data["total"] == 7
    assert {run: row["status"] for run, row in rows.items()} == {
        "deferred": "waiting",
        "deferred_missing_conn": "waiting",
        "deferred_vendor_error": "waiting",
        "timed_out": "timed_out",
        "rejected": "rejected",
        "failed": "failed",
        "succeeded": "succeeded",
    }
    succeeded = rows["succeeded"]
    assert (succeeded["vendor"], succeeded["job_id"], succeeded["task_id"]) == ("which50", "5001", "wait_for_import")
    assert (succeeded["total"], succeeded["imported"], succeeded["rejected"]) == (100, 95, 5)
    assert succeeded["rejected_ratio"] == pytest.approx(0.05)
    assert succeeded["gate"] == GATE
    assert succeeded["console_url"] == "https://app.which50.com/"
    assert succeeded["finished_at"] == "2026-06-01T00:13:00+00:00"
    assert (rows["rejected"]["rejected"], rows["rejected"]["rejected_ratio"]) == (30, pytest.approx(0.3))
    assert rows["failed"]["rejected"] is None
    assert rows["timed_out"]["progress_percent"] == 40

    waiting = rows["deferred"]
    assert waiting["job_id"] == f"{LIVE_JOB} of contact list 7"
    assert waiting["waiting_since"] == "2026-06-01T00:01:00+00:00"
    assert waiting["deadline"] == "2026-06-01T01:00:00+00:00"
    assert waiting["progress_percent"] == 60
    assert isinstance(waiting["total"], int) and isinstance(waiting["imported"], int)
    assert waiting["live"]["state"] == "running"
    assert "AirflowNotFoundException" in rows["deferred_missing_conn"]["live"]["error"]


def test_filters_by_vendor_state_and_dag(client, sim):
    _live_job(sim)
    # the metadata DB is the session's: other suites' mailup runs are listed too, never another vendor
    mailup = _imports(client, vendor="mailup", limit=200)["imports"]
    assert {r["vendor"] for r in mailup} == {"mailup"}
    assert [(r["dag_id"], r["vendor"]) for r in mailup if r["dag_id"] in (DAG_A, DAG_B)] == [(DAG_B, "mailup")]
    assert [r["run_id"] for r in _imports(client, state="rejected", dag_id=DAG_A)["imports"]] == ["rejected"]
    waiting = _imports(client, state="waiting", dag_id=DAG_A, with_live="false")
    assert (waiting["total"], {r["status"] for r in waiting["imports"]}) == (3, {"waiting"})
    assert [r["run_id"] for r in _imports(client, dag_id=DAG_B)["imports"]] == ["b_succeeded"]
    assert _imports(client, vendor="mailup", dag_id=DAG_A)["total"] == 0
    assert _get(client, "/api/imports", state="bogus").status_code == 400
    dag_filter = _imports(client, with_live="false")["dag_ids"]
    assert {DAG_A, DAG_B, DAG_WAITING_ONLY} <= set(dag_filter) and DAG_WITHOUT_IMPORTS not in dag_filter


def test_pages_partition_the_list_across_waiting_and_finished_rows(client):
    full = _imports(client, dag_id=DAG_A, with_live="false", limit=50)["imports"]
    pages = [_imports(client, dag_id=DAG_A, with_live="false", limit=4, offset=offset) for offset in (0, 4, 8)]
    assert [page["total"] for page in pages] == [7, 7, 7]
    assert [len(page["imports"]) for page in pages] == [4, 3, 0]
    assert [row["run_id"] for page in pages for row in page["imports"]] == [row["run_id"] for row in full]
    assert _get(client, "/api/imports", limit=0).status_code == 422


def test_history_gives_the_chart_counters_and_gate_threshold_oldest_first(client):
    response = _get(client, "/api/history", dag_id=DAG_A, task_id="wait_for_import")
    runs = response.json()["runs"]
    assert [run["run_id"] for run in runs] == ["succeeded", "failed", "rejected", "timed_out"]
    assert [(run["imported"], run["rejected"]) for run in runs] == [(95, 5), (None, None), (70, 30), (40, None)]
    assert [run["threshold"] for run in runs] == pytest.approx([10, 4, 10, 10])
    limited = _get(client, "/api/history", dag_id=DAG_A, task_id="wait_for_import", limit=2).json()["runs"]
    assert [run["run_id"] for run in limited] == ["rejected", "timed_out"]


def test_task_instance_card_of_a_finished_import(client):
    data = _get(client, "/api/task-instance", dag_id=DAG_A, run_id="succeeded", task_id="wait_for_import").json()
    assert data["import"]["status"] == "succeeded"
    card = data["result"]
    assert (card["inserted"], card["updated"], card["invalid"], card["rejected"]) == (90, 5, 5, 5)
    assert card["warnings"] == ["a warning worth a look"]
    assert card["details"] == {"contact_list_id": 7, "InvalidEmailCount": 5}, "only plain JSON values are shown"
    other = _get(client, "/api/task-instance", dag_id=DAG_A, run_id="succeeded", task_id="report").json()
    assert other == {"import": None, "result": None}


def test_task_instance_card_shows_the_refused_records_file_and_top_reasons(client):
    data = _get(client, "/api/task-instance", dag_id=DAG_A, run_id="rejected", task_id="wait_for_import").json()
    assert data["rejected_records"] == {**REFUSED, "error": None}
    plain = _get(client, "/api/task-instance", dag_id=DAG_A, run_id="succeeded", task_id="wait_for_import").json()
    assert plain["rejected_records"] is None, "no path set: nothing to show"
    script = _get(client, "/static/imports.js").text
    assert "refusedHtml(data.rejected_records)" in script and 'data-testid="refused-path"' in script


def test_live_status_is_one_poll_per_job_within_the_cache_window(client, sim):
    _live_job(sim)
    ti = {"dag_id": DAG_A, "run_id": "deferred", "task_id": "wait_for_import"}
    first = _get(client, "/api/task-instance", **ti).json()
    second = _get(client, "/api/task-instance", **ti).json()
    _imports(client, dag_id=DAG_A)
    assert _which50_polls(sim, LIVE_JOB) == 1
    assert first["result"]["progress_percent"] == 60
    assert first["import"]["live"]["polled_at"] == second["import"]["live"]["polled_at"]


def test_a_vendor_error_is_a_message_on_the_card_not_a_server_error(client, sim):
    sim.create_job("which50", job_id=ERROR_JOB, params={"contact_list_id": 7})
    sim.add_fault("which50", "status", status=503, times=10, path_contains=f"/import/{ERROR_JOB}")
    ti = {"dag_id": DAG_A, "run_id": "deferred_vendor_error", "task_id": "wait_for_import"}
    response = _get(client, "/api/task-instance", **ti)
    assert response.status_code == 200
    assert "HTTP 503" in response.json()["import"]["live"]["error"]
    assert response.json()["result"] is None
    missing = _get(client, "/api/task-instance", **{**ti, "run_id": "deferred_missing_conn"})
    assert missing.status_code == 200
    assert missing.json()["import"]["live"]["error"] == "could not poll which50: AirflowNotFoundException"


def test_every_route_needs_airflows_token(client):
    routes = ["/", "/task-instance", "/static/imports.js", "/api/imports", "/api/history", "/api/task-instance"]
    params = {"dag_id": DAG_A, "run_id": "succeeded", "task_id": "wait_for_import"}
    for route in routes:
        assert client.get(f"{PREFIX}{route}", params=params).status_code == 401, route
        bad = client.get(f"{PREFIX}{route}", params=params, headers={"Authorization": "Bearer not-a-jwt"})
        assert bad.status_code in (401, 403), route
    client.cookies.set("_token", client.tokens["viewer"])
    try:
        assert client.get(f"{PREFIX}/api/imports", params={"dag_id": DAG_A, "with_live": "false"}).status_code == 200
        page = client.get(f"{PREFIX}/")
        assert page.status_code == 200 and "ImportStatus.importsPage()" in page.text
    finally:
        client.cookies.clear()


def test_a_user_limited_to_one_dag_sees_nothing_of_another(client):
    data = _imports(client, LIMITED_USER, with_live="false")
    assert {row["dag_id"] for row in data["imports"]} == {DAG_B}
    assert data["dag_ids"] == [DAG_B]
    assert _imports(client, LIMITED_USER, dag_id=DAG_A)["total"] == 0
    params = {"dag_id": DAG_A, "run_id": "succeeded", "task_id": "wait_for_import"}
    assert _get(client, "/api/task-instance", LIMITED_USER, **params).status_code == 403
    assert _get(client, "/api/history", LIMITED_USER, dag_id=DAG_A, task_id="wait_for_import").status_code == 403
    own_ti = {"dag_id": DAG_B, "run_id": "b_succeeded", "task_id": "wait_for_import"}
    own = _get(client, "/api/task-instance", LIMITED_USER, **own_ti)
    assert own.json()["result"]["vendor"] == "mailup"


def test_no_response_carries_a_credential_or_trigger_policy(client, sim):
    _live_job(sim)
    bodies = [_get(client, "/").text, _get(client, "/api/imports", limit=200).text]
    for item in IMPORTS:
        ti = {"dag_id": item["dag_id"], "run_id": item["run_id"], "task_id": item.get("task_id", "wait_for_import")}
        bodies.append(_get(client, "/api/task-instance", **ti).text)
        bodies.append(_get(client, "/api/history", dag_id=ti["dag_id"], task_id=ti["task_id"]).text)
    text = "\n".join(bodies)
    imports = [item for item in IMPORTS if ("result" in item or "trigger" in item) and "classpath" not in item]
    assert all(f'"run_id":"{item["run_id"]}"' in text for item in imports), "every import was answered"
    assert '"progress_percent":60' in text, "the live status was polled"
    for secret in (API_KEY, "which50_default", "which50_missing", "policy", "backoff_initial", "hook_class"):
        assert secret not in text


def test_trigger_kwargs_of_0_1_and_0_2_are_both_read():
    from airflow_import_status.plugins.sources import TRIGGER_CLASSPATHS, hook_for, read_trigger

    [classpath] = TRIGGER_CLASSPATHS
    today = read_trigger(classpath, _trigger("1"))
    redesigned = read_trigger(classpath, {**_trigger("1"), "hook_class": None, "vendor": "which50"})
    assert today is not None and redesigned is not None
    assert (today.vendor, redesigned.vendor) == ("which50", "which50")
    assert type(hook_for(today.vendor, "c")) is type(hook_for(redesigned.vendor, "c"))
    assert read_trigger("some.OtherTrigger", _trigger("1")) is None
    assert read_trigger(classpath, {"job": {}}) is None
    assert json.dumps(today.job) == '{"contact_list_id": 7, "import_job_id": "1"}'
