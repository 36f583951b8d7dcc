"""OpenLineage: dataset naming, and the events a real Airflow run writes through the provider's file transport."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection, ObjectStoragePath

from airflow_import_status.lineage import OUTPUT_FACET, RUN_FACET, host_of, list_dataset, path_dataset
from airflow_import_status.result import COUNTER_FIELDS, ImportResult, ImportState
from airflow_import_status.simulators.contacts import write_csv
from airflow_import_status.simulators.mypreferences import CLIENT_ID as MYPREFERENCES_CLIENT_ID
from airflow_import_status.vendors import builtin_specs, get_spec
from tests.observed_run import observed_runs
from tests.registry import OPERATOR_VENDORS, operator_class, vendor_case

SHIPPED_OPERATORS = [vendor for vendor in OPERATOR_VENDORS if vendor in {s.key for s in builtin_specs()}]


# ----- naming -----------------------------------------------------------------------------------------------
def test_a_local_path_is_namespace_file_and_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert path_dataset("contacts.csv") == ("file", str(tmp_path / "contacts.csv"))
    assert path_dataset(Path("/data/in.csv")) == ("file", "/data/in.csv")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///data/contacts.csv", ("file", "/data/contacts.csv")),
        ("s3://bucket/exports/contacts.csv", ("s3://bucket", "exports/contacts.csv")),
        ("gs://bucket/contacts.jsonl", ("gs://bucket", "contacts.jsonl")),
        ("gcs://bucket/contacts.jsonl", ("gs://bucket", "contacts.jsonl")),
    ],
)
def test_an_object_storage_path_is_named_per_its_scheme(url, expected):
    assert path_dataset(ObjectStoragePath(url)) == expected


def test_rows_are_no_dataset():
    assert path_dataset([{"email": "a@example.com"}]) is None
    assert path_dataset(None) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://user:secret@a1b2c3.s99.it/frontend?token=x", "a1b2c3.s99.it"),
        ("https://10.0.0.1:8443", "10.0.0.1:8443"),
        ("pm.mypreferences.com", "pm.mypreferences.com"),
        ("", None),
        (None, None),
    ],
)
def test_the_host_never_carries_a_user_password_path_or_query(host, expected):
    assert host_of(host) == expected


def test_each_vendor_names_its_list_from_the_job_and_never_a_secret_extra():
    def conn(vendor: str, **fields: Any) -> Connection:
        return Connection(conn_id=f"{vendor}_lineage", conn_type=vendor, **fields)

    which50 = get_spec("which50")
    assert list_dataset(which50, {"contact_list_id": 7, "import_job_id": None}, None) == (
        "which50://app.which50.com",
        "contact_list/7",
    ), "no connection: the vendor's public API host"
    mailup = get_spec("mailup")
    mailup_conn = conn("mailup", host="https://user:pw@a1b2c3.s99.it", login="m1", password="pw")
    assert list_dataset(mailup, {"list_id": 3, "list_guid": "g", "process_id": 9}, mailup_conn) == (
        "mailup://a1b2c3.s99.it",
        "list/3",
    )
    isales = get_spec("isales")
    isales_conn = conn("isales", host="https://10.0.0.1:8443", login="ak", password="sk")
    assert list_dataset(isales, {"vdn_id": 12, "campaign_id": "c7"}, isales_conn) == (
        "isales://10.0.0.1:8443",
        "vdn/12/campaign/c7",
    )
    assert list_dataset(isales, {"vdn_id": 12, "campaign_id": None}, isales_conn)[1] == "vdn/12/blacklist"
    mypreferences = get_spec("mypreferences")
    mp_conn = conn("mypreferences", host="https://pmstg.mypreferences.com", extra=json.dumps({"client_id": "acme"}))
    named = list_dataset(mypreferences, {"access_token": 5, "client_id": None}, mp_conn)
    assert named == ("mypreferences://pmstg.mypreferences.com", "client/acme/profiles"), "the connection's clientId"
    assert list_dataset(get_spec("luminate"), {"import_job_id": 1}, None) is None, "Luminate's job names no list"
    for spec in builtin_specs():
        secret_extras = {f.name for f in spec.connection.all_extras if f.secret}
        for pattern in spec.dataset.names if spec.dataset else ():
            assert not {name for name in secret_extras if f"{{{name}}}" in pattern}, f"{spec.key} names a secret"


# ----- the provider's methods ----------------------------------------------------------------------------------
def _operator(**kwargs: Any) -> Any:
    from airflow_import_status.operators.which50 import Which50ImportOperator

    return Which50ImportOperator(task_id="upload", contact_list_id=7, source="/data/contacts.csv", **kwargs)


def _result(state: ImportState = ImportState.SUCCEEDED) -> ImportResult:
    return ImportResult(
        vendor="which50", job_id="42", state=state, vendor_status="Done", total=10, imported=8, invalid=2
    )


def test_start_names_the_source_and_the_list_without_statistics():
    lineage = _operator().get_openlineage_facets_on_start()
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", "/data/contacts.csv")]
    [output] = lineage.outputs
    assert output.namespace.startswith("which50://") and output.name == "contact_list/7"
    assert output.outputFacets == {} and lineage.run_facets == {}


def test_complete_carries_the_statistics_and_the_result():
    task = _operator()
    task.lineage_result = _result()
    lineage = task.get_openlineage_facets_on_complete(object())
    [output] = lineage.outputs
    assert output.outputFacets["outputStatistics"].rowCount == 8
    stats = output.outputFacets[OUTPUT_FACET]
    assert (stats.imported, stats.refused, stats.total) == (8, 2, 10)
    facet = lineage.run_facets[RUN_FACET]
    assert (facet.vendor, facet.jobId, facet.state, facet.vendorStatus) == ("which50", "42", "succeeded", "Done")
    assert facet.counters == {"total": 10, "imported": 8, "invalid": 2, "refused": 2}


def test_the_refused_records_file_is_a_second_output_only_when_the_task_has_one():
    task = _operator()
    task.lineage_result = _result(ImportState.FAILED)
    assert len(task.get_openlineage_facets_on_failure(object()).outputs) == 1, "no rejected_records_path attribute"
    task.rejected_records_path = "/data/refused.csv"
    outputs = task.get_openlineage_facets_on_failure(object()).outputs
    assert [(d.namespace, d.name) for d in outputs[1:]] == [("file", "/data/refused.csv")]
    assert len(task.get_openlineage_facets_on_start().outputs) == 1, "the file exists only once the import ended"
    task.rejected_records_path = None
    assert len(task.get_openlineage_facets_on_complete(object()).outputs) == 1


def test_a_sensor_reports_the_list_and_a_task_without_a_result_no_facet(monkeypatch):
    from airflow_import_status.sensors.isales import ISalesImportSensor

    conn = {"conn_type": "isales", "host": "https://ak:sk-secret@10.1.2.3:8443/x", "login": "ak", "password": "sk"}
    monkeypatch.setenv("AIRFLOW_CONN_ISALES_LINEAGE", json.dumps(conn))
    sensor = ISalesImportSensor(
        task_id="wait", vdn_id=3, import_task_id="t1", campaign_id="c9", isales_conn_id="isales_lineage"
    )
    lineage = sensor.get_openlineage_facets_on_complete(object())
    assert lineage.inputs == []
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("isales://10.1.2.3:8443", "vdn/3/campaign/c9")]
    assert lineage.run_facets == {}
    monkeypatch.delenv("AIRFLOW_CONN_ISALES_LINEAGE")
    assert sensor.get_openlineage_facets_on_start().outputs == [], "no host known: no list named"


def test_without_the_openlineage_provider_the_package_imports_and_reports_nothing():
    code = (
        "import sys\n"
        "for name in ('openlineage', 'openlineage.client', 'airflow.providers.openlineage.extractors'):\n"
        "    sys.modules[name] = None\n"
        "from airflow_import_status import lineage\n"
        "from airflow_import_status.operators.which50 import Which50ImportOperator\n"
        "task = Which50ImportOperator(task_id='t', contact_list_id=1, source='/data/c.csv')\n"
        "assert lineage.HAS_OPENLINEAGE is False\n"
        "assert task.get_openlineage_facets_on_start() is None\n"
        "assert task.get_openlineage_facets_on_complete(None) is None\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.stdout.strip().endswith("ok"), done.stderr[-3000:]


# ----- events from a real Airflow run ------------------------------------------------------------------------
def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _task_events(events: list[dict[str, Any]], index: int, mode: str) -> dict[str, dict[str, Any]]:
    """The run's task events by type (the harness names the DAG ``sensor_harness_{pid}_{index}_{mode}``)."""
    suffix = f"_{index}_{mode}.wait"
    return {event["eventType"]: event for event in events if event["job"]["name"].endswith(suffix)}


