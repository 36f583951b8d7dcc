"""Which50ImportOperator end to end through real Airflow (``dag.test()``, deferral included)."""

from __future__ import annotations

import pytest

from airflow_import_status.operators.which50 import Which50ImportOperator
from tests.sensor_harness import run_sensor

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]


def _csv(tmp_path, rows: list[str], header: str = "Email,FirstName") -> str:
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return str(path)


def _uploads(sim) -> list[dict]:
    return [r for r in sim.requests("which50") if r["method"] == "POST" and r["path"].endswith("/import")]


@pytest.mark.parametrize("mode", ["deferrable", "poke"])
def test_csv_upload_then_wait_with_counters_from_the_data(sim, tmp_path, mode):
    rows = [f"user{i}@example.com,User {i}" for i in range(23)] + ["not-an-email,Broken"] * 2
    run = run_sensor(Which50ImportOperator, mode, contact_list_id=7, source=_csv(tmp_path, rows), batch_size=10)
    assert run.state == "success"
    assert run.was_deferred == (mode == "deferrable")
    assert run.return_value["state"] == "succeeded"
    assert (run.return_value["inserted"], run.return_value["invalid"]) == (23, 2), "counters come from the rows"
    assert run.import_job == {"contact_list_id": 7, "import_job_id": int(run.return_value["job_id"])}
    batches = [
        r
        for r in sim.requests("which50")
        if r["method"] == "POST" and r["path"].count("/import/") and not r["path"].endswith("/run")
    ]
    assert len(batches) == 3, "25 rows in batches of 10"


def test_a_list_of_rows_with_a_field_mapping(sim):
    rows = [{"mail": f"u{i}@example.com", "name": f"U{i}", "ignored": 1} for i in range(5)]
    run = run_sensor(
        Which50ImportOperator,
        "deferrable",
        contact_list_id=8,
        source=rows,
        field_mapping={"mail": "Email", "name": "FirstName"},
    )
    assert run.state == "success" and run.return_value["inserted"] == 5


def test_a_retry_after_a_successful_upload_waits_on_the_same_job(sim, tmp_path):
    """Try 1 uploads, then fails while waiting (the vendor's status API is down); try 2 must not upload again."""
    sim.add_fault("which50", "status", status=503, times=1, method="GET", path_contains="/import/")
    run = run_sensor(
        Which50ImportOperator,
        "poke",
        contact_list_id=9,
        source=_csv(tmp_path, ["a@example.com,A", "b@example.com,B"]),
        max_consecutive_failures=1,
        retries=1,
        retry_delay=0,
    )
    assert run.state == "success" and run.try_number == 2
    assert len(_uploads(sim)) == 1, "the retry uploaded the file a second time"
    assert run.return_value["inserted"] == 2


@pytest.mark.parametrize(("max_bad_rows", "state"), [(1, "failed"), (2, "success")])
def test_bad_rows_under_and_over_max_bad_rows(sim, tmp_path, max_bad_rows, state):
    rows = ["a@example.com,A", "b@example.com,B,surplus", "c@example.com,C", "d@example.com,D,surplus"]
    run = run_sensor(
        Which50ImportOperator,
        "poke",
        contact_list_id=10,
        source=_csv(tmp_path, rows),
        max_bad_rows=max_bad_rows,
    )
    assert run.state == state
    runs = [r for r in sim.requests("which50") if r["path"].endswith("/run")]
    assert len(runs) == (1 if state == "success" else 0), "an import over max_bad_rows was started"


def test_an_empty_or_missing_source_sends_nothing(sim, tmp_path):
    empty = run_sensor(Which50ImportOperator, "poke", contact_list_id=11, source=_csv(tmp_path, []))
    missing = run_sensor(Which50ImportOperator, "poke", contact_list_id=11, source=str(tmp_path / "nope.csv"))
    assert empty.state == missing.state == "failed"
    assert sim.requests("which50") == []


def test_a_batch_refused_half_way_says_how_many_reached_the_vendor(sim, tmp_path, capfd):
    sim.add_fault("which50", "status", status=500, method="POST", path_contains="/import/", skip=1)
    rows = [f"user{i}@example.com,U" for i in range(25)]
    run = run_sensor(Which50ImportOperator, "poke", contact_list_id=12, source=_csv(tmp_path, rows), batch_size=10)
    assert run.state == "failed" and run.try_number == 1
    assert "upload failed after 1 batches (10 rows) reached the vendor" in capfd.readouterr().out
    posts = [r["path"] for r in sim.requests("which50") if r["method"] == "POST"]
    assert len(posts) == 3 and not posts[-1].endswith("/run"), f"the refused batch was re-sent or the job run: {posts}"
