"""Triggerer capacity: N ImportStatusTriggers in one event loop, against the thread-wrapped design.

    make bench                                   # the full matrix (under 10 minutes on 2 cores)
    make bench BENCH_ARGS="--sizes 100 --latencies 0.02 --cycle-polls 2 --interval 5"   # a quick look

The vendor simulators run in their own process over HTTPS on 127.0.0.1 (a self-signed
certificate made here, trusted through each connection's ``ca_bundle``) with a fixed latency on
every vendor request. Each scenario runs in a fresh process, as a triggerer would: the
``AIRFLOW_CONN_*`` variables point every vendor's default connection at the simulators, and N
triggers (spread round-robin over every vendor whose probe poll works) are created the way
Airflow's ``TriggerRunner`` creates them (one task per trigger iterating ``trigger.run()``,
``sleep(0)`` between creations). Each job finishes after a set number of polls.

Designs:

- ``async``: :class:`ImportStatusTrigger` as shipped (the hooks' ``apoll``: the package's
  :class:`~airflow_import_status.transport.AsyncTransport` over one aiohttp pool per loop and
  origin, first polls paced per loop);
- ``thread``: the same trigger, but each poll is the sync hook (``requests``) called through
  ``asyncio.to_thread`` on the default executor, as many providers do;
- ``raw:<vendor>`` (baseline of the CPU ratio): the vendor's own status exchange, the very
  requests one poll sends (captured from the package, signed once, shared token/WSDL/login
  already fetched) with the headers the async transport adds, sent back to back on one raw
  aiohttp session with no package code and no parsing (the body read whole), at the same
  concurrency and latency as the ``cpu:<vendor>`` runs, the pollers starting as the triggers'
  first polls do (``FIRST_POLL_SPACING_SECONDS`` apart: the same arrival pattern, since a loop pass
  that handles many answers at once costs less per answer). Each vendor's CPU per whole poll is
  reported as a ratio to its own raw run just before it, and to ``raw-lockstep`` (the former
  baseline: Which50's request, every poller starting at once) of the same round;
  ``--cpu-rounds`` rounds, the median ratio reported;
- ``cold:<vendor>``: the ``cpu:<vendor>`` run with no warm-up, every trigger starting with no
  token, WSDL or login cached; *fetches* counts the vendor requests that are not status polls.

Measured per run: polls/s; poll lateness p50/p99 (a poll's answer time minus its schedule
(previous answer + interval) minus the vendor's fastest poll in the run, so queueing in a pool
or an executor counts as late; polls still overdue when the run is cut off count with the
lateness they had reached); the share within 1 s; the longest event-loop stall (a watchdog
measuring the overshoot of 10 ms sleeps); CPU seconds per poll (process time, threads
included); peak RSS, and the RSS growth per trigger once all wait (first polls answered; the
peak growth where they never all wait, as in the interval-0 runs); the time until every job
was seen finished ("cut" when the run hit its time cap first). Trigger logs are at WARNING.

``objects`` (``--object-sizes``, 5,000 by default; all vendors, the largest latency, the 30 s
interval): what each waiting trigger keeps once all made their first poll, after a full
collection: GC-tracked objects (``gc.get_objects()`` delta) and bytes (``tracemalloc`` delta)
per trigger, the most common new types and allocation sites; and the median pause of a full
collection (``gc.collect()``) with no trigger, with the N triggers waiting, and with the N
triggers waiting on a start-up heap frozen before they were made (``gc.freeze()``: what the
triggers alone cost a collection).

``--only`` runs some parts: ``interval``, ``max``, ``cpu``, ``cold``, ``objects``, or one
vendor's (``cpu:mailup``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_support import (
    REPO,
    LoopWatchdog,
    SimulatorProcess,
    connection_env,
    make_certificate,
    percentile,
    rss_kib,
)

DESIGNS = ("async", "thread")


# ----- the orchestrating process -----------------------------------------------------------------
def vendor_recipes() -> dict[str, dict[str, Any]]:
    """Per shipped vendor, from the registry: its connection id, simulator job params, job id field."""
    from airflow_import_status.vendors import builtin_specs

    return {
        spec.key: {
            "conn_id": spec.simulator_class.conn_id,
            "params": dict(spec.simulator_class.job_params),
            "id_field": spec.job_type.id_field(),
            "status_request": dict(spec.simulator_class.status_request),
        }
        for spec in builtin_specs()
    }


def create_jobs(simulator: SimulatorProcess, recipe: dict[str, Any], vendor: str, count: int, polls: int) -> list:
    """``count`` simulator jobs finishing on poll ``polls``, as the hook's job dicts."""
    if count == 0:
        return []
    views = simulator.post("jobs", {"vendor": vendor, "count": count, "params": recipe["params"], "polls": polls})
    return [{**recipe["params"], recipe["id_field"]: view["job_id"]} for view in views["jobs"]]


