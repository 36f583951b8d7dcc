"""Codec CPU per status poll, per vendor: building the request(s) and decoding the answer, no I/O.

    PYTHONPATH=. python benchmarks/codec_cpu.py [vendor ...]

The vendor simulators run in their own process (HTTPS on 127.0.0.1); each vendor's hook polls a
running job twice with the package's sync path, the second poll's answers are kept, and the
vendor's ``status_flow`` is then driven with those canned answers (what polls share, a token, WSDL
or login, read from the process's cache as the drivers do) 5 x 3,000 times after a warm-up,
``time.process_time`` around each batch. The table gives the best and the median batch per poll,
and the ratio of the median to Which50's (the simplest codec) measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_support import SimulatorProcess, connection_env, make_certificate
from triggerer_capacity import create_jobs, vendor_recipes

POLLS = 3000
BATCHES = 5


def canned_poll(vendor: str, recipe: dict[str, Any], simulator: SimulatorProcess) -> Any:
    """A function running one status flow of ``vendor`` to its result against canned answers."""
    from airflow_import_status.runtime import RUNTIME
    from airflow_import_status.transport import Shared
    from airflow_import_status.vendors import get_spec

    job_params = create_jobs(simulator, recipe, vendor, 1, 10**6)[0]
    spec = get_spec(vendor)
    hook = spec.hook_class(recipe["conn_id"])
    hook.poll(job_params)  # fetches what every later poll shares
    answers: list[Any] = []
    shipped = hook._send_sync

    def keep(request: Any, settings: Any) -> Any:
        answers.append(shipped(request, settings))
        return answers[-1]

    hook._send_sync = keep
    hook.poll(job_params)
    settings, job = hook.get_settings(), hook.make_job(job_params)

    def poll() -> Any:
        flow, answer, sent = spec.codec.status_flow(settings, job), None, 0
        try:
            while True:
                request = flow.send(answer)
                if isinstance(request, Shared):
                    answer = RUNTIME.shared_value(request, hook._send_sync)
                else:
                    answer, sent = answers[sent], sent + 1
        except StopIteration as stop:
            stop.value.progress_line()
            return stop.value

    return poll


def main() -> None:
    parser = argparse.ArgumentParser(description="Codec CPU per status poll, per vendor (no I/O).")
    parser.add_argument("vendors", nargs="*", help="vendor keys (default: all)")
    args = parser.parse_args()
    recipes = vendor_recipes()
    vendors = ["which50", *[v for v in (args.vendors or recipes) if v != "which50"]]
    with tempfile.TemporaryDirectory(prefix="codec-bench-") as tmp:
        certfile, keyfile = make_certificate(Path(tmp))
        simulator = SimulatorProcess(certfile, keyfile).wait_ready()
        os.environ.update(connection_env(simulator.url, certfile))
        os.environ.setdefault("AIRFLOW_HOME", str(Path(tmp) / "airflow"))
        try:
            rows = []
            for vendor in vendors:
                poll = canned_poll(vendor, recipes[vendor], simulator)
                for _ in range(200):
                    poll()
                batches = []
                for _ in range(BATCHES):
                    began = time.process_time()
                    for _ in range(POLLS):
                        poll()
                    batches.append((time.process_time() - began) / POLLS * 1e6)
                rows.append((vendor, min(batches), statistics.median(batches)))
        finally:
            simulator.stop()
    baseline = rows[0][2]
    print(f"{'vendor':<14} {'best us/poll':>12} {'median us/poll':>14} {'x which50':>9}")
    for vendor, best, median in rows:
        print(f"{vendor:<14} {best:>12.1f} {median:>14.1f} {median / baseline:>8.2f}x")


if __name__ == "__main__":
    main()
