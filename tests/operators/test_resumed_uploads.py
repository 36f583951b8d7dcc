"""Uploads that survive a transient fault: every operator, through the registry, end to end (``dag.test()``).

A fault on the 2nd of 3 batches (a 503, a connection dropped after the vendor processed the body,
an answer slower than the timeout), on the start call after every batch, twice in a row, and a
permanent fault mid-upload. Rows at the vendor are the counters the simulator derives from the
rows it holds for the import it ran; the ledger (task_state_store on 3.3, a Variable before) is
gone after the task ends.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_import_status.runtime import RUNTIME
from airflow_import_status.simulators.contacts import write_csv
from tests.registry import OPERATOR_VENDORS, operator_class, vendor_case
from tests.sensor_harness import run_sensor

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]

ROWS = 300
BATCH = 100
TIMEOUT = 0.5
"""The connection's request timeout in these tests (seconds): a ``slow_answer`` fault holds the answer 3x longer."""

TRANSIENT: dict[str, dict[str, Any]] = {
    "http_503": {"kind": "status", "status": 503, "body": "Service Unavailable"},
    "dropped_after_body": {"kind": "drop_after"},
    "timeout": {"kind": "slow_answer", "seconds": 3 * TIMEOUT},
}

STARTED_JOBS = {"which50": 1, "mypreferences": 1, "mailup": 3}
"""Import jobs the vendor runs for 300 rows in batches of 100 (MailUp: one process per batch)."""


@pytest.fixture(autouse=True)
def fresh_runtime():
    RUNTIME.reset()


def ledger_entries() -> int:
    """Ledger entries of every task instance, in both stores."""
    from airflow.models import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        count = session.query(Variable).filter(Variable.key.like("import_status.job.%")).count()
        try:
            from airflow.models.task_state_store import TaskStateStoreModel
        except ImportError:  # before 3.3
            return count
        stored = session.query(TaskStateStoreModel).filter(TaskStateStoreModel.key.like("import_status.%"))
        return count + stored.count()


def _run(sim, monkeypatch, tmp_path, vendor: str, **kwargs: Any):
    case = vendor_case(vendor)
    conn_id = f"resumed_{vendor}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", case.connection(sim.base_url, extra={"timeout": TIMEOUT}))
    source = str(write_csv(tmp_path / "contacts.csv", ROWS))
    op_kwargs = case.operator_kwargs(
        source, batch_size=BATCH, retry_delay=0, **{operator_class(case).spec.conn_id_param: conn_id}, **kwargs
    )
    return run_sensor(operator_class(case), "deferrable", **op_kwargs)


def _started(sim, vendor: str) -> int:
    return sum(1 for job in sim.jobs(vendor) if job["started"])


@pytest.mark.parametrize("fault", sorted(TRANSIENT))
@pytest.mark.parametrize("vendor", OPERATOR_VENDORS)
def test_a_fault_on_the_second_of_three_batches_is_resumed_by_the_retry(sim, monkeypatch, tmp_path, vendor, fault):
    case = vendor_case(vendor)
    before = ledger_entries()
    sim.add_fault(vendor, **{**case.upload_request, **TRANSIENT[fault], "skip": 1, "times": 1})
    run = _run(sim, monkeypatch, tmp_path, vendor, retries=1)
    assert (run.state, run.try_number) == ("success", 2)
    assert run.return_value["total"] == ROWS, "every row at the vendor exactly once"
    assert _started(sim, vendor) == STARTED_JOBS[vendor], "an abandoned job or an orphan process was started"
    assert ledger_entries() == before, "the ledger outlived the task"


@pytest.mark.parametrize("fault", sorted(TRANSIENT))
@pytest.mark.parametrize("vendor", OPERATOR_VENDORS)
def test_a_fault_on_the_start_call_after_every_batch(sim, monkeypatch, tmp_path, vendor, fault):
    case = vendor_case(vendor)
    before = ledger_entries()
    sim.add_fault(vendor, **{**case.start_request, **TRANSIENT[fault], "times": 1})
    run = _run(sim, monkeypatch, tmp_path, vendor, retries=1)
    assert (run.state, run.try_number) == ("success", 2)
    assert run.return_value["total"] == ROWS
    assert _started(sim, vendor) == STARTED_JOBS[vendor]
    assert ledger_entries() == before


@pytest.mark.parametrize("vendor", OPERATOR_VENDORS)
def test_two_faults_in_a_row_with_two_retries(sim, monkeypatch, tmp_path, vendor):
    case = vendor_case(vendor)
    sim.add_fault(vendor, **{**case.upload_request, **TRANSIENT["dropped_after_body"], "skip": 1, "times": 1})
    # queued faults apply in turn: this one hits the first upload request of try 2
    sim.add_fault(vendor, **{**case.upload_request, **TRANSIENT["http_503"], "times": 1})
    run = _run(sim, monkeypatch, tmp_path, vendor, retries=2)
    assert (run.state, run.try_number) == ("success", 3)
    assert run.return_value["total"] == ROWS
    assert _started(sim, vendor) == STARTED_JOBS[vendor]


@pytest.mark.parametrize("vendor", OPERATOR_VENDORS)
def test_a_permanent_fault_mid_upload_fails_without_retry_naming_what_reached_the_vendor(
    sim, monkeypatch, tmp_path, vendor, capfd
):
    case = vendor_case(vendor)
    before = ledger_entries()
    sim.add_fault(vendor, **{**case.upload_request, "kind": "status", "status": 400, "skip": 1, "times": 1})
    run = _run(sim, monkeypatch, tmp_path, vendor, retries=2)
    assert (run.state, run.try_number) == ("failed", 1)
    assert f"upload failed after 1 batches ({BATCH} rows) reached the vendor" in capfd.readouterr().out
    assert _started(sim, vendor) == 0
    assert ledger_entries() == before
