"""Refused records written to ``rejected_records_path``: sensors and operators end to end through real Airflow.

Each operator runs on a CSV with known bad rows (refused before sending, and, for MyPreferences,
refused by the vendor at staging); a sensor waits on an import started elsewhere. The file must
list exactly those rows, with reasons and source row numbers, and no refused address may reach
the task log or XCom.
"""

from __future__ import annotations

import csv
import json

import pytest

from airflow_import_status.operators.mailup import MailUpImportOperator
from airflow_import_status.operators.mypreferences import MyPreferencesImportOperator
from airflow_import_status.operators.which50 import Which50ImportOperator
from airflow_import_status.rejected import (
    MAX_DISTINCT_REASONS,
    OTHER_REASONS,
    RefusedRecord,
    RefusedSummary,
    SourceRows,
    summary_reason,
    write_refused,
)
from airflow_import_status.runtime import RUNTIME
from airflow_import_status.sensors.mypreferences import MyPreferencesImportSensor
from airflow_import_status.simulators.mailup import LIST_GUID
from tests.sensor_harness import run_sensor

HEADER = "email,first_name,last_name,phone"
BAD_ADDRESS = "bad.address.example.com"


@pytest.fixture(autouse=True)
def no_bearer_token_yet():
    RUNTIME.reset()


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _no_address_leaked(capfd, caplog, run, addresses) -> None:
    captured = capfd.readouterr()
    haystacks = {
        "task log": captured.out + captured.err + "\n".join(r.getMessage() for r in caplog.records),
        "xcom": json.dumps([run.return_value, run.import_result, run.rejected_records]),
        "trigger kwargs": json.dumps(run.trigger_kwargs),
    }
    for where, text in haystacks.items():
        for address in addresses:
            assert address not in text, f"a refused address reached the {where}"


# ----- the pure parts ---------------------------------------------------------------------------------
def test_summary_reasons_carry_no_address_or_number():
    assert summary_reason("refused.7@example.invalid: bad, call +39 02 555 0101") == "<email>: bad, call <number>"
    assert summary_reason("  ") == "(no reason given)"


def test_distinct_reasons_are_bounded():
    summary = RefusedSummary(path="x")
    for n in range(MAX_DISTINCT_REASONS + 50):
        summary.add(RefusedRecord("vendor", None, None, f"reason {chr(65 + n % 26)}{n // 26}"))
    assert len(summary.reasons) == MAX_DISTINCT_REASONS + 1
    assert summary.reasons[OTHER_REASONS] == 50


def test_a_vendor_key_joins_back_only_where_it_is_unique_in_the_source(tmp_path):
    source_rows = [
        (1, {"email": "a@example.com"}),
        (2, "3 more values than header columns"),
        (3, {"email": "dup@example.com"}),
        (4, {"email": "dup@example.com"}),
        (5, {"email": "B@Example.com"}),
        (6, {}),
    ]
    vendor = [RefusedRecord("vendor", None, key, "refused") for key in ("b@example.com", "dup@example.com", "zz@x.y")]

    def pages(offset: int, limit: int):
        from airflow_import_status.rejected import RefusedPage

        return RefusedPage(vendor[offset - 1 : offset - 1 + limit], offset - 1 + limit < len(vendor))

    source = SourceRows(rows=lambda: iter(source_rows), check=lambda row: None if row else "the row is empty")
    summary = write_refused(tmp_path / "r.csv", vendor_pages=pages, source=source, page_size=2)
    got = [(r["source"], r["row"], r["key"], r["reason"]) for r in _rows(tmp_path / "r.csv")]
    assert got == [
        ("upload", "2", "", "3 more values than header columns"),
        ("upload", "6", "", "the row is empty"),
        ("vendor", "5", "b@example.com", "refused"),
        ("vendor", "", "dup@example.com", "refused"),
        ("vendor", "", "zz@x.y", "refused"),
    ]
    assert summary.to_dict()["by_source"] == {"upload": 2, "vendor": 3}


