"""The real ``airflow triggerer`` on PostgreSQL, holding N import triggers, beside the simulated runner.

    make bench-triggerer                                  # N = 1000 and 5000 (about 12 minutes on 2 cores)
    make bench-triggerer BENCH_ARGS="--sizes 100 --window 30"   # a quick look

What runs: a throw-away PostgreSQL 15 (``tests/distributed.py``'s server), ``airflow db migrate``,
the vendor simulators over HTTPS on 127.0.0.1 with a fixed latency (``bench_support``), and
``airflow triggerer`` as production runs it: the supervisor process (DB access, heartbeats,
per-trigger log files), its trigger-runner subprocess (the event loop) and its log server,
logging at INFO. Nothing else of Airflow runs (no scheduler, no worker, no API server).

How the triggers get there, without a scheduler: one DAG (``real_triggerer``) with one plain
deferrable sensor per vendor (``poke_interval=30``, job id templated from the run's conf) is
serialized by ``airflow dags reserialize``; per size, N / 5 DAG runs are created with
``create_dagrun`` (which makes their task instances), and each task instance is set to
``deferred`` with a ``trigger`` row, as the execution API's deferral does: the trigger's kwargs
are those ``ImportStatusSensor.execute`` deferred with (its ``TaskDeferred`` is caught once per
vendor, after its real sync poll) with that run's job id, serialized through ``airflow.sdk.serde``
as the task runner sends them; ``next_method="execute_complete"``; ``trigger_timeout`` from the
deferral's timeout. The triggerer finds them by itself (``Trigger.assign_unassigned``, at most
``[triggerer] max_trigger_to_select_per_loop`` = 50 a second, Airflow's default) and sends the
runner a ``RunTrigger`` workload with the task instance. The jobs never finish.

Measured per size over a window (``--window``) that starts once every trigger made its first poll,
or after ``--ramp-cap`` seconds (then over the triggers that did start polling; the table says how many):

- polls and polls/s: the simulators' per-job status-poll counters (cross-checked with the
  per-trigger log files' progress lines);
- CPU per poll: user + system CPU of every process of the triggerer (supervisor, runner, log
  server: ``/proc`` through psutil) over the window / polls in it, and its ratio to raw aiohttp
  (Which50's status request on one bare session, ``triggerer_capacity.py``'s baseline, measured
  in this run at concurrency N and the same latency);
- lateness: from the simulators' answer times per job (``poll_times``), each poll's answer time
  minus (the previous answer + 30 s) minus the vendor's smallest such gap in the run (the fixed
  cost of a poll), polls still overdue at the end counted with the lateness they had reached;
  p50, p99, max, share <= 1 s;
- loop stalls: the runner's own watchdog ("Triggerer's async thread was blocked for ..."),
  with ``[triggerer] blocked_main_thread_warning_threshold`` set to 0.15 s (its 100 ms sleep
  included: any stall over 50 ms is logged); longest and count;
- RSS of the triggerer's processes: idle (started, no trigger), warm (5 triggers run, one per
  vendor: modules, SSL context, pools), loaded (N waiting); KiB per trigger = (loaded - warm) / N;
- heartbeats: the triggerer's ``job.latest_heartbeat`` sampled every 2 s; its oldest age seen
  (OK below ``[triggerer] triggerer_health_check_threshold``); task instances no longer deferred.

The simulated runner (``triggerer_capacity.py``'s interval scenario: N triggers in one process,
each polling twice, 30 s apart) runs in the same session at the same latency, with its own raw
baseline ratio. Results also go to ``benchmarks/results/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from bench_support import REPO, SimulatorProcess, connection_env, free_port, percentile

sys.path.insert(0, str(REPO))  # tests/: the PostgreSQL server and process helpers the deployment tests use

DAG_ID = "real_triggerer"
STALL_THRESHOLD_S = 0.15
"""``blocked_main_thread_warning_threshold``: the watchdog sleeps 100 ms, so a stall over 50 ms is logged."""
WATCHDOG_SLEEP_S = 0.1
BLOCKED = re.compile(r"Triggerer's async thread was blocked for ([0-9.]+) seconds")
RUNNING_FOREVER = [{"state": "running", "progress": 50}]
"""A simulator job script whose last step repeats forever: the job never finishes."""

DAG_FILE = '''"""Written by benchmarks/triggerer_real.py: a deferrable sensor per vendor, job id from the run's conf."""

