"""MyPreferences' *Retrieve exceptions* listing: the codec's page flow through the real hook, against the simulator."""

from __future__ import annotations

import csv
import json

import pytest

from airflow_import_status.errors import VendorPayloadError
from airflow_import_status.hooks.mypreferences import MyPreferencesHook
from airflow_import_status.rejected import listing_of, write_refused
from airflow_import_status.runtime import RUNTIME
from airflow_import_status.simulators.mypreferences import SCRIPTED_EXCEPTION
from airflow_import_status.vendors.mypreferences.codec import parse_exceptions_page

VENDOR = "mypreferences"


@pytest.fixture(autouse=True)
def no_bearer_token_yet():
    RUNTIME.reset()


def _listing(sim, invalid: int, exceptions: int = 0):
    counters = {"total": 50 + invalid, "valid": 50, "invalid": invalid, "processed": 50 - exceptions}
    job = sim.create_job(VENDOR, counters={**counters, "exceptions": exceptions}, polls=1)
    hook = MyPreferencesHook()
    return listing_of(hook, {"access_token": int(job["job_id"])}), job


def _exception_requests(sim) -> list[str]:
    return [r["path"] + "?" + r.get("query", "") for r in sim.requests(VENDOR) if r["path"].endswith("/Exceptions")]


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_paging_over_several_pages_writes_every_record_once(sim, tmp_path):
    pages, _ = _listing(sim, invalid=7, exceptions=3)
    summary = write_refused(tmp_path / "refused.csv", vendor_pages=pages, page_size=3)
    rows = _rows(tmp_path / "refused.csv")
    assert [row["key"] for row in rows] == [f"refused.{n}@example.invalid" for n in range(1, 11)]
    assert {row["source"] for row in rows} == {"vendor"} and {row["reason"] for row in rows} == {SCRIPTED_EXCEPTION}
    assert json.loads(rows[0]["fields"])["ProfileId"] == 900_000_001, "the record's own fields are kept"
    assert (summary.count, summary.truncated, summary.error) == (10, False, None)
    assert len(_exception_requests(sim)) == 4, "10 records in pages of 3: four requests"
    assert summary.to_dict()["top_reasons"] == [{"reason": SCRIPTED_EXCEPTION, "count": 10}]


def test_the_cap_cuts_the_listing_and_says_so(sim, tmp_path):
    pages, _ = _listing(sim, invalid=25)
    summary = write_refused(tmp_path / "refused.jsonl", vendor_pages=pages, max_records=12, page_size=10)
    lines = [json.loads(line) for line in (tmp_path / "refused.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and summary.count == 12 and summary.truncated is True
    assert lines[0]["source"] == "vendor" and lines[0]["fields"]["Emails"][0]["EmailAddress"] == lines[0]["key"]
    assert len(_exception_requests(sim)) == 2, "the second page asks only for the two records still wanted"


def test_a_listing_that_ends_exactly_at_the_cap_is_not_truncated(sim, tmp_path):
    pages, _ = _listing(sim, invalid=10)
    summary = write_refused(tmp_path / "refused.csv", vendor_pages=pages, max_records=10, page_size=5)
    assert (summary.count, summary.truncated) == (10, False)


def test_an_expired_access_token_mid_listing_stops_with_a_clear_error(sim, tmp_path):
    pages, job = _listing(sim, invalid=9)
    # the second page's request gets the vendor's 401 without a challenge: the import's access token expired
    sim.add_fault(VENDOR, "status", status=401, times=2, method="GET", path_contains="/Exceptions", skip=1)
    summary = write_refused(tmp_path / "refused.csv", vendor_pages=pages, page_size=4)
    assert summary.count == 4 and len(_rows(tmp_path / "refused.csv")) == 4, "what was read stays written"
    assert summary.truncated is True
    assert summary.error is not None and "HTTP 401" in summary.error and "expired" in summary.error
    assert job["job_id"] in summary.error
    assert "error" in summary.to_dict()


def test_staged_records_are_listed_with_the_staging_reason(sim, tmp_path):
    from airflow_import_status.vendors.mypreferences.codec import MyPreferencesCodec

    hook = MyPreferencesHook()
    settings = hook.get_settings()
    records = [[{"Emails": [{"EmailAddress": "good@example.com"}]}, {"Emails": [{"EmailAddress": "nope"}]}]]
    token = hook.run_flow(MyPreferencesCodec().start_import_flow(settings, "listed", records), settings)
    summary = write_refused(
        tmp_path / "refused.csv", vendor_pages=listing_of(hook, {"access_token": int(token)}), page_size=1
    )
    rows = _rows(tmp_path / "refused.csv")
    assert [(row["key"], row["reason"]) for row in rows] == [
        ("nope", "The email address does not match the account's RegEx.")
    ]
    assert summary.to_dict()["by_source"] == {"upload": 0, "vendor": 1}


def test_the_simulator_pages_as_the_page_describes(sim):
    import requests

    pages, job = _listing(sim, invalid=5)
    base = f"{sim.base_url}/mypreferences/Profiles/Async/SimAssociates/Import/{job['job_id']}/Exceptions"
    assert requests.get(base, timeout=5).status_code == 401, "no credentials, no listing"
    first = pages(1, 2)
    assert (len(first.records), first.has_more) == (2, True)
    last = pages(5, 2)
    assert (len(last.records), last.has_more) == (1, False)
    assert [r.key for r in last.records] == ["refused.5@example.invalid"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Count": 1, "HasMore": False}, "no collection"),
        ({"Count": 0, "Exceptions": [], "HasMore": "no"}, "not a boolean"),
        ({"Count": 1, "Exceptions": ["x"], "HasMore": False}, "not an object"),
    ],
)
def test_an_answer_that_does_not_decode_is_a_payload_error(body, message):
    with pytest.raises(VendorPayloadError, match=message):
        parse_exceptions_page(json.dumps(body).encode())


def test_the_reason_keeps_the_vendors_code_and_message():
    page = parse_exceptions_page(
        json.dumps(
            {
                "Count": 1,
                "HasMore": False,
                "TotalResults": 1,
                "BulkUserProfilePreferenceExceptions": [
                    {"ProfileId": 7, "ExceptionCode": "E42", "ExceptionMessage": "Consent version unknown"}
                ],
            }
        ).encode()
    )
    (record,) = page.records
    assert (record.key, record.reason, dict(record.fields or {})) == (
        "7",
        "E42: Consent version unknown",
        {"ProfileId": 7},
    )
