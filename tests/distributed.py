"""Airflow's distributed shape for tests: PostgreSQL, Redis, CeleryExecutor, two triggerers, on 127.0.0.1.

:class:`DistributedDeployment` is an :class:`~tests.deployment.AirflowDeployment` whose metadata
database is a PostgreSQL server started from Debian's ``postgresql`` package in a temporary data
directory (as the ``postgres`` user: PostgreSQL refuses to run as root), whose executor is
Airflow's CeleryExecutor (``apache-airflow-providers-celery``) with a Redis broker started from
Debian's ``redis-server`` package, and which runs one Celery worker and a first triggerer; the
test starts the second triggerer (``triggerer-2``) when it wants it. Every process is the leader
of its own session and is stopped by its process group, the database and Redis last, even when
the deployment fails to start. :class:`MetadataDb` reads the scheduler's own tables (which
triggerer holds which trigger) the way an operator of the deployment would, with ``psql``-like
queries.
"""

from __future__ import annotations

import contextlib
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.deployment import VENV_BIN, AirflowDeployment, ManagedProcess, free_port, wait_until

POSTGRES_BINARIES = Path("/usr/lib/postgresql")
"""Debian's ``postgresql`` package installs each major version's server under here."""
POSTGRES_USER = "postgres"
"""The system user Debian's package creates; the server runs as it."""
DB_NAME = DB_ROLE = "airflow"
WORKER = "celery-worker"
FIRST_TRIGGERER = "triggerer"
SECOND_TRIGGERER = "triggerer-2"