def other_requests(simulator: SimulatorProcess, recipe: dict[str, Any], vendor: str) -> int:
    """Requests of ``vendor`` since the last reset that are not status polls (tokens, WSDL, logins)."""
    wanted = recipe["status_request"]
    log = simulator.get("requests", {"vendor": vendor}).get(vendor, [])
    method, path = wanted.get("method"), wanted.get("path_contains", "")
    return sum(not ((method is None or entry["method"] == method) and path in entry["path"]) for entry in log)


class Orchestrator:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        certfile, keyfile = make_certificate(workdir)
        self.simulator = SimulatorProcess(certfile, keyfile).wait_ready()
        self.env = {
            **os.environ,
            **connection_env(self.simulator.url, certfile),
            "AIRFLOW_HOME": str(workdir / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        self.ca_bundle = str(certfile)
        self.recipes = vendor_recipes()
        self.results: list[dict[str, Any]] = []

    def child(self, spec: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        sim_cpu = self.simulator.cpu_seconds()
        process = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child"],
            input=json.dumps(spec),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=spec.get("cap", 60) + 120,
        )
        if process.returncode != 0:
            raise RuntimeError(f"scenario {spec.get('name')} failed:\n{process.stderr[-3000:]}")
        result = json.loads(process.stdout.strip().splitlines()[-1])
        result["simulator_cpu_s"] = self.simulator.cpu_seconds() - sim_cpu
        result["process_s"] = time.monotonic() - started
        return result

    def jobs_for(self, vendors: list[str], total: int, polls: int) -> dict[str, list]:
        self.simulator.post("reset", {})
        counts = {v: total // len(vendors) + (i < total % len(vendors)) for i, v in enumerate(vendors)}
        return {v: create_jobs(self.simulator, self.recipes[v], v, counts[v], polls) for v in vendors}

    def probe(self) -> list[str]:
        """Vendors whose status poll works on both paths; the others are reported and left out."""
        candidates = list(self.recipes)
        self.simulator.post("config", {"latency": 0})
        spec = {"mode": "probe", "vendors": self._vendor_specs(self.jobs_for(candidates, 2 * len(candidates), 1))}
        problems = self.child(spec)["problems"]
        for vendor, problem in problems.items():
            print(f"EXCLUDED {vendor}: its probe poll failed: {problem}", flush=True)
        return [v for v in candidates if v not in problems]

    def _vendor_specs(self, jobs: dict[str, list]) -> list[dict[str, Any]]:
        return [
            {"vendor": vendor, "conn_id": self.recipes[vendor]["conn_id"], "jobs": vendor_jobs}
            for vendor, vendor_jobs in jobs.items()
        ]

    def scenario(
        self,
        vendors: list[str],
        *,
        design: str,
        size: int,
        latency: float,
        interval: float,
        polls: int,
        cap: float,
        kind: str,
        gc_freeze: bool = False,
        warm_up: bool = True,
        cpu_round: int | None = None,
    ) -> dict[str, Any]:
        self.simulator.post("config", {"latency": 0})
        jobs = self.jobs_for(vendors, size, polls)
        warmup = self.jobs_for_warmup(vendors) if warm_up else {}
        self.simulator.post("config", {"latency": latency})
        spec = {
            "mode": "run",
            "name": f"{kind} {design} N={size} latency={latency}",
            "design": design,
            "interval": interval,
            "cap": cap,
            "gc_freeze": gc_freeze,
            "profile": self._profile_path(kind, design, vendors),
            "vendors": self._vendor_specs(jobs),
            "warmup": self._vendor_specs(warmup),
        }
        result = self.child(spec)
        result["other_requests"] = sum(other_requests(self.simulator, self.recipes[v], v) for v in vendors)
        result.update(
            kind=kind,
            design=design,
            size=size,
            latency=latency,
            interval=interval,
            polls_per_job=polls,
            vendors=vendors,
            cpu_round=cpu_round,
        )
        self.results.append(result)
        print(format_row(result), flush=True)
        return result

    def one_vendor(
        self, vendor: str, *, kind: str, polls: int, warm_up: bool = True, cpu_round: int | None = None
    ) -> dict[str, Any]:
        """``--vendor-size`` triggers of one vendor at interval 0 (the ``cpu:`` and ``cold:`` runs)."""
        return self.scenario(
            [vendor],
            design="async",
            size=self.args.vendor_size,
            latency=self.args.throughput_latency,
            interval=0,
            polls=polls,
            cap=self.args.throughput_cap,
            kind=kind,
            warm_up=warm_up,
            cpu_round=cpu_round,
        )

    def _profile_path(self, kind: str, design: str, vendors: list[str]) -> str | None:
        """Where ``--profile`` writes this run's cProfile: the async max run, and each vendor's CPU run."""
        if not self.args.profile or design != "async":
            return None
        return {"max": self.args.profile, "vendor": f"{self.args.profile}.{vendors[0]}"}.get(kind)

    def raw(
        self,
        vendor: str = "which50",
        *,
        size: int,
        latency: float,
        rounds: int | None = None,
        cpu_round: int | None = None,
        paced: bool = True,
    ) -> dict[str, Any]:
        """The baseline: raw aiohttp, one session, ``vendor``'s status exchange as the package sends it.

        ``paced``: the pollers start as the triggers' first polls do (``FIRST_POLL_SPACING_SECONDS`` apart);
        otherwise all at once, in lockstep (cheaper per request: each loop pass handles many answers).
        """
        self.simulator.post("reset", {})
        self.simulator.post("config", {"latency": 0})
        recipe = self.recipes[vendor]
        view = self.simulator.post(
            "jobs", {"vendor": vendor, "params": recipe["params"], "script": [{"state": "running"}]}
        )
        job = {**recipe["params"], recipe["id_field"]: view["job_id"]}
        self.simulator.post("config", {"latency": latency})
        spec = {
            "mode": "raw",
            "name": f"raw aiohttp {vendor} N={size}",
            "vendor": vendor,
            "conn_id": recipe["conn_id"],
            "job": job,
            "concurrency": size,
            "rounds": rounds or self.args.throughput_polls,
            "ca_bundle": self.ca_bundle,
            "paced": paced,
        }
        result = self.child(spec)
        result.update(
            kind="raw" if paced else "raw-lockstep",
            design="aiohttp",
            size=size,
            latency=latency,
            interval=0,
            vendors=[vendor],
            cpu_round=cpu_round,
        )
        result["other_requests"] = 0
        self.results.append(result)
        print(format_row(result), flush=True)
        return result

    def objects(self, vendors: list[str], *, size: int, latency: float, interval: float) -> dict[str, Any]:
        """What each waiting trigger keeps alive: objects and bytes, and a full collection's pause."""
        self.simulator.post("config", {"latency": 0})
        jobs = self.jobs_for(vendors, size, 2)
        warmup = self.jobs_for_warmup(vendors)
        self.simulator.post("config", {"latency": latency})
        spec = {
            "mode": "objects",
            "name": f"objects N={size}",
            "interval": interval,
            "vendors": self._vendor_specs(jobs),
            "warmup": self._vendor_specs(warmup),
        }
        result = self.child(spec)
        result.update(kind="objects", size=size, latency=latency, interval=interval, vendors=vendors)
        self.results.append(result)
        print(format_objects(result), flush=True)
        for name, count in result["top_types"]:
            print(f"    {count / size:>8.2f} {name}", flush=True)
        for where, size_diff in result["top_sites"]:
            print(f"    {size_diff / size:>8.0f} B {where}", flush=True)
        return result

    def jobs_for_warmup(self, vendors: list[str]) -> dict[str, list]:
        return {v: create_jobs(self.simulator, self.recipes[v], v, 1, 1) for v in vendors}

    def stop(self) -> None:
        self.simulator.stop()


HEADER = (
    f"{'kind':<18} {'design':<6} {'N':>5} {'lat ms':>6} {'int s':>5} {'polls':>6} {'polls/s':>8} "
    f"{'late p50':>8} {'late p99':>8} {'<=1s %':>6} {'stall ms':>8} {'gc ms':>5} {'CPU ms/poll':>11} "
    f"{'peak RSS MiB':>12} {'KiB/trigger':>11} {'all done s':>10} {'errors':>6} {'fetches':>7}"
)


def format_row(r: dict[str, Any]) -> str:
    done = f"{r['finished_s']:.1f}" if r["finished_s"] is not None else f"cut@{r['wall_s']:.0f}"
    label = {
        "vendor": f"cpu:{r['vendors'][0]}",
        "cold": f"cold:{r['vendors'][0]}",
        "raw": f"raw:{r['vendors'][0]}",
    }.get(r["kind"], r["kind"])
    return (
        f"{label:<18} {r['design']:<6} {r['size']:>5} {r['latency'] * 1000:>6.0f} {r['interval']:>5.0f} "
        f"{r['polls']:>6} {r['polls_per_s']:>8.1f} {r['late_p50_s']:>8.3f} {r['late_p99_s']:>8.3f} "
        f"{100 * r['within_1s']:>6.1f} {1000 * r['longest_stall_s']:>8.0f} "
        f"{1000 * r['longest_gc_pause_s']:>5.0f} {1000 * r['cpu_s_per_poll']:>11.2f} "
        f"{r['peak_rss_kib'] / 1024:>12.0f} {r['rss_kib_per_trigger']:>11.1f} {done:>10} "
        f"{r['errors']:>6} {r['other_requests']:>7}"
    )


OBJECTS_HEADER = (
    f"{'objects':<18} {'N':>5} {'objects/trigger':>15} {'bytes/trigger':>13} "
    f"{'full gc ms, 0 triggers':>22} {'N waiting':>9} {'N waiting, start-up heap frozen':>31}"
)


def format_objects(r: dict[str, Any]) -> str:
    return (
        f"{'objects':<18} {r['size']:>5} {r['objects_per_trigger']:>15.1f} {r['bytes_per_trigger']:>13.0f} "
        f"{1000 * r['full_gc_empty_s']:>22.1f} {1000 * r['full_gc_s']:>9.1f} {1000 * r['full_gc_frozen_s']:>31.1f}"
    )


def wanted(args: argparse.Namespace, kind: str, vendor: str | None = None) -> bool:
    """Whether ``--only`` (kinds such as ``cpu``, or one vendor's, such as ``cpu:mailup``) selects this part."""
    if not args.only:
        return True
    return kind in args.only or (vendor is not None and f"{kind}:{vendor}" in args.only)


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def orchestrate(args: argparse.Namespace) -> None:
    began = time.monotonic()
    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="triggerer-bench-") as tmp:
        bench = Orchestrator(args, Path(tmp))
        try:
            vendors = bench.probe()
            print(f"vendors: {', '.join(vendors)}\n\n{HEADER}\n{'-' * len(HEADER)}", flush=True)
            for latency in args.latencies if wanted(args, "interval") else ():
                for size in args.sizes:
                    for design in args.designs:
                        bench.scenario(
                            vendors,
                            design=design,
                            size=size,
                            latency=latency,
                            interval=args.interval,
                            polls=args.cycle_polls,
                            cap=args.cap,
                            kind="interval",
                        )
            # the target scenario again, with the process's start-up heap frozen
            if args.with_gc_freeze and wanted(args, "interval"):
                bench.scenario(
                    vendors,
                    design="async",
                    size=max(args.sizes),
                    latency=max(args.latencies),
                    interval=args.interval,
                    polls=args.cycle_polls,
                    cap=args.cap,
                    kind="gc-freeze",
                    gc_freeze=True,
                )
            for design in args.designs if wanted(args, "max") else ():
                bench.scenario(
                    vendors,
                    design=design,
                    size=args.throughput_size,
                    latency=args.throughput_latency,
                    interval=0,
                    polls=args.throughput_polls,
                    cap=args.throughput_cap,
                    kind="max",
                )
            # each right after its own baseline run: the ratio spans seconds, not minutes; rounds: the median
            cpu_vendors = [v for v in vendors if wanted(args, "cpu", v)]
            for cpu_round in range(args.cpu_rounds if cpu_vendors else 0):
                # the former baseline: Which50's request, every poller starting at once
                bench.raw(
                    "which50", size=args.vendor_size, latency=args.throughput_latency, cpu_round=cpu_round, paced=False
                )
                for vendor in cpu_vendors:
                    bench.raw(vendor, size=args.vendor_size, latency=args.throughput_latency, cpu_round=cpu_round)
                    bench.one_vendor(vendor, kind="vendor", polls=args.throughput_polls, cpu_round=cpu_round)
            # every trigger starts with nothing cached: shared fetches are made once
            for vendor in [v for v in vendors if wanted(args, "cold", v)]:
                bench.one_vendor(vendor, kind="cold", polls=1, warm_up=False)
            if wanted(args, "objects"):
                print(f"\n{OBJECTS_HEADER}\n{'-' * len(OBJECTS_HEADER)}", flush=True)
                for size in args.object_sizes:
                    # a long interval: no trigger's second poll before all made their first
                    bench.objects(vendors, size=size, latency=max(args.latencies), interval=max(args.interval, 300))
        finally:
            bench.stop()
    summary = summarize(bench.results, args)
    print("\n" + summary, flush=True)
    print(f"\nbenchmark took {time.monotonic() - began:.0f} s", flush=True)
    if args.results_dir:
        out = Path(args.results_dir)
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (out / f"triggerer_capacity-{stamp}.json").write_text(
            json.dumps({"machine": machine(), "args": vars(args), "results": bench.results}, indent=2)
        )


def summarize(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """Which of issue 7's targets hold, from the rows measured."""
    lines = ["targets:"]
    target = next(
        (
            r
            for r in results
            if r["kind"] == "interval"
            and r["design"] == "async"
            and r["size"] == max(args.sizes)
            and r["latency"] == max(args.latencies)
        ),
        None,
    )
    if target:
        lines.append(
            f"- N={target['size']}, {target['latency'] * 1000:.0f} ms, {target['interval']:.0f} s interval: "
            f"{100 * target['within_1s']:.1f}% of polls within 1 s (>= 99%: {_ok(target['within_1s'] >= 0.99)}), "
            f"longest stall {1000 * target['longest_stall_s']:.0f} ms (<= 50 ms: "
            f"{_ok(target['longest_stall_s'] <= 0.05)}; GC pause {1000 * target['longest_gc_pause_s']:.0f} ms), "
            f"{target['rss_kib_per_trigger']:.1f} KiB per waiting trigger "
            f"(<= 20 KiB: {_ok(target['rss_kib_per_trigger'] <= 20)})"
        )
    frozen = next((r for r in results if r["kind"] == "gc-freeze"), None)
    if frozen:
        lines.append(
            f"  with gc.freeze() after start-up: longest stall {1000 * frozen['longest_stall_s']:.0f} ms, longest "
            f"GC pause {1000 * frozen['longest_gc_pause_s']:.0f} ms, {100 * frozen['within_1s']:.1f}% within 1 s"
        )
    rates = {r["design"]: r["polls_per_s"] for r in results if r["kind"] == "max"}
    if {"async", "thread"} <= rates.keys():
        ratio = rates["async"] / rates["thread"]
        lines.append(
            f"- max poll throughput at {args.throughput_latency * 1000:.0f} ms: async {rates['async']:.0f}/s vs "
            f"thread {rates['thread']:.0f}/s = {ratio:.1f}x (>= 10x: {_ok(ratio >= 10)})"
        )
    table = cpu_table(results)
    if table:
        lines.append(table)
    for r in results:
        if r["kind"] == "objects":
            lines.append(
                f"- {r['size']} waiting triggers: {r['objects_per_trigger']:.1f} GC-tracked objects and "
                f"{r['bytes_per_trigger'] / 1024:.1f} KiB each; a full collection "
                f"{1000 * r['full_gc_s']:.0f} ms ({1000 * r['full_gc_empty_s']:.0f} ms with no trigger, "
                f"{1000 * r['full_gc_frozen_s']:.0f} ms for the triggers alone)"
            )
    cold = {r["vendors"][0]: r["other_requests"] for r in results if r["kind"] == "cold"}
    if cold:
        listing = ", ".join(f"{v} {n}" for v, n in cold.items())
        lines.append(
            f"- {args.vendor_size} triggers per connection starting with nothing cached, requests other than "
            f"status polls (tokens, WSDL, logins): {listing} (<= 1 each: {_ok(max(cold.values()) <= 1)})"
        )
    return "\n".join(lines)


def cpu_table(results: list[dict[str, Any]]) -> str:
    """Per vendor, CPU per whole poll and its ratios to raw aiohttp, each the median over the rounds."""
    rows = [r for r in results if r.get("cpu_round") is not None]
    vendors = list(dict.fromkeys(r["vendors"][0] for r in rows if r["kind"] == "vendor"))
    if not vendors:
        return ""

    def cpu_of(kind: str, vendor: str, cpu_round: int) -> float:
        return next(
            r["cpu_s_per_poll"]
            for r in rows
            if r["kind"] == kind and r["vendors"][0] == vendor and r["cpu_round"] == cpu_round
        )

    rounds = sorted({r["cpu_round"] for r in rows})
    header = (
        f"- CPU per whole poll, median of {len(rounds)} rounds (300 triggers of one vendor, interval 0; each ratio "
        f"to raw aiohttp runs of the same round)\n"
        f"  {'vendor':<14} {'ms/poll':>8} {'raw: same exchange, paced':>26} {'ratio':>6} {'min-max':>10} "
        f"{'raw: which50 lockstep, former':>29} {'ratio':>6}"
    )
    lines, worst, medians = [header], 0.0, []
    for vendor in vendors:
        mine = [cpu_of("vendor", vendor, n) for n in rounds]
        own = [cpu_of("raw", vendor, n) for n in rounds]
        which50 = [cpu_of("raw-lockstep", "which50", n) for n in rounds]
        ratios = [m / o for m, o in zip(mine, own, strict=True)]
        to_which50 = [m / w for m, w in zip(mine, which50, strict=True)]
        worst = max(worst, statistics.median(ratios))
        medians.append(statistics.median(mine))
        lines.append(
            f"  {vendor:<14} {1000 * statistics.median(mine):>8.2f} {1000 * statistics.median(own):>26.2f} "
            f"{statistics.median(ratios):>5.2f}x {min(ratios):>4.2f}-{max(ratios):.2f} "
            f"{1000 * statistics.median(which50):>29.2f} {statistics.median(to_which50):>5.2f}x"
        )
    spread = max(medians) / min(medians)
    lines.append(f"  every vendor <= 2x its own raw exchange: {_ok(worst <= 2)}")
    lines.append(f"  most expensive / cheapest vendor {spread:.1f}x (<= 3x: {_ok(spread <= 3)})")
    return "\n".join(lines)


def _ok(holds: bool) -> str:
    return "holds" if holds else "MISSED"


# ----- the triggerer process ---------------------------------------------------------------------
ERROR, WAITING, DONE = "error", "waiting", "done"


class PollLog:
    """Every poll of every trigger: (start, end, outcome) per hook instance (one hook per trigger)."""

    def __init__(self) -> None:
        self.by_hook: dict[int, tuple[str, list[tuple[float, float, str]]]] = {}

    def record(self, hook: Any, started: float, outcome: str) -> None:
        self.by_hook.setdefault(id(hook), (hook.vendor, []))[1].append((started, time.monotonic(), outcome))


def time_polls(design: str, log: PollLog) -> None:
    """Log every poll of every hook; ``thread`` polls with the sync hook through ``asyncio.to_thread``."""
    from airflow_import_status.hooks.base import ImportStatusHook

    shipped = ImportStatusHook.apoll

    async def apoll(self: Any, job: Any) -> Any:
        started = time.monotonic()
        try:
            result = await (shipped(self, job) if design == "async" else asyncio.to_thread(self.poll, job))
        except Exception:
            log.record(self, started, ERROR)
            raise
        log.record(self, started, DONE if result.state.is_terminal else WAITING)
        return result

    ImportStatusHook.apoll = apoll  # type: ignore[method-assign]


async def run_triggers(spec: dict[str, Any]) -> dict[str, Any]:
    from airflow_import_status.polling import PollPolicy
    from airflow_import_status.triggers.import_status import ImportStatusTrigger

    log = PollLog()
    time_polls(spec["design"], log)
    policy = PollPolicy(poll_interval=spec["interval"], backoff_initial=1.0, backoff_max=5.0).to_dict()

    def trigger(vendor_spec: dict[str, Any], job: dict[str, Any]) -> ImportStatusTrigger:
        return ImportStatusTrigger(
            vendor=vendor_spec["vendor"],
            conn_id=vendor_spec["conn_id"],
            job=job,
            policy=policy,
            deadline=time.time() + 3600,
            waiting_since=time.time(),
        )

    async def run_trigger(instance: ImportStatusTrigger) -> str:
        async for event in instance.run():  # as TriggerRunner.run_trigger drives it
            return event.payload["status"]
        return "none"

    # warm-up: modules, connections, WSDL, SSL context and one pooled connection per vendor
    warm = [trigger(v, job) for v in spec["warmup"] for job in v["jobs"]]
    statuses = await asyncio.gather(*(run_trigger(t) for t in warm))
    if warm and set(statuses) != {"succeeded"}:
        raise RuntimeError(f"warm-up polls did not succeed: {statuses}")
    log.by_hook.clear()
    gc.collect()
    if spec["gc_freeze"]:  # what Airflow's DAG processor does: imports never traced by full collections again
        gc.freeze()

    watchdog = LoopWatchdog()
    watchdog.start()
    await asyncio.sleep(0.2)
    rss_before = rss_kib()
    cpu_before, began = time.process_time(), time.monotonic()
    size = sum(len(v["jobs"]) for v in spec["vendors"])
    waiting_rss = asyncio.create_task(rss_once_all_wait(log, size))
    tasks = []
    for vendor_spec, job in [(v, job) for v in spec["vendors"] for job in v["jobs"]]:
        # TriggerRunner.create_triggers: build the trigger, one task each, yielding in between
        tasks.append(asyncio.create_task(run_trigger(trigger(vendor_spec, job))))
        await asyncio.sleep(0)
    done, pending = await asyncio.wait(tasks, timeout=max(0.0, spec["cap"] - (time.monotonic() - began)))
    ended = time.monotonic()
    cpu = time.process_time() - cpu_before
    rss_waiting = waiting_rss.result() if waiting_rss.done() else None
    waiting_rss.cancel()
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await watchdog.stop()
    statuses = [t.result() for t in done if not t.cancelled() and t.exception() is None]
    result = measure(log, spec["interval"], began, ended)
    return {
        **result,
        "non_success_events": sum(status != "succeeded" for status in statuses),
        "longest_stall_s": watchdog.longest_stall,
        "stalls_over_50ms": watchdog.stalls_over_50ms,
        "longest_gc_pause_s": watchdog.longest_gc_pause,
        "pauses_over_30ms": [(kind, round(at, 3), round(pause, 3)) for kind, at, pause in watchdog.timeline],
        "cpu_s_per_poll": cpu / result["polls"] if result["polls"] else float("nan"),
        "peak_rss_kib": rss_kib("VmHWM"),
        "rss_kib_per_trigger": ((rss_waiting or watchdog.max_rss_kib) - rss_before) / size,
        "rss_measured_while_waiting": rss_waiting is not None,
        "finished": len(done),
        "finished_s": result["wall_s"] if len(done) == size else None,
        "gc_tracked_objects": len(gc.get_objects()),
    }


async def count_objects(spec: dict[str, Any]) -> dict[str, Any]:
    """Objects and bytes each waiting trigger keeps (after every first poll), and a full collection's pause."""
    import collections
    import tracemalloc

    from airflow_import_status.hooks.base import ImportStatusHook
    from airflow_import_status.polling import PollPolicy
    from airflow_import_status.triggers.import_status import ImportStatusTrigger

    shipped = ImportStatusHook.apoll
    polls = 0

    async def apoll(self: Any, job: Any) -> Any:  # counts polls only: no per-trigger record to skew the count
        nonlocal polls
        try:
            return await shipped(self, job)
        finally:
            polls += 1

    ImportStatusHook.apoll = apoll  # type: ignore[method-assign]
    policy = PollPolicy(poll_interval=spec["interval"], backoff_initial=1.0, backoff_max=5.0).to_dict()

    async def run_trigger(vendor_spec: dict[str, Any], job: dict[str, Any]) -> str:
        trigger = ImportStatusTrigger(
            vendor=vendor_spec["vendor"],
            conn_id=vendor_spec["conn_id"],
            job=job,
            policy=policy,
            deadline=time.time() + 3600,
            waiting_since=time.time(),
        )
        async for event in trigger.run():
            return str(event.payload["status"])
        return "none"

    await asyncio.gather(*(run_trigger(v, job) for v in spec["warmup"] for job in v["jobs"]))
    polls = 0
    pairs = [(v, job) for v in spec["vendors"] for job in v["jobs"]]
    size = len(pairs)
    full_gc_empty = full_collection_seconds()
    before_ids = {id(o) for o in gc.get_objects()}
    before_objects = len(before_ids)
    tracemalloc.start()
    before_bytes = tracemalloc.get_traced_memory()[0]
    before_snapshot = tracemalloc.take_snapshot()
    gc.freeze()  # until the triggers wait: a full collection then traverses only what they keep
    tasks = []
    for vendor_spec, job in pairs:
        tasks.append(asyncio.create_task(run_trigger(vendor_spec, job)))
        await asyncio.sleep(0)
    while polls < size:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # every answer handled: all wait for their next poll
    ended = [task.result() for task in tasks if task.done()]
    if ended:
        raise RuntimeError(f"{len(ended)} triggers ended before their second poll: {ended[:3]}")
    full_gc_frozen = full_collection_seconds()
    gc.unfreeze()
    gc.collect()
    after = gc.get_objects()
    objects = len(after) - before_objects
    traced = tracemalloc.get_traced_memory()[0] - before_bytes
    sites = tracemalloc.take_snapshot().compare_to(before_snapshot, "lineno")
    tracemalloc.stop()
    types = collections.Counter(type(o).__qualname__ for o in after if id(o) not in before_ids)
    del after
    full_gc = full_collection_seconds()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "objects_per_trigger": objects / size,
        "bytes_per_trigger": traced / size,
        "full_gc_empty_s": full_gc_empty,
        "full_gc_s": full_gc,
        "full_gc_frozen_s": full_gc_frozen,
        "top_types": types.most_common(25),
        "top_sites": [(str(site.traceback[0]), site.size_diff) for site in sites[:15]],
    }


def full_collection_seconds(repeat: int = 5) -> float:
    """The median time of a full collection (``gc.collect()``) of the heap as it is now."""
    gc.collect()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - began)
    return sorted(times)[repeat // 2]


async def rss_once_all_wait(log: PollLog, size: int) -> int:
    """RSS once every trigger made its first poll and the answers are in: all of them waiting."""
    while len(log.by_hook) < size:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    return rss_kib()


def measure(log: PollLog, interval: float, began: float, ended: float) -> dict[str, Any]:
    """Throughput and lateness from the poll log (see the module docstring for the definitions)."""
    fastest: dict[str, float] = {}
    for vendor, polls in log.by_hook.values():
        for start, end, outcome in polls:
            if outcome != ERROR:
                fastest[vendor] = min(fastest.get(vendor, float("inf")), end - start)
    lateness, polls_done, errors, first_round = [], 0, 0, 0.0
    for vendor, polls in log.by_hook.values():
        polls_done += len(polls)
        errors += sum(outcome == ERROR for _, _, outcome in polls)
        first_round = max(first_round, polls[0][1] - began)
        for (_, previous_end, previous), (_, end, _) in itertools.pairwise(polls):
            if previous == WAITING:  # after an error the trigger backs off instead
                lateness.append(end - fastest[vendor] - (previous_end + interval))
        _, last_end, last = polls[-1]
        if last == WAITING and ended > last_end + interval:  # due, unanswered at the cut: late by now
            lateness.append(ended - (last_end + interval))
    wall = ended - began
    return {
        "polls": polls_done,
        "errors": errors,
        "polls_per_s": polls_done / wall if wall else 0.0,
        "late_p50_s": percentile(lateness, 0.5),
        "late_p99_s": percentile(lateness, 0.99),
        "within_1s": sum(late <= 1.0 for late in lateness) / len(lateness) if lateness else 1.0,
        "scheduled_polls": len(lateness),
        "first_round_s": first_round,
        "wall_s": wall,
    }


async def probe(spec: dict[str, Any]) -> dict[str, Any]:
    """One async and one sync status poll per vendor."""
    from airflow_import_status.vendors import get_spec

    problems = {}
    for vendor_spec in spec["vendors"]:
        hook_class = get_spec(vendor_spec["vendor"]).hook_class
        async_job, sync_job = vendor_spec["jobs"]
        try:
            await hook_class(vendor_spec["conn_id"]).apoll(async_job)
            await asyncio.to_thread(hook_class(vendor_spec["conn_id"]).poll, sync_job)
        except Exception as err:
            problems[vendor_spec["vendor"]] = f"{type(err).__name__}: {err}"
    return {"problems": problems}


def status_exchange(vendor: str, conn_id: str, job: dict[str, Any]) -> list[Any]:
    """The requests one status poll of ``job`` sends once what polls share is fetched (sync, the package's own)."""
    from airflow_import_status.vendors import get_spec

    hook = get_spec(vendor).hook_class(conn_id)
    hook.poll(job)  # fetches the token, WSDL or login every later poll shares
    sent: list[Any] = []
    shipped = hook._send_sync

    def send(request: Any, settings: Any) -> Any:
        sent.append(request)
        return shipped(request, settings)

    hook._send_sync = send
    hook.poll(job)
    return sent


async def run_raw(spec: dict[str, Any]) -> dict[str, Any]:
    """C pollers, R back-to-back polls each, on one raw aiohttp session: no package code, no parsing.

    A poll is the vendor's status exchange exactly as the package sends it (method, URL, headers
    including those the async transport adds, body), over a pool of the package's default size, so
    the ratio to it is the package's whole cost per poll.
    """
    import ssl

    import aiohttp

    from airflow_import_status.runtime import FIRST_POLL_SPACING_SECONDS
    from airflow_import_status.transport import ACCEPT_ENCODING, DEFAULT_MAX_CONNECTIONS, USER_AGENT

    exchange = [
        (
            request.method,
            request.full_url,
            {"Accept-Encoding": ACCEPT_ENCODING, "User-Agent": USER_AGENT, **request.headers},
            request.content,
        )
        for request in await asyncio.to_thread(status_exchange, spec["vendor"], spec["conn_id"], spec["job"])
    ]
    context = ssl.create_default_context(cafile=spec["ca_bundle"])
    connector = aiohttp.TCPConnector(ssl=context, limit=DEFAULT_MAX_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def poll() -> int:
            failed = 0
            for method, url, headers, content in exchange:
                async with session.request(method, url, headers=headers, data=content) as response:
                    await response.read()
                    failed += response.status != 200
            return failed

        async def poller(index: int) -> int:
            if spec["paced"]:  # as RUNTIME.wait_for_first_poll_slot spaces the triggers' first polls
                await asyncio.sleep(index * FIRST_POLL_SPACING_SECONDS)
            return sum([await poll() for _ in range(spec["rounds"])])

        await poll()  # warm-up: one pooled connection, TLS session
        gc.collect()
        watchdog = LoopWatchdog()
        watchdog.start()
        cpu, began = time.process_time(), time.monotonic()
        errors = sum(await asyncio.gather(*(poller(index) for index in range(spec["concurrency"]))))
        wall, cpu = time.monotonic() - began, time.process_time() - cpu
        await watchdog.stop()
    made = spec["concurrency"] * spec["rounds"]
    nan = float("nan")
    return {
        "polls": made,
        "errors": errors,
        "polls_per_s": made / wall,
        "late_p50_s": nan,
        "late_p99_s": nan,
        "within_1s": nan,
        "longest_stall_s": watchdog.longest_stall,
        "longest_gc_pause_s": watchdog.longest_gc_pause,
        "cpu_s_per_poll": cpu / made,
        "peak_rss_kib": rss_kib("VmHWM"),
        "rss_kib_per_trigger": nan,
        "finished_s": wall,
        "wall_s": wall,
        "polls_per_job": spec["rounds"],
    }


def child(spec: dict[str, Any]) -> None:
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    if spec.get("profile"):
        import cProfile

        with cProfile.Profile() as profile:
            result = asyncio.run(run_triggers(spec))
        profile.dump_stats(spec["profile"])
    else:
        run = {"probe": probe, "raw": run_raw, "run": run_triggers, "objects": count_objects}[spec["mode"]]
        result = asyncio.run(run(spec))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description="Triggerer capacity: async triggers vs thread-wrapped sync hooks.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000], help="concurrent triggers")
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.02, 0.2], help="vendor latency (s)")
    parser.add_argument("--interval", type=float, default=30.0, help="poll interval (s)")
    parser.add_argument("--cycle-polls", type=int, default=2, help="polls per job in the interval runs")
    parser.add_argument("--cap", type=float, default=43.0, help="time cap of one interval run (s)")
    parser.add_argument("--throughput-size", type=int, default=1000, help="triggers in the interval-0 runs")
    parser.add_argument("--throughput-latency", type=float, default=0.2, help="latency of the interval-0 runs (s)")
    parser.add_argument("--throughput-polls", type=int, default=5, help="polls per job in the interval-0 runs")
    parser.add_argument("--throughput-cap", type=float, default=12.0, help="time cap of one interval-0 run (s)")
    parser.add_argument("--vendor-size", type=int, default=300, help="triggers in each per-vendor CPU run")
    parser.add_argument("--cpu-rounds", type=int, default=3, help="rounds of the per-vendor CPU runs (median)")
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=DESIGNS)
    parser.add_argument(
        "--only",
        nargs="+",
        default=[],
        help="run only these parts: interval, max, cpu, cold, objects, or one vendor's (cpu:mailup, cold:isales)",
    )
    parser.add_argument(
        "--object-sizes", type=int, nargs="+", default=[5000], help="waiting triggers in the objects count"
    )
    parser.add_argument("--results-dir", default=str(REPO / "benchmarks" / "results"), help="'' to skip")
    parser.add_argument(
        "--with-gc-freeze", action="store_true", help="also run the largest async scenario after gc.freeze()"
    )
    parser.add_argument(
        "--profile",
        help="write a cProfile of the async max-throughput run to this file (each cpu:<vendor> run: FILE.<vendor>)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.load(sys.stdin))
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
