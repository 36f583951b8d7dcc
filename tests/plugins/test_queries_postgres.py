"""The Imports page's queries on PostgreSQL give what they give on SQLite: filters, paging, counts.

Both databases get Airflow's metadata tables from its own ORM metadata (as ``airflow db migrate``
creates a fresh database) and the same rows; PostgreSQL is a throw-away server started from
Debian's ``postgresql`` package, as the distributed deployment test starts it. Every filter of
the page, every page of 7 rows, the chart and the card are compared row by row.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from airflow_import_status.plugins import queries
from tests.plugins.seed import START, WHICH50_HOOK, add_imports, result

pytestmark = pytest.mark.slow

VENDORS = ("which50", "mailup", "mypreferences", "isales", "luminate")
STATES = (("succeeded", "success"), ("succeeded", "failed"), ("failed", "failed"), ("running", "skipped"))
DAGS = [f"pg_imports_{n}" for n in range(3)]
PAGE = 7


def _imports() -> list[dict[str, Any]]:
    items = []
    for n in range(60):
        state, ti_state = STATES[n % len(STATES)]
        items.append(
            {
                "dag_id": DAGS[n % len(DAGS)],
                "run_id": f"run_{n:03d}",
                # pairs of runs finish at the same instant: the tie-break must order them the same way
                "when": START + timedelta(minutes=n // 2),
                "ti_state": ti_state,
                "task_id": "wait_for_import" if n % 5 else "wait_mapped",
                "map_index": -1 if n % 5 else n % 3,
                "gate": {"max_rejected": 5, "max_rejected_ratio": None} if n % 2 else None,
                "console_url": f"https://console.example.com/{n}" if n % 3 == 0 else None,
                "result": result(
                    VENDORS[n % len(VENDORS)],
                    str(7000 + n),
                    state,
                    total=100 + n,
                    imported=90,
                    invalid=n % 11,
                    details={"list": n % 4},
                ),
            }
        )
    for n in range(4):
        items.append(
            {
                "dag_id": DAGS[n % len(DAGS)],
                "run_id": f"waiting_{n}",
                "when": START + timedelta(hours=5, minutes=n),
                "ti_state": "deferred",
                "trigger": {
                    "hook_class": WHICH50_HOOK,
                    "conn_id": "which50_default",
                    "job": {"contact_list_id": 7, "import_job_id": str(9100 + n)},
                    "policy": {},
                    "deadline": None,
                    "waiting_since": START.timestamp() + 100 - n,
                },
            }
        )
    return items


def _database(url: str) -> Session:
    from airflow.models import import_all_models
    from airflow.models.base import Base

    import_all_models()
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    session = Session(engine)
    add_imports(session, _imports())
    return session


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, Session]]:
    from tests.distributed import PostgresServer, postgres_bin_dir

    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    home = tmp_path_factory.mktemp("pg-queries")
    postgres = PostgresServer()
    try:
        postgres.start(Path(home) / "postgres.out", dict(os.environ))
        sqlite = _database(f"sqlite:///{home / 'queries.db'}")
        pg = _database(postgres.url())
        yield sqlite, pg
        sqlite.close()
        pg.close()
        pg.get_bind().dispose()  # type: ignore[union-attr]
    finally:
        postgres.stop()


FILTERS: list[dict[str, Any]] = [
    {},
    *({"vendor": vendor} for vendor in VENDORS),
    *({"status": status.value} for status in queries.ImportStatus),
    *({"dag_id": dag_id} for dag_id in DAGS),
    {"vendor": "mailup", "status": "failed"},
    {"vendor": "which50", "dag_id": DAGS[1]},
    {"status": "rejected", "dag_id": DAGS[2]},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items()) or "all")
def test_every_page_of_the_list_is_the_same(databases: tuple[Session, Session], filters: dict[str, Any]) -> None:
    sqlite, pg = databases
    first = queries.list_imports(sqlite, DAGS, limit=PAGE, **filters)
    assert first.total == queries.list_imports(pg, DAGS, limit=PAGE, **filters).total
    assert first.dag_ids == queries.list_imports(pg, DAGS, limit=PAGE, **filters).dag_ids
    seen = []
    for offset in range(0, first.total + PAGE, PAGE):
        on_sqlite = queries.list_imports(sqlite, DAGS, limit=PAGE, offset=offset, **filters)
        on_pg = queries.list_imports(pg, DAGS, limit=PAGE, offset=offset, **filters)
        assert on_pg.rows == on_sqlite.rows, f"offset {offset}"
        seen += on_sqlite.rows
    assert len(seen) == first.total
    assert len({(r["dag_id"], r["run_id"], r["task_id"], r["map_index"]) for r in seen}) == first.total


def test_the_unfiltered_list_holds_every_import(databases: tuple[Session, Session]) -> None:
    sqlite, pg = databases
    for session in (sqlite, pg):
        page = queries.list_imports(session, DAGS, limit=queries.MAX_PAGE_SIZE)
        assert page.total == len(_imports()) == len(page.rows)
        assert [r["status"] for r in page.rows[:4]] == ["waiting"] * 4
        finished = [r["finished_at"] for r in page.rows[4:]]
        assert finished == sorted(finished, reverse=True)


def test_counts_per_status_add_up(databases: tuple[Session, Session]) -> None:
    sqlite, pg = databases
    for session in (sqlite, pg):
        counts = {s.value: queries.list_imports(session, DAGS, status=s.value).total for s in queries.ImportStatus}
        assert counts == {"waiting": 4, "running": 0, "succeeded": 15, "rejected": 15, "failed": 15, "timed_out": 15}


def test_chart_and_card_are_the_same(databases: tuple[Session, Session]) -> None:
    sqlite, pg = databases
    for dag_id in DAGS:
        for task_id in ("wait_for_import", "wait_mapped"):
            assert queries.history(pg, dag_id, task_id) == queries.history(sqlite, dag_id, task_id)
    for n in (0, 1, 7, 30):
        key = (
            DAGS[n % len(DAGS)],
            f"run_{n:03d}",
            "wait_for_import" if n % 5 else "wait_mapped",
            -1 if n % 5 else n % 3,
        )
        on_sqlite = queries.task_import(sqlite, *key)
        assert on_sqlite[0] is not None
        assert queries.task_import(pg, *key) == on_sqlite