@pytest.mark.parametrize("as_object", [False, True])
def test_an_object_storage_url_or_path_is_written_through_its_filesystem(tmp_path, as_object):
    from airflow.sdk import ObjectStoragePath

    from airflow_import_status.rejected import RefusedPage

    url = f"file://{tmp_path}/refused.jsonl"
    record = RefusedRecord("vendor", None, "k@example.com", "refused", {"ProfileId": 1})
    summary = write_refused(
        ObjectStoragePath(url) if as_object else url,
        vendor_pages=lambda offset, limit: RefusedPage([record], has_more=False),
    )
    lines = [json.loads(line) for line in (tmp_path / "refused.jsonl").read_text().splitlines()]
    assert lines == [
        {"source": "vendor", "row": None, "key": "k@example.com", "reason": "refused", "fields": {"ProfileId": 1}}
    ]
    assert summary.path == url


def test_a_parameter_out_of_range_fails_at_parse_time():
    with pytest.raises(ValueError, match="max_rejected_records"):
        MyPreferencesImportSensor(task_id="t", access_token=1, max_rejected_records=0)


# ----- a sensor waiting on an import started elsewhere --------------------------------------------------
COUNTERS = {"total": 100, "valid": 93, "invalid": 4, "processed": 90, "exceptions": 3, "not_honored": 0}


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", ["deferrable", "poke"])
def test_a_sensor_writes_the_vendors_list(sim, tmp_path, capfd, caplog, mode):
    job = sim.create_job("mypreferences", counters=COUNTERS, polls=2)
    path = tmp_path / "out" / "refused.csv"
    run = run_sensor(MyPreferencesImportSensor, mode, access_token=int(job["job_id"]), rejected_records_path=str(path))
    assert run.state == "success"
    rows = _rows(path)
    assert [row["key"] for row in rows] == [f"refused.{n}@example.invalid" for n in range(1, 8)]
    assert {(row["source"], row["row"]) for row in rows} == {("vendor", "")}
    assert run.rejected_records == {
        "path": str(path),
        "count": 7,
        "by_source": {"upload": 0, "vendor": 7},
        "truncated": False,
        "top_reasons": [{"reason": "Exception during import execution.", "count": 7}],
    }
    _no_address_leaked(capfd, caplog, run, [row["key"] for row in rows])


@pytest.mark.usefixtures("airflow_db")
def test_the_gate_failure_names_the_file_and_the_top_reasons(sim, tmp_path, capfd):
    job = sim.create_job("mypreferences", counters=COUNTERS, polls=1)
    path = tmp_path / "refused.jsonl"
    run = run_sensor(
        MyPreferencesImportSensor,
        "poke",
        access_token=int(job["job_id"]),
        rejected_records_path=str(path),
        max_rejected=2,
    )
    assert run.state == "failed"
    assert len(path.read_text().splitlines()) == 7, "the file is written when the gate trips"
    assert run.rejected_records["count"] == 7, "the summary is pushed when the gate trips"
    out = capfd.readouterr().out
    assert f"more than max_rejected=2. 7 refused records written to {path}; top reasons: " in out
    assert "Exception during import execution. (7)" in out


@pytest.mark.usefixtures("airflow_db")
def test_a_failed_import_still_writes_the_file(sim, tmp_path):
    script = [{"state": "running", "progress": 40}, {"state": "failed", "counters": COUNTERS}]
    job = sim.create_job("mypreferences", script=script)
    path = tmp_path / "refused.csv"
    run = run_sensor(
        MyPreferencesImportSensor, "poke", access_token=int(job["job_id"]), rejected_records_path=str(path)
    )
    assert run.state == "failed"
    assert len(_rows(path)) == 7 and run.rejected_records["count"] == 7


@pytest.mark.usefixtures("airflow_db")
def test_an_expired_token_while_listing_fails_the_task_with_the_counts_pushed(sim, tmp_path, capfd):
    job = sim.create_job("mypreferences", counters=COUNTERS, polls=1)
    sim.add_fault("mypreferences", "status", status=401, times=2, method="GET", path_contains="/Exceptions")
    path = tmp_path / "refused.csv"
    run = run_sensor(
        MyPreferencesImportSensor, "poke", access_token=int(job["job_id"]), rejected_records_path=str(path)
    )
    assert run.state == "failed"
    assert run.import_result["state"] == "succeeded"
    summary = run.rejected_records
    assert (summary["count"], summary["truncated"]) == (0, True) and "expired" in summary["error"]
    assert "the refused records could not all be listed" in capfd.readouterr().out


