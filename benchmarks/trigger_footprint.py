"""What each waiting ImportStatusTrigger keeps alive: GC-tracked objects and traced bytes per trigger.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/trigger_footprint.py --size 500

Per vendor, a fresh process (as a triggerer) starts ``--size`` triggers against the simulators
(``benchmarks/triggerer_capacity.py``'s set-up: HTTPS on 127.0.0.1, warm-up first), waits until
every one made its first poll and sleeps until the next, collects garbage, and reports the growth
of ``gc.get_objects()`` and of ``tracemalloc``'s traced memory divided by the number of triggers,
with the object types that grew most. Fewer long-lived objects per trigger means shorter full
collections (the GC pauses the capacity benchmark reports at 5,000 triggers). Not an assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_support import REPO
from triggerer_capacity import Orchestrator, PollLog, time_polls


async def footprint(spec: dict[str, Any]) -> dict[str, Any]:
    import tracemalloc

    from airflow_import_status.polling import PollPolicy
    from airflow_import_status.triggers.import_status import ImportStatusTrigger

    log = PollLog()
    time_polls("async", log)
    policy = PollPolicy(poll_interval=600.0).to_dict()

    def trigger(job: dict[str, Any]) -> ImportStatusTrigger:
        return ImportStatusTrigger(
            vendor=spec["vendor"],
            conn_id=spec["conn_id"],
            job=job,
            policy=policy,
            deadline=time.time() + 3600,
            waiting_since=time.time(),
        )

    async def run_trigger(instance: ImportStatusTrigger) -> None:
        async for _ in instance.run():
            return

    await asyncio.gather(*(run_trigger(trigger(job)) for job in spec["warmup"]))  # modules, pools, tokens
    log.by_hook.clear()
    gc.collect()
    tracemalloc.start()
    before_objects = collections.Counter(type(o).__name__ for o in gc.get_objects())
    before_bytes = tracemalloc.get_traced_memory()[0]
    tasks = []
    for job in spec["jobs"]:
        tasks.append(asyncio.create_task(run_trigger(trigger(job))))
        await asyncio.sleep(0)
    while len(log.by_hook) < len(tasks):  # every trigger answered once: all are sleeping until the next poll
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    gc.collect()
    after_objects = collections.Counter(type(o).__name__ for o in gc.get_objects())
    after_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    size = len(tasks)
    grown = after_objects - before_objects
    return {
        "objects_per_trigger": sum(grown.values()) / size,
        "kib_per_trigger": (after_bytes - before_bytes) / 1024 / size,
        "top_types": [(name, round(count / size, 2)) for name, count in grown.most_common(8)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=500, help="waiting triggers per vendor")
    parser.add_argument("--vendors", nargs="+", help="default: every shipped vendor")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import logging

        logging.getLogger().setLevel(logging.WARNING)
        print(json.dumps(asyncio.run(footprint(json.loads(sys.stdin.read())))))
        return
    workdir = Path(tempfile.mkdtemp(prefix="trigger-footprint-"))
    bench = argparse.Namespace(latencies=[0.02])
    orchestrator = Orchestrator(bench, workdir)
    try:
        orchestrator.simulator.post("config", {"latency": 0.02})
        print(
            f"{args.size} waiting triggers per vendor; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        print(f"{'vendor':<14} {'objects/trigger':>15} {'KiB/trigger':>11}  types that grew (per trigger)")
        for vendor in args.vendors or sorted(orchestrator.recipes):
            recipe = orchestrator.recipes[vendor]
            jobs = orchestrator.jobs_for([vendor], args.size + 2, 1000)[vendor]
            spec = {"vendor": vendor, "conn_id": recipe["conn_id"], "warmup": jobs[:2], "jobs": jobs[2:]}
            result = run_child(orchestrator, spec)
            types = ", ".join(f"{name} {count}" for name, count in result["top_types"])
            print(f"{vendor:<14} {result['objects_per_trigger']:>15.1f} {result['kib_per_trigger']:>11.2f}  {types}")
    finally:
        orchestrator.stop()


def run_child(orchestrator: Orchestrator, spec: dict[str, Any]) -> dict[str, Any]:
    import subprocess

    process = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        input=json.dumps(spec),
        env={**orchestrator.env, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "benchmarks")])},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if process.returncode != 0:
        raise RuntimeError(process.stderr[-3000:])
    result: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    main()
