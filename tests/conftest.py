"""Test set-up: an isolated Airflow home, the vendor simulators on a real socket, one DB reset.

Airflow reads its configuration at import, so the environment is set here, before any test
module imports Airflow.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="airflow-import-status-tests-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
_DAGS = _HOME / "dags"
_DAGS.mkdir()
for _example in (Path(__file__).resolve().parents[1] / "example_dags").glob("*.py"):
    (_DAGS / _example.name).symlink_to(_example)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"

import pytest  # noqa: E402

import tests.toy_vendor  # noqa: E402, F401  (the test-only vendor joins the registry before the simulators start)
from airflow_import_status.simulators import connection_env  # noqa: E402
from airflow_import_status.simulators.server import SimulatorClient, SimulatorServer  # noqa: E402


@pytest.fixture(scope="session")
def simulator_server():
    """The vendor simulators on 127.0.0.1, with every default connection pointing at them."""
    with SimulatorServer() as server:
        os.environ.update(connection_env(server.url))
        yield server


@pytest.fixture
def sim(simulator_server) -> SimulatorClient:
    """Control client of the simulators, reset before each test."""
    client = SimulatorClient(simulator_server.url)
    client.reset()
    return client


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh metadata DB for tests that run DAGs or sensors through Airflow."""
    from airflow.utils import db

    db.resetdb()
    yield