import datetime as dt
import importlib

from airflow.sdk import DAG

SENSORS = {sensors!r}

with DAG("{dag_id}", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False) as dag:
    for vendor, (class_path, params, id_field) in SENSORS.items():
        module, _, name = class_path.rpartition(".")
        getattr(importlib.import_module(module), name)(
            task_id=vendor,
            deferrable=True,
            poke_interval={interval!r},
            **params,
            **{{id_field: "{{{{ dag_run.conf['" + vendor + "'] }}}}"}},
        )
'''


# ----- the orchestrating process -----------------------------------------------------------------
def airflow_env(home: Path, db_url: str, sim: SimulatorProcess, capacity: int, log_level: str) -> dict[str, str]:
    """The environment of every Airflow process here: production defaults but for the few set below."""
    from tests.deployment import VENV_BIN

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_HOME"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=db_url,
        AIRFLOW__LOGGING__LOGGING_LEVEL=log_level,
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__TRIGGERER__CAPACITY=str(capacity),
        AIRFLOW__TRIGGERER__BLOCKED_MAIN_THREAD_WARNING_THRESHOLD=str(STALL_THRESHOLD_S),
    )
    env.update(connection_env(sim.url, sim.certfile))
    return env


def run(argv: list[str], env: dict[str, str], what: str, timeout: float = 300, stdin: str | None = None) -> str:
    import subprocess

    done = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{what} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


class Database:
    """Plain SQL on the benchmark's metadata DB (what an operator of the deployment would query)."""

    def __init__(self, port: int) -> None:
        import psycopg2

        from tests.distributed import DB_NAME, DB_ROLE

        self.conn = psycopg2.connect(host="127.0.0.1", port=port, user=DB_ROLE, dbname=DB_NAME, connect_timeout=10)
        self.conn.autocommit = True

    def one(self, sql: str, *params: Any) -> Any:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
            return row[0] if row else None

    def execute(self, sql: str, *params: Any) -> None:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def sample(pid: int) -> dict[str, Any]:
    """CPU seconds and RSS of the triggerer's processes (supervisor, runner, log server)."""
    processes = {}
    for process in tree(pid):
        try:
            with process.oneshot():
                cpu = process.cpu_times()
                processes[process.pid] = {
                    "cmd": " ".join(process.cmdline())[:80],
                    "cpu_s": cpu.user + cpu.system,
                    "rss_kib": process.memory_info().rss // 1024,
                }
        except psutil.NoSuchProcess:
            continue
    return {
        "at": time.monotonic(),
        "cpu_s": sum(p["cpu_s"] for p in processes.values()),
        "rss_kib": sum(p["rss_kib"] for p in processes.values()),
        "processes": processes,
    }


class RealTriggerer:
    """PostgreSQL, the simulators (shared with the simulated runner) and ``airflow triggerer`` runs."""

    def __init__(self, sim: SimulatorProcess, recipes: dict[str, Any], vendors: list[str], args: argparse.Namespace):
        from tests.distributed import PostgresServer

        self.sim, self.recipes, self.vendors, self.args = sim, recipes, vendors, args
        self.home = Path(tempfile.mkdtemp(prefix="triggerer-real-"))
        (self.home / "dags").mkdir()
        self.postgres = PostgresServer()
        self.env = airflow_env(self.home, self.postgres.url(), sim, max(args.sizes) + 10, args.log_level)
        self.db: Database | None = None
        self.keep = False
        """Keep the home (logs, per-trigger logs) after a failure."""
        self.template_jobs: dict[str, dict[str, Any]] = {}
        """Per vendor, a job that never finishes: the one ``execute`` call's sync poll does not end it."""

    def start(self) -> None:
        from tests.deployment import VENV_BIN

        began = time.monotonic()
        self.postgres.start(self.home / "postgres.out", self.env)
        self.db = Database(self.postgres.port)
        sensors = {
            v: (r["sensor_class"], r["params"], r["id_field"]) for v, r in self.recipes.items() if v in self.vendors
        }
        dag_file = DAG_FILE.format(sensors=sensors, dag_id=DAG_ID, interval=self.args.interval)
        (self.home / "dags" / f"{DAG_ID}.py").write_text(dag_file)
        self.template_jobs = {vendor: jobs[0] for vendor, jobs in self.jobs(len(self.vendors), RUNNING_FOREVER).items()}
        run([str(VENV_BIN / "airflow"), "db", "migrate"], self.env, "airflow db migrate")
        run([str(VENV_BIN / "airflow"), "dags", "reserialize"], self.env, "airflow dags reserialize")
        print(
            f"PostgreSQL {self.postgres.bin.parent.name}, migrated, DAG serialized in {time.monotonic() - began:.0f} s"
        )

    def insert(self, prefix: str, jobs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        """Deferred task instances with their triggers, in one child process with the Airflow environment."""
        spec = {
            "prefix": prefix,
            "jobs": jobs,
            "template_jobs": self.template_jobs,
            "dag_file": str(self.home / "dags" / f"{DAG_ID}.py"),
        }
        out = run(
            [sys.executable, str(Path(__file__).resolve()), "--child"], self.env, "insert", stdin=json.dumps(spec)
        )
        return dict(json.loads(out.strip().splitlines()[-1]))

    def jobs(self, count: int, script: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """``count`` simulator jobs spread round-robin over the vendors (no reset: earlier jobs stay)."""
        counts = {v: count // len(self.vendors) + (i < count % len(self.vendors)) for i, v in enumerate(self.vendors)}
        made = {}
        for vendor, n in counts.items():
            recipe = self.recipes[vendor]
            views = self.sim.post("jobs", {"vendor": vendor, "count": n, "params": recipe["params"], "script": script})
            made[vendor] = [{**recipe["params"], recipe["id_field"]: view["job_id"]} for view in views["jobs"]]
        return made

    def polls(self, jobs: dict[str, list[dict[str, Any]]]) -> tuple[int, int]:
        """(status polls so far, jobs polled at least once) of these jobs, from the simulators' counters."""
        times = self.poll_times(jobs)
        return sum(len(t) for t in times.values()), sum(bool(t) for t in times.values())

    def poll_times(self, jobs: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str], list[float]]:
        """When each of these jobs' status polls was answered, per (vendor, job id), from the simulators."""
        found: dict[tuple[str, str], list[float]] = {}
        for vendor, vendor_jobs in jobs.items():
            wanted = {str(job[self.recipes[vendor]["id_field"]]) for job in vendor_jobs}
            for view in self.sim.get("jobs", {"vendor": vendor})["jobs"]:
                if view["job_id"] in wanted:
                    found[(vendor, view["job_id"])] = view["poll_times"]
        return found

    def measure(self, size: int) -> dict[str, Any]:
        from tests.deployment import VENV_BIN, ManagedProcess, wait_until

        assert self.db is not None
        db = self.db
        self.sim.post("config", {"latency": self.args.latency})
        log_path = self.home / f"triggerer-{size}.out"
        process = ManagedProcess(f"triggerer-{size}", [str(VENV_BIN / "airflow"), "triggerer"], self.env, log_path)
        result: dict[str, Any] = {"size": size}
        try:
            started = time.monotonic()
            job_id = wait_until(
                lambda: (
                    process.running
                    and db.one(
                        "SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running' AND end_date IS NULL "
                        "AND latest_heartbeat > now() - interval '10 seconds' ORDER BY id DESC LIMIT 1"
                    )
                ),
                timeout=120,
                interval=0.5,
                what=f"the triggerer to heartbeat ({log_path})",
            )
            wait_until(lambda: len(tree(process.pid)) >= 3, timeout=60, what="the trigger runner subprocess")
            time.sleep(5)
            idle = sample(process.pid)
            result["startup_s"] = time.monotonic() - started
            time.sleep(self.args.idle)
            idle_end = sample(process.pid)
            idle_cpu_per_s = (idle_end["cpu_s"] - idle["cpu_s"]) / (idle_end["at"] - idle["at"])
            heartbeat_ages: list[float] = []

            def heartbeat() -> None:
                heartbeat_ages.append(
                    float(db.one("SELECT extract(epoch FROM now() - latest_heartbeat) FROM job WHERE id = %s", job_id))
                )

            # warm-up: one trigger per vendor whose job finishes at its first poll (its event resumes the task)
            warm_jobs = self.jobs(len(self.vendors), [{"state": "succeeded", "progress": 100}])
            self.insert(f"warm_{size}", warm_jobs)
            wait_until(lambda: self.polls(warm_jobs)[1] == len(self.vendors), timeout=60, what="warm-up polls")
            time.sleep(3)
            warm = sample(process.pid)

            jobs = self.jobs(size, RUNNING_FOREVER)
            inserted = self.insert(f"n{size}", jobs)
            loaded_at = time.monotonic()
            result["insert_s"] = inserted["seconds"]
            while (polled := self.polls(jobs)[1]) < size and time.monotonic() - loaded_at < self.args.ramp_cap:
                heartbeat()
                if not process.running:
                    raise RuntimeError(f"the triggerer exited:\n{process.log_tail()}")
                time.sleep(2)
            # past the cap the window measures the triggers that did start polling (the table says how many)
            result["first_polled"] = polled
            result["all_polled_s"] = time.monotonic() - loaded_at if polled == size else None
            time.sleep(2)
            first = sample(process.pid)
            polls_first, _ = self.polls(jobs)
            while time.monotonic() < first["at"] + self.args.window:
                heartbeat()
                time.sleep(2)
            last = sample(process.pid)
            polls_last, _ = self.polls(jobs)
            heartbeat()
            ended = time.time()
            deferred = db.one(
                "SELECT count(*) FROM task_instance WHERE dag_id = %s AND run_id LIKE %s AND state = 'deferred'",
                DAG_ID,
                f"n{size}_%",
            )
            window = last["at"] - first["at"]
            polls = polls_last - polls_first
            cpu_by_process = {
                pid: p["cpu_s"] - first["processes"].get(pid, {"cpu_s": 0.0})["cpu_s"]
                for pid, p in last["processes"].items()
            }
            runner = max((pid for pid in cpu_by_process if pid != process.pid), key=cpu_by_process.__getitem__)
            result.update(
                window_s=window,
                polls=polls,
                polls_per_s=polls / window,
                cpu_s_per_poll=(last["cpu_s"] - first["cpu_s"]) / polls if polls else float("nan"),
                idle_cpu_s_per_s=idle_cpu_per_s,
                cpu_s_per_poll_net=(last["cpu_s"] - first["cpu_s"] - idle_cpu_per_s * window) / polls,
                cpu_share_supervisor=cpu_by_process[process.pid] / max(1e-9, last["cpu_s"] - first["cpu_s"]),
                cpu_share_runner=cpu_by_process[runner] / max(1e-9, last["cpu_s"] - first["cpu_s"]),
                rss_idle_kib=idle["rss_kib"],
                rss_warm_kib=warm["rss_kib"],
                rss_loaded_kib=last["rss_kib"],
                rss_kib_per_trigger=(last["rss_kib"] - warm["rss_kib"]) / size,
                processes={str(pid): p for pid, p in last["processes"].items()},
                heartbeat_max_age_s=max(heartbeat_ages),
                heartbeat_samples=len(heartbeat_ages),
                still_deferred=deferred,
            )
        finally:
            process.stop()
        offset = time.time() - time.monotonic()
        window_epoch = (first["at"] + offset, last["at"] + offset)
        result.update(lateness(self.poll_times(jobs), self.args.interval, ended, window_epoch))
        result.update(trigger_logs(self.home / "logs", f"n{size}_"))
        result.update(stalls(log_path, first["at"] + time.time() - time.monotonic(), window))
        result["polls_in_window_match"] = result["polls_in_window"] == result["polls"]
        # the next size starts from an empty trigger table: these task instances are done with
        db.execute("UPDATE task_instance SET state = 'success', trigger_id = NULL WHERE dag_id = %s", DAG_ID)
        db.execute("DELETE FROM trigger")
        return result

    def stop(self) -> None:
        try:
            if self.db is not None:
                self.db.conn.close()
            self.postgres.stop()
        finally:
            if not self.keep:
                shutil.rmtree(self.home, ignore_errors=True)


def lateness(
    answers: dict[tuple[str, str], list[float]], interval: float, ended: float, window: tuple[float, float]
) -> dict[str, Any]:
    """Poll lateness from the simulators' answer times per job: each answer minus (the previous answer +
    ``interval``) minus the vendor's smallest such gap in the run; polls overdue at the end count with the
    lateness they had reached."""
    floor: dict[str, float] = {}
    for (vendor, _), times in answers.items():
        for previous, current in itertools.pairwise(times):
            floor[vendor] = min(floor.get(vendor, float("inf")), current - previous - interval)
    late = []
    for (vendor, _), times in answers.items():
        late += [current - previous - interval - floor[vendor] for previous, current in itertools.pairwise(times)]
        if times and ended > times[-1] + interval + floor.get(vendor, 0.0) + 1.0:  # overdue at the end
            late.append(ended - times[-1] - interval - floor.get(vendor, 0.0))
    return {
        "polls_total": sum(len(times) for times in answers.values()),
        "polls_in_window": sum(window[0] < t <= window[1] for times in answers.values() for t in times),
        "late_p50_s": percentile(late, 0.5),
        "late_p99_s": percentile(late, 0.99),
        "late_max_s": max(late, default=float("nan")),
        "within_1s": sum(value <= 1.0 for value in late) / len(late) if late else float("nan"),
        "scheduled_polls": len(late),
        "fixed_poll_cost_s": floor,
    }


def trigger_logs(root: Path, prefix: str) -> dict[str, Any]:
    """The per-trigger log files the supervisor writes (JSON lines): files, INFO poll lines and their bytes.

    A waiting trigger logs a poll at INFO only when its progress changed (or every 10 minutes), so
    these lines are fewer than the polls; lateness comes from the simulators' answer times instead.
    """
    files = lines = log_bytes = 0
    for path in root.glob(f"dag_id={DAG_ID}/run_id={prefix}*/task_id=*/attempt=*.log.trigger.*.log"):
        files += 1
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if "import job" in str(event.get("event")) and event.get("level") == "info":
                lines += 1
                log_bytes += len(line) + 1
    return {
        "log_files": files,
        "log_poll_lines": lines,
        "log_bytes_per_poll_line": log_bytes / lines if lines else float("nan"),
    }


def stalls(log_path: Path, window_start: float, window: float) -> dict[str, Any]:
    """The runner's own watchdog lines (each a 100 ms sleep that took longer than the threshold): window, whole run."""
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        if match := BLOCKED.search(line):
            at = dt.datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()
            found.append((at, float(match.group(1)) - WATCHDOG_SLEEP_S))
    steady = [stall for at, stall in found if window_start <= at <= window_start + window]
    return {
        "longest_stall_s": max(steady, default=0.0),
        "stalls_over_50ms": len(steady),
        "longest_stall_run_s": max((stall for _, stall in found), default=0.0),
        "stalls_over_50ms_run": len(found),
    }


def vendor_recipes() -> dict[str, dict[str, Any]]:
    from triggerer_capacity import vendor_recipes as capacity_recipes

    from airflow_import_status.vendors import builtin_specs

    recipes = capacity_recipes()
    for spec in builtin_specs():
        recipes[spec.key]["sensor_class"] = spec.sensor_class_name
    return recipes


def orchestrate(args: argparse.Namespace) -> None:
    from triggerer_capacity import Orchestrator, machine

    from tests.distributed import postgres_bin_dir

    if postgres_bin_dir() is None:
        sys.exit("PostgreSQL is not installed (apt-get install postgresql): this benchmark runs the triggerer on it")

    began = time.monotonic()
    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="triggerer-real-bench-") as tmp:
        bench = Orchestrator(argparse.Namespace(profile=None), Path(tmp))
        real: RealTriggerer | None = None
        rows: list[dict[str, Any]] = []
        try:
            vendors = bench.probe()
            print(f"vendors: {', '.join(vendors)}", flush=True)
            for size in args.sizes:  # the simulated runner first: its jobs_for() resets the simulators
                raw = bench.raw(size=size, latency=args.latency, rounds=args.raw_rounds, paced=False)
                if args.skip_simulated:
                    rows.append({"size": size, "raw": raw, "simulated": None})
                    continue
                simulated = bench.scenario(
                    vendors,
                    design="async",
                    size=size,
                    latency=args.latency,
                    interval=args.interval,
                    polls=2,
                    cap=args.interval + 13,
                    kind="interval",
                )
                rows.append({"size": size, "raw": raw, "simulated": simulated})
            bench.simulator.post("reset", {})
            real = RealTriggerer(bench.simulator, vendor_recipes(), vendors, args)
            real.start()
            for row in rows:
                row["real"] = real.measure(row["size"])
                print(json.dumps({k: v for k, v in row["real"].items() if k != "processes"}), flush=True)
        except BaseException:
            if real is not None:
                real.keep = True
                print(f"kept the triggerer's home for inspection: {real.home}", file=sys.stderr)
            raise
        finally:
            if real is not None:
                real.stop()
            bench.stop()
    table = format_table(rows, args)
    print("\n" + table, flush=True)
    print(f"\nbenchmark took {time.monotonic() - began:.0f} s", flush=True)
    if args.results_dir:
        out = Path(args.results_dir)
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (out / f"triggerer_real-{stamp}.json").write_text(
            json.dumps({"machine": machine(), "args": vars(args), "rows": rows}, indent=2, default=str)
        )
        (out / f"triggerer_real-{stamp}.txt").write_text(table + "\n")


def format_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"real triggerer vs simulated runner ({args.latency * 1000:.0f} ms vendor latency, {args.interval:.0f} s "
        f"interval, jobs never finish; real: logs at {args.log_level}, {args.window:.0f} s window once every trigger "
        f"polled or after {args.ramp_cap:.0f} s)",
        "",
        f"{'':<24}"
        + "".join(f"{'N=' + str(r['size']) + ' real':>14}{'N=' + str(r['size']) + ' sim':>14}" for r in rows),
    ]

    def line(label: str, real: Any, simulated: Any) -> None:
        cells = "".join(
            f"{real(r['real'], r):>14}{simulated(r['simulated'], r) if r['simulated'] else '-':>14}" for r in rows
        )
        lines.append(f"{label:<24}{cells}")

    def ms(value: float) -> str:
        return f"{1000 * value:.0f}"

    line("polls measured", lambda x, r: x["polls"], lambda x, r: x["polls"])
    line("polls/s", lambda x, r: f"{x['polls_per_s']:.1f}", lambda x, r: f"{x['polls_per_s']:.1f}")
    line(
        "CPU ms/poll",
        lambda x, r: f"{1000 * x['cpu_s_per_poll']:.2f}",
        lambda x, r: f"{1000 * x['cpu_s_per_poll']:.2f}",
    )
    line(
        "  / raw aiohttp",
        lambda x, r: f"{x['cpu_s_per_poll'] / r['raw']['cpu_s_per_poll']:.1f}x",
        lambda x, r: f"{x['cpu_s_per_poll'] / r['raw']['cpu_s_per_poll']:.1f}x",
    )
    line(
        "CPU ms/poll net of idle",
        lambda x, r: f"{1000 * x['cpu_s_per_poll_net']:.2f}",
        lambda x, r: "-",
    )
    line(
        "  / raw aiohttp",
        lambda x, r: f"{x['cpu_s_per_poll_net'] / r['raw']['cpu_s_per_poll']:.1f}x",
        lambda x, r: "-",
    )
    line(
        "  supervisor/runner %",
        lambda x, r: f"{100 * x['cpu_share_supervisor']:.0f}/{100 * x['cpu_share_runner']:.0f}",
        lambda x, r: "-/100",
    )
    line("idle CPU ms/s", lambda x, r: f"{1000 * x['idle_cpu_s_per_s']:.0f}", lambda x, r: "-")
    line("  raw aiohttp ms/poll", lambda x, r: f"{1000 * r['raw']['cpu_s_per_poll']:.2f}", lambda x, r: "same")
    line("late p50 ms", lambda x, r: ms(x["late_p50_s"]), lambda x, r: ms(x["late_p50_s"]))
    line("late p99 ms", lambda x, r: ms(x["late_p99_s"]), lambda x, r: ms(x["late_p99_s"]))
    line("late max ms", lambda x, r: ms(x["late_max_s"]), lambda x, r: "-")
    line("within 1 s %", lambda x, r: f"{100 * x['within_1s']:.1f}", lambda x, r: f"{100 * x['within_1s']:.1f}")
    line("longest stall ms", lambda x, r: ms(x["longest_stall_s"]), lambda x, r: ms(x["longest_stall_s"]))
    line("stalls > 50 ms", lambda x, r: x["stalls_over_50ms"], lambda x, r: x["stalls_over_50ms"])
    line(
        "  whole run: longest/n",
        lambda x, r: f"{1000 * x['longest_stall_run_s']:.0f}/{x['stalls_over_50ms_run']}",
        lambda x, r: "-",
    )
    line("GC pause ms", lambda x, r: "-", lambda x, r: ms(x["longest_gc_pause_s"]))
    line(
        "RSS idle/loaded MiB",
        lambda x, r: f"{x['rss_idle_kib'] / 1024:.0f}/{x['rss_loaded_kib'] / 1024:.0f}",
        lambda x, r: f"-/{x['peak_rss_kib'] / 1024:.0f}",
    )
    line(
        "RSS KiB/trigger",
        lambda x, r: f"{x['rss_kib_per_trigger']:.1f}",
        lambda x, r: f"{x['rss_kib_per_trigger']:.1f}",
    )
    line(
        "first polls done (s)",
        lambda x, r: (
            f"all ({x['all_polled_s']:.0f})"
            if x["all_polled_s"] is not None
            else f"{x['first_polled']} ({args.ramp_cap:.0f})"
        ),
        lambda x, r: f"all ({x['first_round_s']:.0f})",
    )
    line("heartbeat max age s", lambda x, r: f"{x['heartbeat_max_age_s']:.1f}", lambda x, r: "-")
    line(
        "still deferred",
        lambda x, r: f"{x['still_deferred']}/{x['size']}",
        lambda x, r: "-",
    )
    line("INFO poll lines / polls", lambda x, r: f"{x['log_poll_lines']}/{x['polls_total']}", lambda x, r: "-")
    line("log bytes/poll line", lambda x, r: f"{x['log_bytes_per_poll_line']:.0f}", lambda x, r: "-")
    return "\n".join(lines)


# ----- the insert child (Airflow's environment, the benchmark's metadata DB) --------------------
class _RecordingTi:
    """The ``ti`` of the one ``execute`` call per vendor: its XCom pushes are not what is measured."""

    def xcom_push(self, key: str, value: Any) -> None:
        """Dropped."""


def deferral(task: Any, job: dict[str, Any]) -> Any:
    """The ``TaskDeferred`` ``ImportStatusSensor.execute`` raises for ``job`` (after its sync poll)."""
    from airflow.sdk.exceptions import TaskDeferred

    for name, value in job.items():
        setattr(task, name, value)
    try:
        task.execute({"ti": _RecordingTi()})
    except TaskDeferred as deferred:
        return deferred
    raise RuntimeError(f"{task.task_id} did not defer: its job finished at the first poll")


def insert(spec: dict[str, Any]) -> dict[str, Any]:
    """DAG runs, then per task instance a ``trigger`` row and the deferred state (as the execution API's deferral)."""
    import importlib.util

    from airflow.models.dagbag import DBDagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.sdk.serde import serialize
    from airflow.utils import timezone
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select

    began = time.monotonic()
    module_spec = importlib.util.spec_from_file_location("real_triggerer_dag", spec["dag_file"])
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    sdk_dag = next(value for value in vars(module).values() if getattr(value, "dag_id", None) == DAG_ID)
    jobs: dict[str, list[dict[str, Any]]] = spec["jobs"]
    templates = {vendor: deferral(sdk_dag.get_task(vendor), job) for vendor, job in spec["template_jobs"].items()}
    runs = max(len(vendor_jobs) for vendor_jobs in jobs.values())
    with create_session() as session:
        dag = DBDagBag().get_latest_version_of_dag(DAG_ID, session=session)
        assert dag is not None
        now = timezone.utcnow()
        for number in range(runs):
            conf = {
                vendor: vendor_jobs[number][sdk_dag.get_task(vendor).spec.job_type.id_field()]
                for vendor, vendor_jobs in jobs.items()
                if number < len(vendor_jobs)
            }
            run = dag.create_dagrun(
                run_id=f"{spec['prefix']}_{number:05d}",
                run_after=now,
                conf=conf,
                run_type=DagRunType.MANUAL,
                triggered_by=DagRunTriggeredByType.TEST,
                state=DagRunState.RUNNING,
                start_date=now,
                session=session,
            )
            tis = session.scalars(
                select(TaskInstance).where(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run.run_id)
            )
            for ti in tis:
                if ti.task_id not in conf:
                    continue
                deferred = templates[ti.task_id]
                classpath, kwargs = deferred.trigger.serialize()
                kwargs = {**kwargs, "job": {**kwargs["job"], **jobs[ti.task_id][number]}}
                trigger = Trigger(classpath=classpath, kwargs={})
                trigger.encrypted_kwargs = json.dumps(serialize(kwargs))  # as the task runner sends them
                session.add(trigger)
                session.flush()
                ti.state = TaskInstanceState.DEFERRED
                ti.try_number = 1
                ti.start_date = now
                ti.trigger_id = trigger.id
                ti.next_method = deferred.method_name
                ti.next_kwargs = serialize(deferred.kwargs or {})
                ti.trigger_timeout = now + deferred.timeout if deferred.timeout else None
            if number % 100 == 99:
                session.commit()
    return {"seconds": time.monotonic() - began, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description="The real airflow triggerer on PostgreSQL vs the simulated runner.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000], help="triggers held")
    parser.add_argument("--latency", type=float, default=0.2, help="vendor latency (s)")
    parser.add_argument("--interval", type=float, default=30.0, help="poll interval (s)")
    parser.add_argument("--window", type=float, default=60.0, help="steady window after every first poll (s)")
    parser.add_argument("--idle", type=float, default=10.0, help="idle triggerer's CPU measured over (s)")
    parser.add_argument("--ramp-cap", type=float, default=150.0, help="longest wait for every first poll (s)")
    parser.add_argument("--raw-rounds", type=int, default=2, help="back-to-back requests per raw aiohttp poller")
    parser.add_argument(
        "--log-level", default="INFO", help="the triggerer's [logging] logging_level (INFO as in production)"
    )
    parser.add_argument("--skip-simulated", action="store_true", help="the real triggerer only (no comparison)")
    parser.add_argument("--results-dir", default=str(REPO / "benchmarks" / "results"), help="'' to skip")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(insert(json.load(sys.stdin))))
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
