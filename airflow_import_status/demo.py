"""Run every example DAG end to end against the bundled vendor simulators (``make demo``).

Creates an Airflow home under ``.demo/`` with a SQLite DB, starts the simulators on
127.0.0.1, points each vendor's default connection at them, runs each
``example_dags/example_*.py`` with ``dag.test()`` (the sensors and start-import operators
defer; the trigger runs in line in a real event loop) and ends with one table: per example,
the vendor, job, state, counters, seconds and whether the wait was deferred. Airflow's own
log lines (and the example tasks' output) go to ``.demo/demo.log``, not the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

TABLE_COLUMNS = ("vendor", "job", "state", "total", "imported", "rejected", "seconds", "deferred")
TABLE_NOTE = (
    "total and imported are the vendor's own counts; rejected is invalid + failed, '-' where the vendor\n"
    "reports neither. They need not add up: a vendor may leave refused records out of its total, or\n"
    "report no refused count at all (total - imported is then what it did not import). Which vendor\n"
    "does what: docs/result.md, 'How each vendor maps into it'."
)
"""Printed under the table: what its counter columns are, and why a row need not add up."""


@dataclass(frozen=True)
class DemoRow:
    """One example DAG's outcome, for the closing table."""

    example: str
    run_state: str
    seconds: float
    result: dict[str, Any] | None
    deferred: bool

    def cells(self) -> tuple[str, ...]:
        result = self.result or {}
        state = str(result.get("state", "-"))
        if self.run_state != "success":
            state += f" (run {self.run_state})"
        refused = [result.get(key) for key in ("invalid", "failed")]
        # null, never 0, where the vendor reports neither count (the normalized result's rule)
        rejected = None if all(count is None for count in refused) else sum(count or 0 for count in refused)
        return (
            str(result.get("vendor") or self.example.removeprefix("example_").removesuffix(".py")),
            str(result.get("job_id", "-")),
            state,
            *(_count(value) for value in (result.get("total"), result.get("imported"), rejected)),
            f"{self.seconds:.1f}",
            "yes" if self.deferred else "no",
        )


def _count(value: Any) -> str:
    return "-" if value is None else str(value)


def format_table(rows: list[DemoRow]) -> str:
    """A plain-text table, columns aligned (numbers right, text left)."""
    cells = [TABLE_COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(TABLE_COLUMNS))]
    numeric = {"total", "imported", "rejected", "seconds"}

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(
            v.rjust(w) if name in numeric else v.ljust(w)
            for name, v, w in zip(TABLE_COLUMNS, values, widths, strict=True)
        ).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *(line(c) for c in cells[1:])])


@contextlib.contextmanager
def output_to(log_path: Path) -> Iterator[IO[str]]:
    """Send everything written to stdout/stderr (Airflow's log lines included) to ``log_path``.

    At the file-descriptor level, so output from handlers that captured ``sys.stdout`` earlier
    goes there too; yields a stream to the original terminal.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    terminal = os.fdopen(os.dup(saved[1]), "w", buffering=1)
    with log_path.open("a", encoding="utf-8") as log:
        for fd in saved:
            os.dup2(log.fileno(), fd)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, original in saved.items():
                os.dup2(original, fd)
                os.close(original)
            terminal.close()


def _prepare_environment(home: Path, dags: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"


def load_dag(path: Path) -> Any:
    """The one DAG a DAG file defines (module-level object or ``@dag`` call)."""
    from airflow_import_status.version_compat import dag_bag_class

    bag = dag_bag_class()(dag_folder=str(path))
    if bag.import_errors or len(bag.dags) != 1:
        raise RuntimeError(f"{path.name}: expected one DAG, got {list(bag.dags)} {bag.import_errors}")
    return next(iter(bag.dags.values()))


def _run_dag_file(path: Path) -> DemoRow:
    from airflow.models.log import Log
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    started = time.monotonic()
    dag = load_dag(path)
    dag_run = dag.test()
    seconds = time.monotonic() - started
    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id, key="import_result")
            .one_or_none()
        )
        result = XComModel.deserialize_value(row) if row is not None else None
        # Airflow's audit log records each deferral of a task instance
        deferred = (
            session.query(Log).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id, event="deferred").first() is not None
        )
    return DemoRow(path.name, str(getattr(dag_run.state, "value", dag_run.state)), seconds, result, deferred)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=".demo/airflow_home", help="Airflow home to create (reset each run)")
    parser.add_argument("--dags", default="example_dags", help="folder of example_*.py DAG files")
    parser.add_argument("--only", action="append", default=[], help="run only DAG files containing this text")
    parser.add_argument("--log", default=".demo/demo.log", help="file for Airflow's log lines (replaced each run)")
    args = parser.parse_args(argv)

    dags = Path(args.dags).resolve()
    log_path = Path(args.log).resolve()
    files = sorted(p for p in dags.glob("example_*.py") if not args.only or any(o in p.name for o in args.only))
    if not files:
        where = (
            "has no example_*.py" + (f" matching {args.only}" if args.only else "")
            if dags.is_dir()
            else "does not exist"
        )
        print(
            f"error: the DAG folder {dags} {where}. The example DAGs ship in the repository, not in the package:"
            " run the demo from a clone (make demo), or pass --dags DIR.",
            file=sys.stderr,
        )
        return 2
    _prepare_environment(Path(args.home).resolve(), dags)
    log_path.unlink(missing_ok=True)

    with output_to(log_path) as terminal:
        from airflow.utils import db

        from airflow_import_status.simulators import connection_env
        from airflow_import_status.simulators.server import SimulatorServer

        with SimulatorServer() as server:
            os.environ.update(connection_env(server.url))
            print(f"Vendor simulators on {server.url}; Airflow's log: {log_path}", file=terminal)
            print("Resetting the demo Airflow database ...", file=terminal)
            db.resetdb()
            rows = []
            for path in files:
                print(f"  {path.name} ...", end=" ", file=terminal, flush=True)
                print(f"\n===== {path.name} =====", flush=True)  # a header in the log
                rows.append(_run_dag_file(path))
                print(f"{rows[-1].run_state} in {rows[-1].seconds:.1f}s", file=terminal)
        failures = sum(row.run_state != "success" for row in rows)
        print(f"\n{format_table(rows)}\n\n{TABLE_NOTE}\n", file=terminal)
        print(f"{len(files) - failures} of {len(files)} example DAGs succeeded.", file=terminal)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