@pytest.fixture(scope="module")
def lineage_run(simulator_server, airflow_db, tmp_path_factory):
    """Each shipped operator uploading a CSV (every 5th contact invalid), then a sensor waiting on a failing import."""
    from airflow_import_status.simulators.server import SimulatorClient

    sim = SimulatorClient(simulator_server.url)
    sim.reset()
    work = tmp_path_factory.mktemp("lineage")
    runs: list[dict[str, Any]] = []
    for vendor in SHIPPED_OPERATORS:
        case = vendor_case(vendor)
        source = write_csv(work / f"{vendor}.csv", 20, invalid_every=5)
        cls = operator_class(case)
        runs.append(
            {
                "class": f"{cls.__module__}.{cls.__qualname__}",
                "mode": "deferrable",
                "kwargs": case.operator_kwargs(str(source)),
            }
        )
    which50 = vendor_case("which50")
    failing = sim.create_job(
        "which50", polls=2, fail=True, params=which50.job_params, counters={"total": 4, "invalid": 4}
    )
    runs.append(
        {
            "class": "airflow_import_status.sensors.which50.Which50ImportSensor",
            "mode": "poke",
            "kwargs": which50.job_kwargs(failing),
        }
    )
    log = work / "events.jsonl"
    transport = {"type": "file", "log_file_path": str(log), "append": True}
    results = observed_runs(runs, {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)}, work)
    return runs, results, _events(log)


