"""No password, API key, SK or token in logs, XCom, trigger kwargs or error text, for any vendor's sensor
and any vendor's start-import operator (found through the registry)."""

from __future__ import annotations

import json

import pytest

from airflow_import_status.simulators.contacts import contacts
from tests.registry import OPERATOR_VENDORS, VENDOR_CASES, operator_class, vendor_case
from tests.sensor_harness import run_sensor

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.mark.parametrize("mode", ["deferrable", "poke"])
@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_no_secret_leaks_on_success_or_auth_failure(sim, capfd, caplog, monkeypatch, tmp_path, vendor, mode):
    case = vendor_case(vendor)
    bad_secrets = tuple(
        value for key, value in case.bad_credentials.items() if key in ("password", "login") and isinstance(value, str)
    ) + tuple(str(v) for v in case.bad_credentials.get("extra", {}).values())
    secrets = case.secrets + bad_secrets
    assert all(len(secret) >= 6 for secret in secrets), "use distinctive secrets so the scan means something"
    job = sim.create_job(case.vendor, params=case.job_params, polls=2)
    monkeypatch.setenv("AIRFLOW_CONN_SECRET_SCAN_BAD", case.connection(sim.base_url, **case.bad_credentials))

    refused = tmp_path / "refused.csv"
    good = run_sensor(case.sensor_class, mode, rejected_records_path=str(refused), **case.job_kwargs(job))
    bad = run_sensor(
        case.sensor_class, mode, **{case.hook_class.conn_name_attr: "secret_scan_bad"}, **case.job_kwargs(job)
    )
    assert good.state == "success" and bad.state == "failed"

    captured = capfd.readouterr()
    haystacks = {
        "stdout": captured.out,
        "stderr": captured.err,
        "log records": "\n".join(record.getMessage() for record in caplog.records),
        "xcom": json.dumps([good.return_value, good.import_result, bad.import_result, good.rejected_records]),
        "trigger kwargs": json.dumps(good.trigger_kwargs + bad.trigger_kwargs),
        "simulator log": json.dumps(sim.requests(case.vendor)),
        "refused records file": refused.read_text(),
    }
    assert f"[{case.vendor}]" in "".join(haystacks.values()), "the auth error text was not captured"
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a {case.vendor} secret leaked into {where}"


def _echoing_body(case, base_url: str) -> str:
    """An error body quoting every secret the connection sends, as a careless vendor would (a 400 echoing the
    request); a vendor cannot echo a secret it was never sent (MyPreferences' HMAC secret on an OAuth2 connection)."""
    sent = [secret for secret in case.secrets if secret in case.connection(base_url)]
    assert sent, f"{case.vendor}'s connection sends none of its simulator's secrets"
    return json.dumps({"Message": f"rejected request with credentials {' / '.join(sent)}"})


@pytest.mark.parametrize("mode", ["deferrable", "poke"])
@pytest.mark.parametrize("vendor", OPERATOR_VENDORS)
def test_no_secret_leaks_from_an_operator_run(sim, capfd, caplog, monkeypatch, tmp_path, vendor, mode):
    """Start, upload, wait; bad credentials; and the vendor echoing the secrets in an error during the upload."""
    case = vendor_case(vendor)
    operator = operator_class(case)
    secrets = case.secrets + tuple(
        value for key, value in case.bad_credentials.items() if key in ("password", "login") and isinstance(value, str)
    )
    rows = list(contacts(12))
    monkeypatch.setenv("AIRFLOW_CONN_SECRET_SCAN_BAD", case.connection(sim.base_url, **case.bad_credentials))
    conn_param = case.hook_class.conn_name_attr

    refused = tmp_path / "refused.jsonl"
    good = run_sensor(operator, mode, rejected_records_path=str(refused), **case.operator_kwargs(rows))
    bad = run_sensor(operator, mode, **case.operator_kwargs(rows), **{conn_param: "secret_scan_bad"})
    sim.add_fault(case.vendor, "status", status=400, body=_echoing_body(case, sim.base_url), method="POST", times=1)
    echoed = run_sensor(operator, mode, **case.operator_kwargs(rows))
    assert (good.state, bad.state, echoed.state) == ("success", "failed", "failed")
    assert good.import_job and good.return_value["imported"] == len(rows)

    captured = capfd.readouterr()
    haystacks = {
        "stdout": captured.out,
        "stderr": captured.err,
        "log records": "\n".join(record.getMessage() for record in caplog.records),
        "xcom": json.dumps([run.__dict__ for run in (good, bad, echoed)], default=str),
        "simulator log": json.dumps(sim.requests(case.vendor)),
        "refused records file": refused.read_text(),
    }
    assert "rejected request with credentials" in captured.out + captured.err, "the echoed error was not captured"
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a {case.vendor} secret leaked into {where}"
