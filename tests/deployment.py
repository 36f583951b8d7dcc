"""A real Airflow 3 deployment for tests: separate processes, the REST API, the vendor simulators.

:class:`AirflowDeployment` starts, from a temporary ``AIRFLOW_HOME`` on 127.0.0.1:

- the vendor simulators (``python -m airflow_import_status.simulators --port P``), with every
  vendor's default connection pointing at them through ``AIRFLOW_CONN_*`` variables;
- ``airflow db migrate`` (SQLite), then ``api-server``, ``scheduler`` (LocalExecutor,
  parallelism 4), ``dag-processor`` and ``triggerer``, each a separate process in its own
  session, so that stopping signals exactly the process groups this module started.

:class:`AirflowApi` is a small ``/api/v2`` client (simple auth manager token) with the helpers
tests need: unpause and trigger DAGs, wait for runs, read task instances, logs and XComs.
:class:`StateWatcher` polls task-instance states while runs are in flight, so a test can
assert a sensor went through ``deferred``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_import_status.simulators import connection_env
from airflow_import_status.simulators.server import SimulatorClient

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = REPO / "example_dags"
DEPLOYMENT_DAGS = Path(__file__).resolve().parent / "deployment_dags"
VENV_BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
WAITING_MODULE_PREFIXES = ("airflow_import_status.sensors.", "airflow_import_status.operators.")
"""Modules of this provider's waiting tasks: the sensors and the start-import operators (sensors too)."""


def example_dag_files() -> list[Path]:
    """Every ``example_dags/example_*.py``: the deployment test runs all of them."""
    return sorted(EXAMPLE_DAGS.glob("example_*.py"))


@contextlib.contextmanager
def home_kept_on_failure(request: pytest.FixtureRequest, home: Path) -> Iterator[None]:
    """Delete a deployment's home after the tests that used it, unless one failed: then say where it is."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed == failed_before:
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"kept the deployment's home for inspection: {home}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Any, *, timeout: float, interval: float = 0.5, what: str) -> Any:
    """Call ``condition()`` until it returns something truthy; return it, or raise ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class ManagedProcess:
    """A process started by this module as the leader of its own session (``setsid``).

    Only this process group is ever signalled: nothing this module did not start.
    """

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log_path: Path, *, user: str | None = None
    ) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                argv,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=user,  # e.g. PostgreSQL, which refuses to run as root
            )
        self.pid = self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group (the process and the children it forked): a crash, not a shutdown."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, grace: float = 15) -> None:
        """SIGINT the group, then SIGTERM, then SIGKILL whatever is left of it."""
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5)):
            self._signal_group(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=wait)
                break
        # children may outlive the leader: the group id stays reserved while any member lives
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class AirflowApi:
    """The Airflow REST API (``/api/v2``) as the admin user of the simple auth manager."""

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        response = self.session.post(
            f"{self.base_url}/auth/token", json={"username": "admin", "password": password}, timeout=30
        )
        response.raise_for_status()
        self.token: str = response.json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def request(self, method: str, path: str, *, expect: Iterable[int] = (200,), **kwargs: Any) -> requests.Response:
        response = self.session.request(method, f"{self.base_url}/api/v2/{path.lstrip('/')}", timeout=30, **kwargs)
        if response.status_code not in set(expect):
            raise AssertionError(f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}")
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    # ----- DAGs -------------------------------------------------------------------------------
    def dags(self) -> list[dict[str, Any]]:
        return self.get("dags", limit=1000)["dags"]

    def import_errors(self) -> list[dict[str, Any]]:
        return self.get("importErrors", limit=1000)["import_errors"]

    def dag_ids_by_file(self) -> dict[str, list[str]]:
        """DAG ids by the file name they were parsed from."""
        by_file: dict[str, list[str]] = defaultdict(list)
        for dag in self.dags():
            by_file[Path(dag["fileloc"]).name].append(dag["dag_id"])
        return by_file

    def wait_for_dag_files(self, file_names: Iterable[str], timeout: float = 120) -> dict[str, list[str]]:
        """Wait until the dag-processor has serialized every file; fail fast on an import error."""
        wanted = set(file_names)

        def parsed() -> tuple[dict[str, list[str]]] | None:
            errors = {Path(e["filename"]).name: e["stack_trace"] for e in self.import_errors()}
            broken = wanted & set(errors)
            if broken:
                raise AssertionError(f"DAG import errors: {json.dumps({n: errors[n] for n in broken}, indent=1)}")
            by_file = self.dag_ids_by_file()
            return (by_file,) if wanted <= set(by_file) else None

        [by_file] = wait_until(parsed, timeout=timeout, interval=1, what=f"DAG files {sorted(wanted)} to be parsed")
        return by_file

    def tasks(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"dags/{dag_id}/tasks")["tasks"]

    def sensor_task_ids(self, dag_id: str) -> list[str]:
        """The DAG's tasks that wait for an import: this provider's sensors and start-import operators."""
        return [
            task["task_id"]
            for task in self.tasks(dag_id)
            if (task.get("class_ref") or {}).get("module_path", "").startswith(WAITING_MODULE_PREFIXES)
        ]

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Unpause and trigger ``dag_id``; return the run id."""
        self.unpause(dag_id)
        response = self.request("POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return response.json()["dag_run_id"]

    # ----- runs and task instances ------------------------------------------------------------
    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"dags/{dag_id}/dagRuns/{run_id}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        """Wait for a run to finish; return its state (success or failed)."""
        run = wait_until(
            lambda: (r := self.dag_run(dag_id, run_id))["state"] in TERMINAL_RUN_STATES and r,
            timeout=timeout,
            what=f"run {dag_id}/{run_id} to finish",
        )
        return run["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=1000)["task_instances"]

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """The XCom value (deserialized, as JSON), or ``None`` if there is none."""
        response = self.request(
            "GET",
            f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": "true", "stringify": "false"},
            expect=(200, 404),
        )
        return response.json()["value"] if response.status_code == 200 else None

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task's log (including what the triggerer logged for it), one event per line."""
        data = self.get(
            f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}", full_content="true"
        )
        content = data.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(line.get("event", "") if isinstance(line, dict) else str(line) for line in content or [])

    def hook_meta(self) -> list[dict[str, Any]]:
        """What the UI's connection form is built from (an internal ``/ui`` route)."""
        response = self.session.get(f"{self.base_url}/ui/connections/hook_meta", timeout=30)
        response.raise_for_status()
        return response.json()

    def test_connection(self, connection: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "connections/test", json=connection).json()


