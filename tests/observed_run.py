"""Tasks through real Airflow (``dag.test()``) in a fresh process configured for lineage or metrics.

Airflow's OpenLineage provider and its metrics read their configuration once per process, so
the lineage and metrics tests run their DAGs here: ``python -m tests.observed_run IN OUT`` reads
a JSON list of runs (``class``: the sensor or operator class path, ``mode``, ``kwargs``), runs each
through :func:`tests.sensor_harness.run_sensor` with the environment the caller set (its
``AIRFLOW_HOME``, metadata DB and simulator connections, plus the ``[openlineage]`` or
``[metrics]`` settings) and writes what each left as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def observed_runs(runs: list[dict[str, Any]], env: dict[str, str], workdir: Path, timeout: float = 300) -> list[Any]:
    """Run ``runs`` in a child process with ``env`` added to this one's; what each run left."""
    spec, out = workdir / "runs.json", workdir / "results.json"
    spec.write_text(json.dumps(runs))
    child_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "tests.observed_run", str(spec), str(out)],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    (workdir / "child.log").write_text(f"{done.stdout}\n----- stderr\n{done.stderr}")
    trace = done.stderr[done.stderr.find("Traceback") :] if "Traceback" in done.stderr else done.stderr
    assert done.returncode == 0, f"observed run failed (log: {workdir / 'child.log'}):\n{trace[:6000]}"
    return list(json.loads(out.read_text()))


def main(spec: str, out: str) -> None:
    from tests.sensor_harness import run_sensor
    from tests.version_compat import import_string

    results = []
    for run in json.loads(Path(spec).read_text()):
        result = run_sensor(import_string(run["class"]), run["mode"], **run["kwargs"])
        results.append(dataclasses.asdict(result))
    Path(out).write_text(json.dumps(results, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:3])
