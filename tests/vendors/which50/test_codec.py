"""Which50's pure parser, from the seed's own JSON and XML examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_import_status.errors import VendorPayloadError
from airflow_import_status.result import ImportState, StatusTable
from airflow_import_status.vendors.which50.codec import parse_import_job
from airflow_import_status.vendors.which50.spec import STATUS_TABLE as DEFAULT_STATUS_TABLE

PAYLOADS = Path(__file__).parent / "payloads"
SEED_JSON = (PAYLOADS / "which50_import_job.json").read_bytes()
SEED_XML = (PAYLOADS / "which50_import_job.xml").read_bytes()


def _job(**fields) -> str:
    data = json.loads(SEED_JSON)
    data.update(fields)
    return json.dumps(data)


@pytest.mark.parametrize(("body", "content_type"), [(SEED_JSON, "application/json"), (SEED_XML, "application/xml")])
def test_seed_examples_map_to_the_normalized_result(body, content_type):
    result = parse_import_job(body, content_type)
    assert result.vendor == "which50"
    assert result.job_id == "1"
    assert result.vendor_status == "sample string 2"
    assert (result.total, result.inserted, result.updated, result.unchanged, result.deleted) == (1, 1, 1, 1, 1)
    assert result.imported == 2
    assert result.invalid == 2
    assert result.details == {"contact_list_id": 1, "InvalidEmailCount": 1, "InvalidSmsCount": 1}
    assert result.progress_percent == 1
    assert result.started_at == "2024-12-27T17:54:38.743871+00:00"
    assert result.finished_at == "2024-12-27T17:54:38.743871+00:00"
    # "sample string 2" is no status Which50 documents: never success, keep waiting with a warning
    assert result.state is ImportState.PENDING
    assert "sample string 2" in result.warnings[0] and "success_statuses" in result.warnings[0]


def test_json_and_xml_give_the_same_result():
    assert parse_import_job(SEED_JSON) == parse_import_job(SEED_XML)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Completed", ImportState.SUCCEEDED),
        ("finished", ImportState.SUCCEEDED),
        ("FAILED", ImportState.FAILED),
        ("Cancelled", ImportState.FAILED),
        ("Running", ImportState.RUNNING),
        ("Queued", ImportState.PENDING),
    ],
)
def test_default_status_table_is_case_insensitive(status, state):
    assert parse_import_job(_job(CurrentStatus=status)).state is state


def test_unknown_status_with_finish_date_and_full_progress_counts_as_finished():
    result = parse_import_job(_job(CurrentStatus="Archived", ProgressPercent=100))
    assert result.state is ImportState.SUCCEEDED
    assert "Archived" in result.warnings[0]


def test_unknown_status_without_finish_date_keeps_waiting():
    result = parse_import_job(_job(CurrentStatus="Archived", ProgressPercent=100, FinishDate=None))
    assert result.state is ImportState.PENDING


def test_configured_status_sets_override_the_defaults():
    table = StatusTable(succeeded=frozenset({"Imported"}), failed=frozenset({"Rejected"}))
    assert parse_import_job(_job(CurrentStatus="imported"), status_table=table).state is ImportState.SUCCEEDED
    assert parse_import_job(_job(CurrentStatus="Rejected"), status_table=table).state is ImportState.FAILED
    assert parse_import_job(_job(CurrentStatus="Completed"), status_table=table).state is ImportState.PENDING
    assert DEFAULT_STATUS_TABLE.classify("Completed") is ImportState.SUCCEEDED


def test_xml_nil_dates_are_null():
    body = SEED_XML.replace(
        b"<FinishDate>2024-12-27T17:54:38.7438716+00:00</FinishDate>", b'<FinishDate i:nil="true"/>'
    )
    assert parse_import_job(body).finished_at is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("<html><body>Server Error</body></html>", "expected an <ImportJob>"),
        ('{"Id": 1, "CurrentStatus": "Comp', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (_job(Id=None), "no Id"),
        (_job(TotalContacts=-5), "negative"),
        (_job(InsertedContacts="many"), "not an integer"),
        (_job(ProgressPercent=250), "over 100"),
        (_job(StartDate="yesterday"), "not an ISO 8601 date"),
        ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ImportJob><Id>&e;</Id></ImportJob>', "DTD"),
    ],
)
def test_bad_payloads_raise_a_typed_parse_error(body, fragment):
    with pytest.raises(VendorPayloadError, match="which50") as err:
        parse_import_job(body)
    assert fragment in str(err.value)


def test_an_answer_about_another_job_is_never_its_success():
    with pytest.raises(VendorPayloadError, match="asked for ImportJob 1000 but the answer is about 999"):
        parse_import_job(_job(Id=999, CurrentStatus="Completed"), expected_id=1000)
    assert parse_import_job(_job(Id=1000, CurrentStatus="Completed"), expected_id=1000).state is ImportState.SUCCEEDED


@pytest.mark.parametrize("status", [{"Name": "Failed"}, ["Completed"], 3, True])
def test_a_status_that_is_not_text_is_never_a_success(status):
    """The FinishDate + 100% rule once turned ``{"CurrentStatus": {"Name": "Failed"}}`` into success."""
    body = _job(CurrentStatus=status, ProgressPercent=100, FinishDate="2024-12-27T17:54:38Z")
    with pytest.raises(VendorPayloadError, match="CurrentStatus is not text"):
        parse_import_job(body)


@pytest.mark.parametrize("status", [None, "", "  "])
def test_a_missing_status_is_never_a_success_even_when_finished(status):
    result = parse_import_job(_job(CurrentStatus=status, ProgressPercent=100, FinishDate="2024-12-27T17:54:38Z"))
    assert result.state is ImportState.PENDING
    assert "unrecognized import status None" in result.warnings[0]