class StateWatcher:
    """Records every state each watched task instance is seen in (polled every ``interval`` s)."""

    def __init__(self, api: AirflowApi, interval: float = 0.25) -> None:
        self.api = api
        self.interval = interval
        self.runs: list[tuple[str, str]] = []
        self.states: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="ti-state-watcher", daemon=True)

    def watch(self, dag_id: str, run_id: str) -> None:
        self.runs.append((dag_id, run_id))

    def seen(self, dag_id: str, run_id: str, task_id: str) -> list[str]:
        """The distinct states seen, in order."""
        return self.states[(dag_id, run_id, task_id)]

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            for dag_id, run_id in list(self.runs):
                with contextlib.suppress(requests.RequestException, AssertionError):
                    for ti in self.api.task_instances(dag_id, run_id):
                        seen = self.states[(dag_id, run_id, ti["task_id"])]
                        if ti["state"] and (not seen or seen[-1] != ti["state"]):
                            seen.append(ti["state"])

    def __enter__(self) -> StateWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class AirflowDeployment:
    """Airflow 3 as separate processes on 127.0.0.1, from a temporary home, with the simulators.

    :param dag_files: files linked into the DAG folder (default: every example DAG).
    :param config: extra ``AIRFLOW__SECTION__KEY`` settings.

    Subclasses change the shape through :attr:`components`, :meth:`component_argv`,
    :meth:`component_env` and :meth:`start_services` / :meth:`stop_services` (e.g. a database).
    """

    components: tuple[str, ...] = COMPONENTS
    """The Airflow processes started, in order (stopped in reverse)."""

    def __init__(self, dag_files: Iterable[Path] | None = None, *, config: dict[str, str] | None = None) -> None:
        self.dag_files = list(dag_files if dag_files is not None else example_dag_files())
        self.home = Path(tempfile.mkdtemp(prefix="airflow-deployment-"))
        self.dags_folder = self.home / "dags"
        self.api_port = free_port()
        self.sim_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.processes: dict[str, ManagedProcess] = {}
        self.retired: list[ManagedProcess] = []
        self.env = self._environment(config or {})
        self.api: AirflowApi
        self.sim = SimulatorClient(self.sim_url)
        self.dag_ids: dict[str, list[str]] = {}
        """DAG ids by DAG file name, once :meth:`start` has seen every file parsed."""

    def _environment(self, config: dict[str, str]) -> dict[str, str]:
        """The parent's environment minus its Airflow settings, plus this deployment's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_HOME"))}
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.base_url}/execution/",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.home / 'airflow.db'}",
            AIRFLOW__API__BASE_URL=self.base_url,
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.api_port),
            AIRFLOW__API__WORKERS="1",
            # every component must sign and check the same tokens
            AIRFLOW__API_AUTH__JWT_SECRET=os.urandom(16).hex(),
            AIRFLOW__API__SECRET_KEY=os.urandom(16).hex(),
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            # the worker notices its task process exited within 1 s, not 5 s: Airflow 3.3.2 fails a
            # deferred task whose trigger fires before that exit is reported (apache/airflow#67287)
            AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL="1",
            # a killed triggerer's triggers move to a live one once its heartbeat is this old
            AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="1",
            AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="6",
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        )
        env.update(connection_env(self.sim_url, shipped_only=True))  # Airflow's processes know no test vendor
        env.update(config)
        return env

    # ----- lifecycle --------------------------------------------------------------------------
    def component_argv(self, name: str) -> list[str]:
        """The command line of one of :attr:`components`."""
        return [str(VENV_BIN / "airflow"), name]

    def component_env(self, name: str) -> dict[str, str]:
        """The environment of one of :attr:`components`."""
        return self.env

    def start_services(self) -> None:
        """Start what Airflow needs before ``db migrate`` (nothing for SQLite)."""

    def stop_services(self) -> None:
        """Stop what :meth:`start_services` started."""

    def _start(self, name: str, *argv: str, env: dict[str, str] | None = None) -> ManagedProcess:
        runs = sum(1 for p in [*self.retired, *self.processes.values()] if p.name == name)
        process = ManagedProcess(
            name,
            list(argv),
            env if env is not None else self.env,
            self.home / f"{name}{'' if not runs else f'-{runs + 1}'}.out",
        )
        self.processes[name] = process
        return process

    def start_component(self, name: str) -> ManagedProcess:
        """Start one of :attr:`components` (again)."""
        if name in self.processes:
            raise RuntimeError(f"{name} is already running")
        return self._start(name, *self.component_argv(name), env=self.component_env(name))

    def kill_component(self, name: str) -> int:
        """``kill -9`` a component's process group (as when its container dies); return its PID."""
        process = self.processes.pop(name)
        process.kill()
        self.retired.append(process)
        return process.pid

    def stop_component(self, name: str) -> None:
        """Stop a component the way a shutdown does (SIGINT, then harder)."""
        process = self.processes.pop(name)
        process.stop()
        self.retired.append(process)

    def airflow(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` CLI command against this deployment."""
        result = subprocess.run(
            [str(VENV_BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def start(self, timeout: float = 120) -> AirflowDeployment:
        self.dags_folder.mkdir()
        for path in self.dag_files:
            (self.dags_folder / path.name).symlink_to(path)
        sim = self._start(
            "simulators", sys.executable, "-m", "airflow_import_status.simulators", "--port", str(self.sim_port)
        )
        self.start_services()
        self.airflow("db", "migrate", timeout=timeout)
        for component in self.components:
            self.start_component(component)
        wait_until(self._sim_up, timeout=30, what=f"the simulators ({sim.log_path})")
        wait_until(self._healthy, timeout=timeout, what="all Airflow components to be healthy")
        password_file = self.home / "simple_auth_manager_passwords.json.generated"
        self.api = AirflowApi(self.base_url, json.loads(password_file.read_text())["admin"])
        self.dag_ids = self.api.wait_for_dag_files(path.name for path in self.dag_files)
        return self

    def _sim_up(self) -> bool:
        try:
            return requests.get(f"{self.sim_url}/_sim/requests", timeout=2).ok
        except requests.RequestException:
            return False

    def _check_alive(self) -> None:
        dead = [p for p in self.processes.values() if not p.running]
        if dead:
            raise RuntimeError("; ".join(f"{p.name} exited {p.popen.returncode}:\n{p.log_tail()}" for p in dead))

    def health(self) -> dict[str, Any]:
        return requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()

    def _healthy(self) -> bool:
        self._check_alive()
        try:
            health = self.health()
        except (requests.RequestException, ValueError):
            return False
        return all(
            (health.get(part) or {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )

    def kill_triggerer(self) -> int:
        """``kill -9`` the triggerer's process group (as when its container dies); return its PID."""
        return self.kill_component("triggerer")

    def start_triggerer(self) -> ManagedProcess:
        return self.start_component("triggerer")

    def stop(self) -> None:
        """Stop every process this deployment started: Airflow components, simulators, then services."""
        try:
            order = [*reversed(self.components), "simulators"]
            for name in sorted(self.processes, key=lambda n: order.index(n) if n in order else -1):
                self.processes.pop(name).stop()
        finally:
            self.stop_services()

    def diagnostics(self) -> str:
        return "\n".join(f"----- {p.name} (pid {p.pid}) -----\n{p.log_tail()}" for p in self.processes.values())

    def __enter__(self) -> AirflowDeployment:
        try:
            return self.start()
        except BaseException:
            print(self.diagnostics(), file=sys.stderr)
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