@pytest.mark.usefixtures("airflow_db")
def test_nothing_is_written_without_the_path(sim, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    job = sim.create_job("mypreferences", counters=COUNTERS, polls=1)
    run = run_sensor(MyPreferencesImportSensor, "poke", access_token=int(job["job_id"]))
    assert run.state == "success" and run.rejected_records is None
    assert list(tmp_path.iterdir()) == []
    assert not [r for r in sim.requests("mypreferences") if r["path"].endswith("/Exceptions")], "nothing was listed"


@pytest.mark.usefixtures("airflow_db")
def test_the_files_asset_event_carries_the_count(sim, tmp_path):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    job = sim.create_job("mypreferences", counters=COUNTERS, polls=1)
    path = tmp_path / "refused.csv"
    run = run_sensor(
        MyPreferencesImportSensor,
        "poke",
        access_token=int(job["job_id"]),
        rejected_records_path=str(path),
        source_kwargs={"outlets": f"[Asset('file://{path}')]"},
    )
    assert run.state == "success"
    with create_session() as session:
        extras = [e.extra for e in session.query(AssetEvent) if e.asset.uri == f"file://{path}"]
    assert extras and extras[-1]["rejected_records"] == 7 and extras[-1]["truncated"] is False


# ----- each operator on a CSV with known bad rows ---------------------------------------------------------
OPERATORS = {
    "mypreferences": (
        MyPreferencesImportOperator,
        {
            "import_name": "refused",
            "field_mapping": {
                "email": "EmailAddress",
                "first_name": "FirstName",
                "last_name": "LastName",
                "phone": "PhoneNumber",
            },
        },
    ),
    "mailup": (
        MailUpImportOperator,
        {
            "list_id": 1,
            "list_guid": LIST_GUID,
            "field_mapping": {"email": "email", "first_name": "campo1", "last_name": "campo2"},
        },
    ),
    "which50": (Which50ImportOperator, {"contact_list_id": 7}),
}


def _bad_csv(tmp_path) -> str:
    rows = [
        "a@example.com,Ann,A,+3902555001",  # 1
        ",Nobody,Here,",  # 2: no email (refused before sending by MyPreferences and MailUp)
        f"{BAD_ADDRESS},Bad,Address,",  # 3: MyPreferences' staging refuses the address
        "d@example.com,Dee,D,,surplus",  # 4: more values than columns (refused before sending by all)
        "e@example.com,Eve,E,",  # 5
    ]
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return str(path)


EXPECTED = {
    "mypreferences": [
        ("upload", "2", "", "no ProfileId, EmailAddress or PhoneNumber: the record identifies no one"),
        ("upload", "4", "", "1 more values than header columns"),
        ("vendor", "3", BAD_ADDRESS, "The email address does not match the account's RegEx."),
    ],
    "mailup": [
        ("upload", "2", "", "no email (the import is for the email channel, importType 1)"),
        ("upload", "4", "", "1 more values than header columns"),
    ],
    "which50": [("upload", "4", "", "1 more values than header columns")],
}


@pytest.mark.slow
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", ["deferrable", "poke"])
@pytest.mark.parametrize("vendor", sorted(OPERATORS))
def test_each_operator_writes_exactly_its_refused_rows(sim, tmp_path, capfd, caplog, vendor, mode):
    operator_class, kwargs = OPERATORS[vendor]
    path = tmp_path / "refused.csv"
    run = run_sensor(
        operator_class,
        mode,
        source=_bad_csv(tmp_path),
        max_bad_rows=5,
        rejected_records_path=str(path),
        **kwargs,
    )
    assert run.state == "success", vendor
    got = [(r["source"], r["row"], r["key"], r["reason"]) for r in _rows(path)]
    assert got == EXPECTED[vendor]
    summary = run.rejected_records
    by_source = {"upload": 0, "vendor": 0}
    for source, *_ in EXPECTED[vendor]:
        by_source[source] += 1
    assert (summary["count"], summary["by_source"], summary["truncated"]) == (len(got), by_source, False)
    if vendor == "mypreferences":
        assert run.return_value["invalid"] == by_source["vendor"], "the file and the vendor's counter agree"
    _no_address_leaked(capfd, caplog, run, [BAD_ADDRESS])