@pytest.mark.slow
@pytest.mark.parametrize("vendor", SHIPPED_OPERATORS)
def test_an_operators_complete_event_names_the_file_and_the_vendors_list_with_row_counts(lineage_run, vendor):
    runs, results, events = lineage_run
    index = SHIPPED_OPERATORS.index(vendor)
    result = results[index]
    assert result["state"] == "success", result
    by_type = _task_events(events, index, "deferrable")
    assert {"START", "COMPLETE"} <= set(by_type), f"events seen: {sorted(by_type)}"
    complete = by_type["COMPLETE"]
    source = runs[index]["kwargs"]["source"]
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [("file", source)]
    [output] = complete["outputs"]
    assert output["namespace"].startswith(f"{vendor}://127.0.0.1:"), output["namespace"]
    job = result["import_job"]
    expected = {
        "which50": f"contact_list/{job.get('contact_list_id')}",
        "mailup": f"list/{job.get('list_id')}",
        "mypreferences": f"client/{job.get('client_id') or MYPREFERENCES_CLIENT_ID}/profiles",
    }
    assert output["name"] == expected[vendor], "the job's list, as the vendor spec names it"
    imported = result["return_value"]["imported"]
    assert imported == 16, "20 contacts, every 5th invalid"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == imported
    stats = output["outputFacets"][OUTPUT_FACET]
    assert stats["imported"] == imported
    rejected = result["return_value"]["invalid"], result["return_value"]["failed"]
    assert stats.get("refused") == (None if rejected == (None, None) else sum(v or 0 for v in rejected))
    facet = complete["run"]["facets"][RUN_FACET]
    assert (facet["vendor"], facet["jobId"], facet["state"]) == (vendor, result["return_value"]["job_id"], "succeeded")
    assert facet["counters"]["imported"] == imported
    start = by_type["START"]
    assert [(d["namespace"], d["name"]) for d in start["inputs"]] == [("file", source)]


@pytest.mark.slow
def test_a_failed_imports_fail_event_carries_the_result(lineage_run):
    runs, results, events = lineage_run
    index = len(runs) - 1
    assert results[index]["state"] == "failed"
    fail = _task_events(events, index, "poke")["FAIL"]
    facet = fail["run"]["facets"][RUN_FACET]
    assert (facet["vendor"], facet["state"]) == ("which50", "failed")
    pushed = results[index]["import_result"]
    assert facet["jobId"] == pushed["job_id"] and facet["vendorStatus"] == pushed["vendor_status"]
    counters = {key: value for key in COUNTER_FIELDS if (value := pushed[key]) is not None}
    assert facet["counters"] == {**counters, "refused": (pushed["invalid"] or 0) + (pushed["failed"] or 0)}
    assert facet["counters"]["total"] == 4
    [output] = fail["outputs"]
    assert output["name"] == f"contact_list/{runs[index]['kwargs']['contact_list_id']}"
    assert output["outputFacets"][OUTPUT_FACET]["total"] == 4


@pytest.mark.slow
def test_no_credential_in_any_event(lineage_run):
    _, _, events = lineage_run
    text = json.dumps(events)
    for vendor in {*SHIPPED_OPERATORS, "which50"}:
        for secret in vendor_case(vendor).secrets:
            assert secret not in text, f"a {vendor} credential is in an OpenLineage event"
