"""CPU per poll with the import metrics off, on, and without the metrics call at all (before).

    python benchmarks/metrics_overhead.py                         # 300 triggers x 10 polls, 5 rounds
    python benchmarks/metrics_overhead.py --triggers 100 --rounds 2   # a quick look

The vendor simulators run in their own process over HTTPS on 127.0.0.1 (no latency). Each
measurement is a fresh process, as a triggerer is (metrics are switched on once per process):
N :class:`ImportStatusTrigger` of one vendor run in one event loop until their jobs finish
(poll interval 0, each job finishing on its ``polls``-th poll), and the process CPU time of
that run is divided by the polls made. Configurations, run interleaved round after round so
machine noise hits each alike:

- ``before``: the trigger's poll called directly, as before metrics existed (the metrics call
  swapped out);
- ``off``: as shipped, Airflow's metrics off (the default);
- ``on``: ``[metrics] statsd_on`` with the ``statsd`` client sending every metric (tagged and
  legacy names) over UDP to a local port.

Printed: CPU microseconds per poll (median of the rounds, and min-max) and the ratio to
``before`` measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_support import REPO, SimulatorProcess, connection_env, make_certificate

CONFIGS = ("before", "off", "on")


def child(spec: dict[str, Any]) -> None:
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    from airflow_import_status.triggers import import_status

    if spec["config"] == "before":  # the poll exactly as the trigger made it before the metrics call
        import_status.observed_apoll = lambda vendor, poll: poll  # type: ignore[assignment,return-value]
    print(json.dumps(asyncio.run(run_triggers(spec))))


async def run_triggers(spec: dict[str, Any]) -> dict[str, Any]:
    from airflow_import_status import metrics
    from airflow_import_status.polling import PollPolicy
    from airflow_import_status.triggers.import_status import ImportStatusTrigger

    policy = PollPolicy(poll_interval=0.0, backoff_initial=1.0, backoff_max=5.0).to_dict()

    async def run(job: dict[str, Any]) -> str:
        trigger = ImportStatusTrigger(
            vendor=spec["vendor"],
            conn_id=spec["conn_id"],
            job=job,
            policy=policy,
            deadline=time.time() + 3600,
            waiting_since=time.time(),
        )
        async for event in trigger.run():
            return str(event.payload["status"])
        return "none"

    warm = await asyncio.gather(*(run(job) for job in spec["warmup"]))
    cpu_before = time.process_time()
    statuses = await asyncio.gather(*(run(job) for job in spec["jobs"]))
    cpu = time.process_time() - cpu_before
    polls = len(spec["jobs"]) * spec["polls"]
    return {
        "config": spec["config"],
        "metrics_enabled": metrics.enabled(),
        "ok": set(warm) | set(statuses) == {"succeeded"},
        "cpu_us_per_poll": cpu / polls * 1e6,
    }


def create_jobs(
    simulator: SimulatorProcess, vendor: str, params: dict[str, Any], id_field: str, count: int, polls: int
) -> list:
    views = simulator.post("jobs", {"vendor": vendor, "count": count, "params": params, "polls": polls})
    return [{**params, id_field: view["job_id"]} for view in views["jobs"]]


def orchestrate(args: argparse.Namespace) -> None:
    from airflow_import_status.vendors import get_spec

    spec = get_spec(args.vendor)
    params, id_field = dict(spec.simulator_class.job_params), spec.job_type.id_field()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the StatsD "server": packets land and are dropped
    sink.bind(("127.0.0.1", 0))
    with tempfile.TemporaryDirectory() as tmp:
        certfile, keyfile = make_certificate(Path(tmp))
        simulator = SimulatorProcess(certfile, keyfile).wait_ready()
        try:
            base_env = {
                **os.environ,
                **connection_env(simulator.url, certfile),
                "PYTHONPATH": str(REPO),
                "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
                "AIRFLOW__METRICS__STATSD_PORT": str(sink.getsockname()[1]),
            }
            samples: dict[str, list[float]] = {config: [] for config in CONFIGS}
            for _ in range(args.rounds):
                for config in CONFIGS:
                    simulator.post("reset", {})
                    run = {
                        "config": config,
                        "vendor": args.vendor,
                        "conn_id": spec.simulator_class.conn_id,
                        "polls": args.polls,
                        "warmup": create_jobs(simulator, args.vendor, params, id_field, 5, 1),
                        "jobs": create_jobs(simulator, args.vendor, params, id_field, args.triggers, args.polls),
                    }
                    env = {**base_env, "AIRFLOW__METRICS__STATSD_ON": str(config == "on")}
                    done = subprocess.run(
                        [sys.executable, __file__, "--child"],
                        input=json.dumps(run),
                        capture_output=True,
                        text=True,
                        env=env,
                        cwd=REPO,
                        check=True,
                    )
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    assert result["ok"], f"{config}: not every import succeeded"
                    assert result["metrics_enabled"] is (config == "on"), result
                    samples[config].append(result["cpu_us_per_poll"])
        finally:
            simulator.stop()
            sink.close()
    base = statistics.median(samples["before"])
    print(f"CPU per poll, {args.triggers} {args.vendor} triggers x {args.polls} polls, {args.rounds} rounds (median)")
    print(f"{'config':<8} {'us/poll':>9} {'min-max':>15} {'ratio to before':>16}")
    for config in CONFIGS:
        median = statistics.median(samples[config])
        spread = f"{min(samples[config]):.0f}-{max(samples[config]):.0f}"
        print(f"{config:<8} {median:>9.0f} {spread:>15} {median / base:>16.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU per poll with the import metrics off, on and before.")
    parser.add_argument("--triggers", type=int, default=300)
    parser.add_argument("--polls", type=int, default=10, help="polls per job")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--vendor", default="which50")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.load(sys.stdin))
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
