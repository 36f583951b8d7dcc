"""MailUpImportOperator end to end through real Airflow (``dag.test()``, deferral included)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from airflow_import_status.hooks.mailup import MailUpHook
from airflow_import_status.operators.mailup import MailUpImportOperator
from airflow_import_status.simulators.mailup import LIST_GUID, return_code_message, soap_envelope
from tests.sensor_harness import run_sensor

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]

CONTACTS = Path(__file__).resolve().parents[2] / "example_dags" / "contacts.csv"
CONTACTS_MAPPING = {"email": "email", "first_name": "campo1", "last_name": "campo2"}
LIST = {"list_id": 1, "list_guid": LIST_GUID}


def _csv(tmp_path, rows: list[str], header: str = "email,campo1") -> str:
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return str(path)


def _operations(sim) -> list[str]:
    """The SOAP operations MailUp received, in order (every call shares one path)."""
    return [r["soap_action"].rpartition("/")[2] for r in sim.requests("mailup") if r["method"] == "POST"]


def _uploads(sim) -> int:
    return _operations(sim).count("NewImportProcess")


def _refuse(sim, operation: str, code: int, skip: int) -> None:
    """MailUp answers the ``skip + 1``-th SOAP call with ``code`` (an ordinary MailUp message)."""
    body = soap_envelope(operation, return_code_message(code))
    sim.add_fault("mailup", "body", body=body, content_type="text/xml; charset=utf-8", method="POST", skip=skip)


@pytest.mark.parametrize("mode", ["deferrable", "poke"])
def test_the_example_csv_then_wait_with_counters_from_the_data(sim, mode):
    run = run_sensor(MailUpImportOperator, mode, **LIST, source=str(CONTACTS), field_mapping=CONTACTS_MAPPING)
    assert run.state == "success"
    assert run.was_deferred == (mode == "deferrable")
    result = run.return_value
    assert result["state"] == "succeeded"
    assert (result["total"], result["imported"], result["inserted"]) == (30, 28, 28), "2 invalid addresses"
    assert run.import_job == {**LIST, "process_id": int(result["job_id"]), "more_process_ids": None}
    assert _operations(sim)[:2] == ["NewImportProcess", "StartProcess"]
    assert set(_operations(sim)[2:]) == {"GetProcessDetails"}


def test_several_batches_are_several_processes_started_together_and_summed(sim, tmp_path):
    rows = [f"user{i}@example.com,User {i}" for i in range(23)] + ["not-an-email,Broken"] * 2
    run = run_sensor(MailUpImportOperator, "deferrable", **LIST, source=_csv(tmp_path, rows), batch_size=10)
    assert run.state == "success" and run.was_deferred
    result = run.return_value
    assert (result["total"], result["imported"], result["details"]["processes"]) == (25, 23, 3)
    first = int(result["job_id"])
    more = [int(process_id) for process_id in run.import_job["more_process_ids"].split(",")]
    assert len(more) == 2 and first not in more
    assert _operations(sim)[:4] == ["NewImportProcess"] * 3 + ["StartImportProcesses"]
    for process_id, total in zip([first, *more], [10, 10, 5], strict=True):
        assert sim.job("mailup", str(process_id))["data"]["counters"]["total"] == total, "one batch per process"


def test_a_list_of_rows_with_a_field_mapping(sim):
    rows = [{"mail": f"u{i}@example.com", "name": f"U{i}", "ignored": 1} for i in range(5)]
    rows[3]["mail"] = "u3-at-example.com"  # MailUp counts it and imports it nowhere
    run = run_sensor(
        MailUpImportOperator, "deferrable", **LIST, source=rows, field_mapping={"mail": "email", "name": "Name"}
    )
    assert run.state == "success" and run.was_deferred
    assert (run.return_value["total"], run.return_value["imported"]) == (5, 4)


def test_a_retry_after_a_successful_upload_waits_on_the_same_job(sim, tmp_path):
    """Try 1 uploads and starts, then fails while waiting (the status call is down); try 2 must not upload."""
    sim.add_fault("mailup", "status", status=503, method="POST", skip=2)  # the first GetProcessDetails
    run = run_sensor(
        MailUpImportOperator,
        "poke",
        **LIST,
        source=_csv(tmp_path, ["a@example.com,A", "b@example.com,B"]),
        max_consecutive_failures=1,
        retries=1,
        retry_delay=0,
    )
    assert run.state == "success" and run.try_number == 2
    assert _uploads(sim) == 1, "the retry uploaded the file a second time"
    assert _operations(sim).count("StartProcess") == 1
    assert run.return_value["job_id"] == str(run.import_job["process_id"]), "the retry waited on another job"
    assert run.return_value["imported"] == 2


def test_a_busy_list_is_retried_without_uploading_again(sim, tmp_path):
    _refuse(sim, "StartProcess", -601, skip=1)  # MailUp: another import is running on the list
    run = run_sensor(
        MailUpImportOperator,
        "deferrable",
        **LIST,
        source=_csv(tmp_path, ["a@example.com,A", "b@example.com,B", "c@example.com,C"]),
        retries=1,
        retry_delay=0,
    )
    assert run.state == "success" and run.try_number == 2
    assert _operations(sim)[:3] == ["NewImportProcess", "StartProcess", "StartProcess"], "re-uploaded"
    assert run.return_value["imported"] == 3


def test_a_busy_list_without_retries_left_says_so(sim, tmp_path, capfd):
    MailUpHook().start_import(1, LIST_GUID, [{"email": "first@example.com"}])  # the list is busy with it
    run = run_sensor(MailUpImportOperator, "poke", **LIST, source=_csv(tmp_path, ["a@example.com,A"]))
    assert run.state == "failed"
    out = capfd.readouterr().out
    assert "MailUp list 1 is busy with another import" in out and "-601" in out
    assert "No retry is left: the upload stays on MailUp, not started" in out
    assert _operations(sim) == ["NewImportProcess", "StartProcess", "NewImportProcess", "StartProcess"]


@pytest.mark.parametrize(("max_bad_rows", "state"), [(1, "failed"), (2, "success")])
def test_bad_rows_under_and_over_max_bad_rows(sim, tmp_path, max_bad_rows, state):
    rows = ["a@example.com,A", ",No email", "c@example.com,C", ",No email either"]
    run = run_sensor(MailUpImportOperator, "poke", **LIST, source=_csv(tmp_path, rows), max_bad_rows=max_bad_rows)
    assert run.state == state
    assert _operations(sim).count("StartProcess") == (1 if state == "success" else 0), "started over max_bad_rows"
    if state == "success":
        assert run.return_value["total"] == 2, "bad rows are not sent"


def test_an_unknown_subscriber_field_is_a_bad_row(sim, capfd):
    rows = [{"email": "a@example.com"}, {"email": "b@example.com", "nickname": "B"}]
    run = run_sensor(MailUpImportOperator, "poke", **LIST, source=rows)
    assert run.state == "failed"
    assert "row 2: field(s) nickname not a MailUp subscriber field" in capfd.readouterr().out


def test_an_empty_or_missing_source_sends_nothing(sim, tmp_path, capfd):
    empty = run_sensor(MailUpImportOperator, "poke", **LIST, source=_csv(tmp_path, []))
    missing_path = str(tmp_path / "nope.csv")
    missing = run_sensor(MailUpImportOperator, "poke", **LIST, source=missing_path)
    assert empty.state == missing.state == "failed"
    out = capfd.readouterr().out
    assert "has no usable rows" in out and f"the source {missing_path!r} does not exist" in out
    assert sim.requests("mailup") == []


def test_a_batch_refused_half_way_says_how_many_reached_mailup(sim, tmp_path, capfd):
    _refuse(sim, "NewImportProcess", -403, skip=1)  # the second batch
    rows = [f"user{i}@example.com,U" for i in range(25)]
    run = run_sensor(MailUpImportOperator, "poke", **LIST, source=_csv(tmp_path, rows), batch_size=10)
    assert run.state == "failed" and run.try_number == 1
    out = capfd.readouterr().out
    assert "upload failed after 1 batches (10 rows) reached the vendor" in out
    assert "ReturnCode -403" in out and "is prepared, not started" in out
    assert _operations(sim) == ["NewImportProcess", "NewImportProcess"], "a batch was re-sent or the import started"


class _DiesOnce:
    """A field value whose first reading kills the try, as a worker dying mid-upload would."""

    died = False

    def __str__(self) -> str:
        reader = sys._getframe(1).f_globals.get("__name__", "")
        if reader.startswith("airflow_import_status.vendors.mailup") and not _DiesOnce.died:  # not DAG serializing
            _DiesOnce.died = True
            raise RuntimeError("the worker died in the middle of the upload")
        return "Fifteen"


def rows_dying_once(count: int, at: int) -> list[dict]:
    return [{"email": f"user{i}@example.com", "campo1": _DiesOnce() if i == at else f"U{i}"} for i in range(count)]


def test_a_try_dying_mid_upload_is_resumed_after_the_batches_mailup_holds(sim):
    from airflow.models import Variable
    from airflow.utils.session import create_session

    def ledgers() -> int:
        with create_session() as session:
            return session.query(Variable).filter(Variable.key.like("import_status.job.%")).count()

    _DiesOnce.died = False
    earlier = ledgers()  # failed runs of other tests keep theirs on purpose
    run = run_sensor(
        MailUpImportOperator,
        "deferrable",
        **LIST,
        batch_size=10,
        retries=1,
        retry_delay=0,
        source_kwargs={"source": "__import__('tests.operators.test_mailup', fromlist=['_']).rows_dying_once(25, 14)"},
    )
    assert _DiesOnce.died and run.state == "success" and run.try_number == 2
    assert _operations(sim)[:4] == ["NewImportProcess"] * 3 + ["StartImportProcesses"], "a batch was sent twice"
    assert (run.return_value["total"], run.return_value["imported"]) == (25, 25)
    assert ledgers() == earlier, "the ledger or the upload record outlived the task"