def missing_packages() -> list[str]:
    """The Debian packages this deployment needs that are not installed (``.ci/run`` installs them)."""
    missing = []
    if postgres_bin_dir() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    return missing


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` directory."""
    found = sorted(POSTGRES_BINARIES.glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class PostgresServer:
    """A throw-away PostgreSQL cluster: ``initdb`` into a temporary directory, served on 127.0.0.1 only."""

    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = bin_dir
        self.port = free_port()
        # its own directory, owned by the server's user (the deployment's home is root's, mode 0700)
        self.root = Path(tempfile.mkdtemp(prefix="airflow-distributed-pg-"))
        account = pwd.getpwnam(POSTGRES_USER)
        for path in (self.root, self.root / "data"):
            path.mkdir(exist_ok=True)
            shutil.chown(path, account.pw_uid, account.pw_gid)
        self.process: ManagedProcess | None = None

    def url(self, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{DB_ROLE}@127.0.0.1:{self.port}/{DB_NAME}"

    def start(self, log_path: Path, env: dict[str, str]) -> None:
        data = self.root / "data"
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(data), "-U", DB_ROLE, "--auth=trust", "-E", "UTF8", "--no-sync"],
            user=POSTGRES_USER,
            cwd=self.root,
            check=True,
            capture_output=True,
            timeout=120,
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "max_connections": "300",
            # a test database: durability is not what is tested
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        argv = [str(self.bin / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self.process = ManagedProcess("postgres", argv, env, log_path, user=POSTGRES_USER)
        wait_until(self._ready, timeout=60, what=f"PostgreSQL on port {self.port} ({log_path})")
        subprocess.run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_ROLE, DB_NAME],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def _ready(self) -> bool:
        if self.process is not None and not self.process.running:
            raise RuntimeError(f"PostgreSQL exited:\n{self.process.log_tail()}")
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_ROLE],
            capture_output=True,
            timeout=10,
        )
        return result.returncode == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)  # SIGINT: PostgreSQL's fast shutdown
            self.process = None
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A Redis server on 127.0.0.1 for Celery's broker, persisting nothing."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="airflow-distributed-redis-"))
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, log_path: Path, env: dict[str, str]) -> None:
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.root),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = ManagedProcess("redis", argv, env, log_path)
        wait_until(self._ready, timeout=30, what=f"Redis on port {self.port} ({log_path})")

    def _ready(self) -> bool:
        if self.process is not None and not self.process.running:
            raise RuntimeError(f"Redis exited:\n{self.process.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)
            self.process = None
        shutil.rmtree(self.root, ignore_errors=True)


class DistributedDeployment(AirflowDeployment):
    """PostgreSQL, CeleryExecutor with one worker, api-server, scheduler, dag-processor, two triggerers.

    :param first_triggerer_capacity: ``[triggerer] capacity`` of the first triggerer only (the
        second keeps Airflow's default), so a test can tell which triggerer takes which trigger.
    :param worker_concurrency: task processes of the Celery worker.
    """

    components = ("api-server", "scheduler", "dag-processor", WORKER, FIRST_TRIGGERER)

    def __init__(
        self,
        dag_files: Iterable[Path],
        *,
        first_triggerer_capacity: int | None = None,
        worker_concurrency: int = 8,
        config: dict[str, str] | None = None,
    ) -> None:
        self.postgres = PostgresServer()
        self.redis = RedisServer()
        self.first_triggerer_capacity = first_triggerer_capacity
        self.worker_concurrency = worker_concurrency
        self.trigger_log_ports = {FIRST_TRIGGERER: free_port(), SECOND_TRIGGERER: free_port()}
        super().__init__(
            dag_files,
            config={
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "32",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url(),
                "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.postgres.url()}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
                **(config or {}),
            },
        )
        self.db = MetadataDb(self.postgres)

    def component_argv(self, name: str) -> list[str]:
        airflow = str(VENV_BIN / "airflow")
        if name == WORKER:
            return [airflow, "celery", "worker", "--concurrency", str(self.worker_concurrency)]
        if name in (FIRST_TRIGGERER, SECOND_TRIGGERER):
            return [airflow, "triggerer"]
        return super().component_argv(name)

    def component_env(self, name: str) -> dict[str, str]:
        if name not in self.trigger_log_ports:
            return self.env
        # two triggerers on one host: each serves its trigger logs on its own port
        env = {**self.env, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_ports[name])}
        if name == FIRST_TRIGGERER and self.first_triggerer_capacity is not None:
            env["AIRFLOW__TRIGGERER__CAPACITY"] = str(self.first_triggerer_capacity)
        return env

    def start_services(self) -> None:
        self.postgres.start(self.home / "postgres.out", self.env)
        self.redis.start(self.home / "redis.out", self.env)

    def stop_services(self) -> None:
        try:
            self.db.close()
        finally:
            try:
                self.redis.stop()
            finally:
                self.postgres.stop()


class MetadataDb:
    """Read-only queries on the deployment's metadata database (the scheduler's own tables)."""

    def __init__(self, postgres: PostgresServer) -> None:
        self.postgres = postgres
        self._conn: Any = None

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg2

        if self._conn is None:
            self._conn = psycopg2.connect(
                host="127.0.0.1", port=self.postgres.port, user=DB_ROLE, dbname=DB_NAME, connect_timeout=10
            )
            self._conn.autocommit = True
        with self._conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def triggerer_job_ids(self) -> list[int]:
        """Every triggerer that ever started, oldest first (Airflow's ``job`` table)."""
        return [row[0] for row in self.query("SELECT id FROM job WHERE job_type = 'TriggererJob' ORDER BY id")]

    def triggers_by_triggerer(self) -> dict[int | None, int]:
        """How many triggers each triggerer holds (``None``: not yet assigned)."""
        rows = self.query("SELECT triggerer_id, count(*) FROM trigger GROUP BY triggerer_id")
        return {triggerer: count for triggerer, count in rows}

    def deferred_task_triggerers(self, dag_ids: Iterable[str]) -> dict[tuple[str, str, str], int | None]:
        """``(dag_id, run_id, task_id)`` -> the triggerer holding its trigger, for deferred task instances."""
        rows = self.query(
            "SELECT ti.dag_id, ti.run_id, ti.task_id, t.triggerer_id FROM task_instance ti "
            "JOIN trigger t ON ti.trigger_id = t.id WHERE ti.state = 'deferred' AND ti.dag_id = ANY(%s)",
            list(dag_ids),
        )
        return {(dag_id, run_id, task_id): triggerer for dag_id, run_id, task_id, triggerer in rows}

    def trigger_created(self, dag_ids: Iterable[str]) -> dict[tuple[str, str, str], float]:
        """``(dag_id, run_id, task_id)`` -> when its trigger was created (the deferral), epoch seconds."""
        rows = self.query(
            "SELECT ti.dag_id, ti.run_id, ti.task_id, t.created_date FROM task_instance ti "
            "JOIN trigger t ON ti.trigger_id = t.id WHERE ti.dag_id = ANY(%s)",
            list(dag_ids),
        )
        return {(dag_id, run_id, task_id): created.timestamp() for dag_id, run_id, task_id, created in rows}

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
