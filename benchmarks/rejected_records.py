"""Fetch and write an import's refused records: peak memory flat in the number of records.

Each size runs in its own process (so ``ru_maxrss`` is that run's peak) against the MyPreferences
simulator over HTTPS: a scripted import with N refused records, listed by *Retrieve exceptions*
in pages of 1,000 and written to a CSV file (``rejected_records_path``'s writer). The 1,000-record
run is the baseline measured in the same invocation; the target is a peak RSS within 20 MiB of
it for 100,000 records (100 pages).

    python benchmarks/rejected_records.py [--sizes 1000 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_support import REPO, SimulatorProcess, connection_env, make_certificate

TARGET_MIB = 20.0
"""The issue's bound: peak RSS of the 100,000-record run within this of the 1,000-record run."""


def child(job_id: str, path: str) -> dict[str, Any]:
    """List and write one import's refused records in this process; time it and read the peak RSS."""
    from airflow_import_status.hooks.mypreferences import MyPreferencesHook
    from airflow_import_status.rejected import listing_of, write_refused

    hook = MyPreferencesHook()
    pages = listing_of(hook, {"access_token": int(job_id)})
    assert pages is not None
    began = time.perf_counter()
    summary = write_refused(path, vendor_pages=pages, max_records=10_000_000)
    seconds = time.perf_counter() - began
    with open(path, encoding="utf-8") as handle:
        lines = sum(1 for _ in handle) - 1
    assert lines == summary.count and not summary.truncated and summary.error is None, summary.to_dict()
    return {
        "records": summary.count,
        "seconds": seconds,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "file_bytes": Path(path).stat().st_size,
    }


def _run_child(job_id: str, path: Path, env: dict[str, str]) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", job_id, str(path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"exit {completed.returncode}\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def orchestrate(sizes: list[int]) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-rejected-") as tmp:
        workdir = Path(tmp)
        certfile, keyfile = make_certificate(workdir)
        simulator = SimulatorProcess(certfile, keyfile).wait_ready()
        try:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")},
                **connection_env(simulator.url, certfile),
                "AIRFLOW_HOME": str(workdir / "airflow"),
                "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "benchmarks")]),
            }
            for size in sizes:
                simulator.post("reset", {})
                counters = {"total": size + 10, "valid": 10, "invalid": size, "processed": 10}
                job = simulator.post("jobs", {"vendor": "mypreferences", "counters": counters, "polls": 1})
                result = _run_child(str(job["job_id"]), workdir / f"refused-{size}.csv", env)
                results.append(result)
                print(f"  {size:>9,} records: {result['seconds']:.1f}s", file=sys.stderr, flush=True)
        finally:
            simulator.stop()
    return results


def summarize(results: list[dict[str, Any]]) -> str:
    base = results[0]
    lines = [
        "| records | pages | seconds | records/s | file MiB | peak RSS MiB | vs first run |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        delta = (r["peak_rss_kib"] - base["peak_rss_kib"]) / 1024
        lines.append(
            f"| {r['records']:,} | {-(-r['records'] // 1000):,} | {r['seconds']:.2f} | "
            f"{r['records'] / r['seconds']:,.0f} | {r['file_bytes'] / 2**20:.1f} | "
            f"{r['peak_rss_kib'] / 1024:.1f} | {delta:+.1f} MiB |"
        )
    worst = max((r["peak_rss_kib"] - base["peak_rss_kib"]) / 1024 for r in results)
    verdict = "within" if worst <= TARGET_MIB else "OVER"
    lines.append(
        f"\nPeak RSS grows by at most {worst:+.1f} MiB over the {base['records']:,}-record run: "
        f"{verdict} the {TARGET_MIB:g} MiB target."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("JOB_ID", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 100_000])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    print(summarize(orchestrate(args.sizes)))


if __name__ == "__main__":
    main()
