"""Upload throughput and memory of the start-import operators: is memory flat, and who limits the speed?

    make bench-upload                                        # 100,000 and 1,000,000 rows, every operator
    make bench-upload BENCH_ARGS="--sizes 20000 200000"      # a quick look

For each vendor with a start-import operator (the spec's class convention: ``operators/<key>.py``,
so every operator joins without editing this file) and each size, a CSV of generated contacts
(the columns of ``example_dags/contacts.csv``, mapped with the simulator's ``contact_mapping``)
is streamed by the operator's own start path (``ContactUpload`` + the vendor's start flow + the
hook's blocking transport, the code a worker runs before it waits) to the vendor simulators,
which run in their own process over HTTPS on 127.0.0.1, so their memory is not counted.

Each (vendor, size) runs in a fresh process, through the operator's own ``execute`` with
``wait_for_completion=False`` (start, record, return): the ledger Variables go to a dict in that
process, since no metadata DB runs here. Measured there: wall time of the upload and start,
rows/s, peak RSS (``ru_maxrss``: the whole process, Airflow imported), and the operator's own CPU
(process time around the start only). Measured in the simulator's process over the same run:
its CPU. Targets (the issue's): the peak RSS at the largest size is within 20 MiB of the peak
at the smallest (memory does not grow with the file), and the simulator spends more CPU per
10,000 rows than the operator (the vendor side, not the operator, limits the upload).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_support import REPO, SimulatorProcess, connection_env, make_certificate

RSS_GROWTH_TARGET_MIB = 20.0


def operator_vendors() -> list[str]:
    from airflow_import_status.vendors import builtin_specs

    return [spec.key for spec in builtin_specs() if spec.operator_class_name]


class _BenchTaskInstance:
    """What the start path reads of its task instance (no task runner here: the upload is measured)."""

    dag_id, run_id, task_id, map_index, try_number = "bench_upload", "bench", "bench_upload", -1, 1

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def _in_memory_ledger() -> dict[str, str]:
    """The operators' ledger Variables in a dict of this process (no metadata DB in the benchmark)."""
    store: dict[str, str] = {}

    class Variables:
        @staticmethod
        def get(key: str, default: Any = None) -> Any:
            return store.get(key, default)

        @staticmethod
        def set(key: str, value: str, description: str | None = None) -> None:
            store[key] = value

        @staticmethod
        def delete(key: str) -> None:
            store.pop(key, None)

    for name, module in list(sys.modules.items()):
        if name.startswith("airflow_import_status.operators") and hasattr(module, "Variable"):
            module.Variable = Variables  # type: ignore[attr-defined]
    return store


def child(vendor: str, csv_path: str, rows: int) -> dict[str, Any]:
    """One upload in this process: the operator's start (upload + start call), timed and measured."""
    import logging

    from airflow_import_status.vendors import get_spec

    logging.getLogger("airflow.task.operators").setLevel(logging.WARNING)
    spec = get_spec(vendor)
    simulator = spec.simulator_class
    id_field = spec.job_type.id_field()
    start = {k: v for k, v in spec.job({**simulator.job_params, id_field: "0"}).to_params().items() if k != id_field}
    assert spec.operator_class is not None
    operator = spec.operator_class(
        task_id="bench_upload",
        source=csv_path,
        field_mapping=simulator.contact_mapping,
        wait_for_completion=False,
        **start,
    )
    ledger = _in_memory_ledger()
    began_cpu, began = time.process_time(), time.perf_counter()
    job = operator.execute({"ti": _BenchTaskInstance()})  # type: ignore[arg-type]
    seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    assert not ledger, f"the start left ledger entries behind: {sorted(ledger)}"
    return {
        "vendor": vendor,
        "rows": rows,
        "seconds": seconds,
        "operator_cpu": cpu,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "batch_size": operator.batch_size,
        "job": job,
    }


def _run_child(vendor: str, csv_path: Path, rows: int, env: dict[str, str]) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", vendor, str(csv_path), str(rows)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{vendor} {rows} rows: exit {completed.returncode}\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def orchestrate(args: argparse.Namespace) -> list[dict[str, Any]]:
    from airflow_import_status.simulators.contacts import write_csv

    vendors = args.vendors or operator_vendors()
    if not vendors:
        raise SystemExit("no vendor has a start-import operator")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
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
            for rows in args.sizes:
                csv_path = write_csv(workdir / f"contacts-{rows}.csv", rows)
                for vendor in vendors:
                    simulator.post("reset", {})
                    sim_cpu = simulator.cpu_seconds()
                    result = _run_child(vendor, csv_path, rows, env)
                    result["simulator_cpu"] = simulator.cpu_seconds() - sim_cpu
                    results.append(result)
                    print(f"  {vendor:<14} {rows:>9,} rows: {result['seconds']:.1f}s", file=sys.stderr, flush=True)
                    simulator.post("reset", {})  # the simulator keeps what it was sent until then
                csv_path.unlink()
        finally:
            simulator.stop()
    return results


def _row(r: dict[str, Any]) -> str:
    per_10k_ms = 10_000 / r["rows"] * 1000
    cells = [
        r["vendor"],
        f"{r['rows']:,}",
        f"{r['batch_size']:,}",
        f"{r['seconds']:.1f}",
        f"{r['rows'] / r['seconds']:,.0f}",
        f"{r['peak_rss_kib'] / 1024:.1f}",
        f"{r['operator_cpu'] * per_10k_ms:.0f}",
        f"{r['simulator_cpu'] * per_10k_ms:.0f}",
        f"{r['simulator_cpu'] / max(r['operator_cpu'], 1e-9):.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


def _verdict(vendor: str, runs: list[dict[str, Any]]) -> str:
    growth = (runs[-1]["peak_rss_kib"] - runs[0]["peak_rss_kib"]) / 1024
    simulator_bound = sum(r["simulator_cpu"] > r["operator_cpu"] for r in runs)
    return (
        f"| {vendor} | {growth:+.1f} ({runs[0]['rows']:,} to {runs[-1]['rows']:,} rows) "
        f"| {'met' if growth <= RSS_GROWTH_TARGET_MIB else 'MISSED'} "
        f"| {'yes' if simulator_bound == len(runs) else 'NO'} ({simulator_bound} of {len(runs)} runs) |"
    )


def summarize(results: list[dict[str, Any]]) -> str:
    lines = [
        "| vendor | rows | batch | seconds | rows/s | peak RSS (MiB) | operator CPU ms / 10k rows "
        "| simulator CPU ms / 10k rows | simulator / operator CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_row(r) for r in results),
        "",
        f"| vendor | peak RSS growth, MiB | target <= {RSS_GROWTH_TARGET_MIB:.0f} MiB "
        "| simulator limits the upload (more CPU than the operator) |",
        "|---|---:|---|---|",
    ]
    for vendor in dict.fromkeys(r["vendor"] for r in results):
        lines.append(_verdict(vendor, sorted((r for r in results if r["vendor"] == vendor), key=lambda r: r["rows"])))
    lines += ["", f"Machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Upload throughput and memory of the start-import operators.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="rows per CSV")
    parser.add_argument("--vendors", nargs="+", help="vendor keys (default: every vendor with an operator)")
    parser.add_argument("--child", nargs=3, metavar=("VENDOR", "CSV", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        vendor, csv_path, rows = args.child
        print(json.dumps(child(vendor, csv_path, int(rows))))
        return
    results = orchestrate(args)
    print(summarize(results))


if __name__ == "__main__":
    main()
