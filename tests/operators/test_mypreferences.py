"""MyPreferencesImportOperator end to end through real Airflow (``dag.test()``, deferral included)."""

from __future__ import annotations

import json

import pytest

from airflow_import_status.operators import mypreferences as operator_module
from airflow_import_status.operators.mypreferences import MyPreferencesImportOperator
from airflow_import_status.runtime import RUNTIME
from airflow_import_status.simulators.mypreferences import CLIENT_ID, HMAC_SECRET, USER_ID
from tests.sensor_harness import run_sensor

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]

VENDOR = "mypreferences"
IMPORT = f"/mypreferences/Profiles/Async/{CLIENT_ID}/Import"
MAPPING = {"email": "EmailAddress", "first_name": "FirstName", "last_name": "LastName", "phone": "PhoneNumber"}


@pytest.fixture(autouse=True)
def no_bearer_token_yet():
    RUNTIME.reset()


@pytest.fixture
def hmac_conn(simulator_server, monkeypatch):
    conn = {
        "conn_type": "mypreferences",
        "host": f"{simulator_server.url}/mypreferences",
        "login": USER_ID,
        "password": HMAC_SECRET,
        "extra": {"client_id": CLIENT_ID, "auth_type": "hmac"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MYPREFERENCES_HMAC", json.dumps(conn))
    return "mypreferences_hmac"


def _csv(tmp_path, rows: list[str], header: str = "email,first_name,last_name,phone") -> str:
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return str(path)


def _contacts(valid: int, invalid: int = 0) -> list[str]:
    rows = [f"user{i}@example.com,User,{i},+3902555{i:04d}" for i in range(valid)]
    return rows + [f"broken{i}.example.com,Broken,{i}," for i in range(invalid)]


def _posts(sim) -> list[str]:
    """The POSTs the simulator saw, as initiate / stage / execute (token requests left out)."""
    kinds = []
    for request in sim.requests(VENDOR):
        if request["method"] != "POST" or not request["path"].startswith(IMPORT):
            continue
        path = request["path"]
        kinds.append("initiate" if path == IMPORT else "execute" if path.endswith("/Execute") else "stage")
    return kinds


def _ledgers() -> list[str]:
    """Ledger Variables left behind (a finished task, success or final failure, leaves none)."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        return [v.key for v in session.query(Variable) if v.key.startswith("import_status.job.")]


def _staged(sim, token) -> dict:
    return sim.job(VENDOR, str(token))["data"]


@pytest.mark.parametrize("mode", ["deferrable", "poke"])
def test_csv_staged_then_executed_with_counters_from_the_data(sim, tmp_path, mode):
    source = _csv(tmp_path, _contacts(23, invalid=2))
    run = run_sensor(
        MyPreferencesImportOperator,
        mode,
        import_name="nightly",
        source=source,
        field_mapping=MAPPING,
        batch_size=10,
    )
    assert run.state == "success"
    assert run.was_deferred == (mode == "deferrable")
    result = run.return_value
    assert (result["state"], result["vendor_status"]) == ("succeeded", "Completed")
    assert (result["total"], result["invalid"], result["imported"], result["failed"]) == (25, 2, 23, 0), (
        "counters come from the staged records"
    )
    assert run.import_job == {"access_token": int(result["job_id"]), "client_id": None}
    assert _posts(sim) == ["initiate", "stage", "stage", "stage", "execute"], "25 rows in batches of 10"
    assert result["details"]["Name"] == "nightly"


def test_a_list_of_structured_records_signed_with_hmac(sim, hmac_conn):
    records = [{"ProfileId": 500 + i, "Emails": [{"EmailAddress": f"p{i}@example.com"}]} for i in range(6)]
    records.append({"ProfileId": 600, "PhoneNumbers": [{"PhoneNumber": "not a number"}]})
    run = run_sensor(
        MyPreferencesImportOperator,
        "deferrable",
        import_name="from xcom",
        source=records,
        mypreferences_conn_id=hmac_conn,
        data_stage_duration=5,
        import_type="Add",
    )
    assert run.state == "success" and run.was_deferred
    assert (run.return_value["total"], run.return_value["invalid"], run.return_value["imported"]) == (7, 1, 6)
    assert not [r for r in sim.requests(VENDOR) if "oauth" in r["path"]], "HMAC needs no bearer token"
    assert _staged(sim, run.return_value["job_id"])["DataStageDuration"] == 5


def test_a_retry_after_a_successful_upload_waits_on_the_same_job(sim, tmp_path):
    """Try 1 stages and executes, then fails while waiting (the status API is down); try 2 must not stage again."""
    sim.add_fault(VENDOR, "status", status=503, times=1, method="GET", path_contains="/Import/")
    run = run_sensor(
        MyPreferencesImportOperator,
        "poke",
        import_name="retried",
        source=_csv(tmp_path, _contacts(4)),
        field_mapping=MAPPING,
        max_consecutive_failures=1,
        retries=1,
        retry_delay=0,
    )
    assert run.state == "success" and run.try_number == 2
    assert _posts(sim) == ["initiate", "stage", "execute"], "the retry staged or initiated a second time"
    assert run.import_job["access_token"] == int(run.return_value["job_id"])
    assert run.return_value["imported"] == 4


def test_a_try_that_dies_while_staging_is_finished_by_the_retry(sim, tmp_path, monkeypatch):
    """The access token is recorded at Initiate: the retry stages only what the import has not received, once."""
    built = {"records": 0}
    real_record = operator_module.profile_record

    def dying_on_the_fifteenth(row):
        built["records"] += 1
        if built["records"] == 15:
            raise RuntimeError("worker lost while staging")
        return real_record(row)

    monkeypatch.setattr(operator_module, "profile_record", dying_on_the_fifteenth)
    run = run_sensor(
        MyPreferencesImportOperator,
        "poke",
        import_name="resumed",
        source=_csv(tmp_path, _contacts(23, invalid=2)),
        field_mapping=MAPPING,
        batch_size=10,
        retries=1,
        retry_delay=0,
    )
    assert run.state == "success" and run.try_number == 2
    assert _posts(sim) == ["initiate", "stage", "stage", "stage", "execute"], "one import, each record staged once"
    token = run.import_job["access_token"]
    assert int(run.return_value["job_id"]) == token
    assert (_staged(sim, token)["received"], _staged(sim, token)["stagings"]) == (25, 3)
    assert (run.return_value["total"], run.return_value["invalid"], run.return_value["imported"]) == (25, 2, 23)
    assert _ledgers() == []


@pytest.mark.parametrize(("max_bad_rows", "state"), [(1, "failed"), (2, "success")])
def test_bad_rows_under_and_over_max_bad_rows(sim, tmp_path, max_bad_rows, state):
    rows = ["a@example.com,A,A,", ",Nobody,Here,", "c@example.com,C,C,", "d@example.com,D,D,,surplus"]
    run = run_sensor(
        MyPreferencesImportOperator,
        "poke",
        import_name="bad rows",
        source=_csv(tmp_path, rows),
        field_mapping=MAPPING,
        max_bad_rows=max_bad_rows,
    )
    assert run.state == state
    assert _posts(sim).count("execute") == (1 if state == "success" else 0), "an import over max_bad_rows ran"
    assert _ledgers() == [], "the job recorded at Initiate outlived the task"
    if state == "success":
        assert (run.return_value["total"], run.return_value["imported"]) == (2, 2), "bad rows are never staged"


def test_an_empty_or_missing_source_sends_nothing(sim, tmp_path, capfd):
    empty = run_sensor(MyPreferencesImportOperator, "poke", import_name="x", source=_csv(tmp_path, []))
    missing_path = str(tmp_path / "nope.csv")
    missing = run_sensor(MyPreferencesImportOperator, "poke", import_name="x", source=missing_path)
    assert empty.state == missing.state == "failed"
    out = capfd.readouterr().out
    assert "has no usable rows" in out and f"{missing_path!r} does not exist" in out
    assert sim.requests(VENDOR) == [], "nothing may reach the vendor, not even an Initiate"


def test_a_batch_refused_half_way_says_how_many_reached_the_vendor(sim, tmp_path, capfd):
    sim.add_fault(VENDOR, "status", status=500, method="POST", path_contains="/Import/", skip=1)
    run = run_sensor(
        MyPreferencesImportOperator,
        "poke",
        import_name="refused",
        source=_csv(tmp_path, _contacts(25)),
        field_mapping=MAPPING,
        batch_size=10,
        retries=1,
        retry_delay=0,
    )
    assert run.state == "failed" and run.try_number == 1, "a refused stage is never retried"
    assert "upload failed after 1 batches (10 rows) reached the vendor" in capfd.readouterr().out
    assert _posts(sim) == ["initiate", "stage", "stage"], "the refused batch was re-sent or the import executed"
    assert _ledgers() == [], "the job recorded at Initiate outlived the final failure"


def test_wait_for_completion_false_returns_the_executed_job(sim, tmp_path):
    run = run_sensor(
        MyPreferencesImportOperator,
        "deferrable",
        import_name="fire and forget",
        source=_csv(tmp_path, _contacts(3)),
        field_mapping=MAPPING,
        wait_for_completion=False,
    )
    assert run.state == "success" and not run.was_deferred
    assert run.return_value == run.import_job and run.import_job["access_token"] > 0
    assert _posts(sim) == ["initiate", "stage", "execute"]


def test_the_import_options_are_checked_when_the_dag_is_parsed():
    assert "import_name" in MyPreferencesImportOperator.template_fields
    operator = MyPreferencesImportOperator(task_id="t", import_name="{{ ds }}", source=[], refresh="Contacts")
    assert operator.refresh == ("Contacts",)
    for bad in ({"data_stage_duration": 11}, {"import_type": "Upsert"}, {"refresh": ["Everything"]}):
        with pytest.raises(ValueError):
            MyPreferencesImportOperator(task_id="t", import_name="n", source=[], **bad)
