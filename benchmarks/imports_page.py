"""Response time of the Imports page's API with many past imports in the metadata DB.

Seeds a fresh Airflow home with ``--imports`` finished imports (every state, five vendors,
``--dags`` DAGs) plus ``--waiting`` deferred ones and ``--xcoms`` unrelated XComs (other tasks'
``return_value`` and friends, as a real deployment's XCom table holds), then times the plugin's
endpoints inside Airflow's own API app (auth manager, JWT, mounting), and prints a table. Not an
assertion. ``--db postgres`` runs it on a throw-away PostgreSQL started from Debian's
``postgresql`` package (as ``tests/distributed.py`` starts one) and stopped at the end::

    .venv/bin/python benchmarks/imports_page.py --imports 10000
    .venv/bin/python benchmarks/imports_page.py --db postgres --imports 100000 --xcoms 1000000
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


def _environment(home: Path, db_url: str) -> None:
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=db_url,
        AIRFLOW__API_AUTH__JWT_SECRET=os.urandom(32).hex(),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",  # the access log would bury the table
    )
    sys.path.insert(0, str(REPO))


UNRELATED_TASKS = 10
UNRELATED_KEYS = ("return_value", "rows", "path", "schema", "stats", "checksum", "partition", "batch", "cursor", "meta")


def _seed_unrelated(xcoms: int, dags: int) -> None:
    """``xcoms`` XComs of other tasks in ``etl_dag_*`` DAGs: runs and task instances inserted, the XComs by SQL."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import insert, text

    from tests.plugins.seed import START, ensure_dags

    per_run = UNRELATED_TASKS * len(UNRELATED_KEYS)
    runs = max(1, xcoms // per_run)
    with create_session() as session:
        pg = session.get_bind().dialect.name == "postgresql"
        ensure_dags(session, *(f"etl_dag_{n:03d}" for n in range(dags)))
        for chunk in range(0, runs, 2000):
            batch = range(chunk, min(runs, chunk + 2000))
            session.execute(
                insert(DagRun.__table__),
                [
                    {
                        "dag_id": f"etl_dag_{n % dags:03d}",
                        "run_id": f"etl_{n:07d}",
                        "run_type": "scheduled",
                        "state": "success",
                        "run_after": START + timedelta(minutes=n),
                        "start_date": START + timedelta(minutes=n),
                    }
                    for n in batch
                ],
            )
            session.execute(
                insert(TaskInstance.__table__),
                [
                    {
                        "dag_id": f"etl_dag_{n % dags:03d}",
                        "run_id": f"etl_{n:07d}",
                        "task_id": f"step_{t}",
                        "map_index": -1,
                        "state": "success",
                        "pool": "default_pool",
                        "try_number": 1,
                    }
                    for n in batch
                    for t in range(UNRELATED_TASKS)
                ],
            )
        session.commit()
        value = "CAST(:value AS JSONB)" if pg else ":value"
        keys = " UNION ALL ".join(f"SELECT '{key}' AS key" for key in UNRELATED_KEYS)
        session.execute(
            text(
                "INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp, dag_result)"
                f" SELECT dr.id, ti.task_id, -1, k.key, ti.dag_id, ti.run_id, {value}, dr.start_date, false"
                " FROM task_instance ti JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id"
                f" CROSS JOIN ({keys}) k WHERE ti.dag_id LIKE 'etl_dag_%'"
            ),
            {"value": '{"rows": 12345, "path": "s3://warehouse/exports/2026/06/01/part-00000.parquet", "ok": true}'},
        )
        session.commit()


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


def _analyze() -> None:
    """Fresh statistics for the planner, as autovacuum would have them in a deployment."""
    from airflow.settings import engine
    from sqlalchemy import text

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))


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
    parser.add_argument("--xcoms", type=int, default=0, help="unrelated XComs (other tasks', other keys)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--db-url", help="time against this database, already seeded by an earlier run (no reset)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="imports-page-bench-"))
    (home / "dags").mkdir()
    postgres = None
    if args.db_url:
        _environment(home, args.db_url)
        _run(args)
        return
    if args.db == "postgres":
        sys.path.insert(0, str(REPO))
        from tests.distributed import PostgresServer

        postgres = PostgresServer()
        postgres.start(home / "postgres.out", dict(os.environ))
    try:
        _environment(home, postgres.url() if postgres else f"sqlite:///{home / 'airflow.db'}")
        _run(args)
    finally:
        if postgres is not None:
            postgres.stop()


def _run(args: argparse.Namespace) -> None:
    from airflow.utils import db

    started = time.perf_counter()
    if not args.db_url:
        db.resetdb()
        _seed(args.imports, args.dags, args.waiting)
        if args.xcoms:
            _seed_unrelated(args.xcoms, args.dags)
        _analyze()
    seeded = time.perf_counter() - started

    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    far = max(0, args.imports * 9 // 10)
    app = create_app(apps="core")
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    cases = [
        ("first page (25)", "/import-status/api/imports", {"limit": 25}),
        ("first page (200)", "/import-status/api/imports", {"limit": 200}),
        (
            f"page at offset {far}",
            "/import-status/api/imports",
            {"limit": 25, "offset": far},
        ),
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
    print(f"{args.imports} finished + {args.waiting} waiting imports in {args.dags} DAGs", end="")
    db_name = args.db_url.split(":", 1)[0].split("+", 1)[0] if args.db_url else args.db
    print(f", {args.xcoms} unrelated XComs ({db_name})", end="")
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
