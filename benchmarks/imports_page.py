"""Response time of the Imports page's API with many past imports in the metadata DB.

Seeds a fresh SQLite Airflow home with ``--imports`` finished imports (every state, five vendors,
``--dags`` DAGs) plus ``--waiting`` deferred ones, then times the plugin's endpoints inside
Airflow's own API app (auth manager, JWT, mounting), and prints a table. Not an assertion::

    .venv/bin/python benchmarks/imports_page.py --imports 10000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

VENDORS = ("which50", "mailup", "mypreferences", "isales", "luminate")
STATES = (("succeeded", "success"), ("succeeded", "failed"), ("failed", "failed"), ("running", "skipped"))
"""(import state, task state): succeeded, rejected by the gate, failed, timed out."""


def _environment(home: Path) -> None:
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__API_AUTH__JWT_SECRET=os.urandom(32).hex(),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
    )
    sys.path.insert(0, str(REPO))


def _seed(imports: int, dags: int, waiting: int) -> None:
    from airflow.utils.session import create_session

    from tests.plugins.seed import START, WHICH50_HOOK, add_imports, result

    items = []
    for n in range(imports):
        state, ti_state = STATES[n % len(STATES)]
        total = 1000 + n % 500
        rejected = (n * 7) % 120
        items.append(
            {
                "dag_id": f"bench_dag_{n % dags:03d}",
                "run_id": f"run_{n:06d}",
                "when": START + timedelta(minutes=n),
                "ti_state": ti_state,
                "gate": {"max_rejected": None, "max_rejected_ratio": 0.1},
                "result": result(
                    VENDORS[n % len(VENDORS)],
                    str(100000 + n),
                    state,
                    total=total,
                    imported=total - rejected,
                    invalid=rejected,
                    progress_percent=100 if state != "running" else 40,
                    details={"contact_list_id": n % 50},
                ),
            }
        )
    for n in range(waiting):
        items.append(
            {
                "dag_id": f"bench_dag_{n % dags:03d}",
                "run_id": f"waiting_{n:04d}",
                "when": START + timedelta(minutes=imports + n),
                "ti_state": "deferred",
                "trigger": {
                    "hook_class": WHICH50_HOOK,
                    "conn_id": "which50_default",
                    "job": {"contact_list_id": 7, "import_job_id": str(900000 + n)},
                    "policy": {},
                    "deadline": None,
                    "waiting_since": START.timestamp() + n,
                },
            }
        )
    with create_session() as session:
        for chunk in range(0, len(items), 2000):
            add_imports(session, items[chunk : chunk + 2000])


def _time(client: object, path: str, params: dict[str, object], repeat: int) -> tuple[float, float, float, int, int]:
    """Median and p95 wall time, median CPU time (all threads: the app runs in the client's thread), rows, bytes."""
    durations, cpu, size, rows = [], [], 0, 0
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(path, params=params)  # type: ignore[attr-defined]
        durations.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        response.raise_for_status()
        size, rows = len(response.content), len(response.json().get("imports", response.json().get("runs", [])))
    durations.sort()
    p95 = durations[max(0, int(len(durations) * 0.95) - 1)]
    return statistics.median(durations), p95, statistics.median(cpu), rows, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imports", type=int, default=10_000)
    parser.add_argument("--dags", type=int, default=50)
    parser.add_argument("--waiting", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="imports-page-bench-"))
    (home / "dags").mkdir()
    _environment(home)
    from airflow.utils import db

    db.resetdb()
    started = time.perf_counter()
    _seed(args.imports, args.dags, args.waiting)
    seeded = time.perf_counter() - started

    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    app = create_app(apps="core")
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    cases = [
        ("first page (25)", "/import-status/api/imports", {"limit": 25}),
        ("first page (200)", "/import-status/api/imports", {"limit": 200}),
        ("page at offset 9000", "/import-status/api/imports", {"limit": 25, "offset": 9000}),
        ("vendor=mailup", "/import-status/api/imports", {"limit": 25, "vendor": "mailup"}),
        ("state=rejected", "/import-status/api/imports", {"limit": 25, "state": "rejected"}),
        ("one DAG", "/import-status/api/imports", {"limit": 25, "dag_id": "bench_dag_007"}),
        (
            "chart: last 20 runs",
            "/import-status/api/history",
            {"dag_id": "bench_dag_007", "task_id": "wait_for_import"},
        ),
        (
            "Import tab card",
            "/import-status/api/task-instance",
            {"dag_id": "bench_dag_007", "run_id": "run_000007", "task_id": "wait_for_import"},
        ),
    ]
    print(f"{args.imports} finished + {args.waiting} waiting imports in {args.dags} DAGs (SQLite)", end="")
    print(f", seeded in {seeded:.1f}s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'request':<22} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>7} {'rows':>5} {'bytes':>8}")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        for name, path, params in cases:
            params = {"with_live": "false", **params} if path.endswith("imports") else params
            client.get(path, params=params).raise_for_status()  # warm up (the plugin app is built on first use)
            median, p95, cpu, rows, size = _time(client, path, params, args.repeat)
            print(f"{name:<22} {median:>10.1f} {p95:>8.1f} {cpu:>7.1f} {rows:>5} {size:>8}")


if __name__ == "__main__":
    main()
