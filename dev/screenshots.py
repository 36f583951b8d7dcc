"""Regenerate ``docs/screenshots/*.png`` from the deployment tests' browser checks.

Runs the tests that take the screenshots (a real Airflow deployment on 127.0.0.1 with the
current example DAGs and operators, driven in the system chromium through Playwright) with
``UPDATE_SCREENSHOTS=1``, so they write into ``docs/screenshots/`` instead of a temporary
folder, then checks that every screenshot the docs show was written by this run.

    python dev/screenshots.py            # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
TESTS = (
    "tests/test_deployment.py::test_ui_shows_the_deferred_sensor_its_console_link_and_the_connection_form",
    "tests/test_deployment_imports_ui.py::test_imports_page_lists_every_example_import_with_its_counters",
    "tests/test_deployment_imports_ui.py::test_a_running_import_shows_progress_then_finishes_and_the_import_tab_renders",
)
"""The browser checks that save screenshots (each test names its PNGs)."""
EXPECTED = (
    "sensor-deferred.png",
    "sensor-succeeded-console-link.png",
    "connection-form-which50.png",
    "imports-page.png",
    "imports-running.png",
    "import-tab.png",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest")
    args = parser.parse_args(argv)
    started = time.time()
    env = {
        **os.environ,
        "UPDATE_SCREENSHOTS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS, *args.pytest_args]
    if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:
        print("the deployment tests failed: screenshots not (all) refreshed", file=sys.stderr)
        return 1
    stale = [
        name for name in EXPECTED if not (SCREENSHOTS / name).exists() or (SCREENSHOTS / name).stat().st_mtime < started
    ]
    for name in EXPECTED:
        print(f"{'stale' if name in stale else 'written'}: docs/screenshots/{name}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
