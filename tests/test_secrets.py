"""No password, API key, SK or token in logs, XCom, trigger kwargs or error text, for any vendor."""

from __future__ import annotations

import json

import pytest

from tests.registry import VENDOR_CASES, vendor_case
from tests.sensor_harness import run_sensor

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.mark.parametrize("mode", ["deferrable", "poke"])
@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_no_secret_leaks_on_success_or_auth_failure(sim, capfd, caplog, monkeypatch, vendor, mode):
    case = vendor_case(vendor)
    bad_secrets = tuple(
        value for key, value in case.bad_credentials.items() if key in ("password", "login") and isinstance(value, str)
    ) + tuple(str(v) for v in case.bad_credentials.get("extra", {}).values())
    secrets = case.secrets + bad_secrets
    assert all(len(secret) >= 6 for secret in secrets), "use distinctive secrets so the scan means something"
    job = sim.create_job(case.vendor, params=case.job_params, polls=2)
    monkeypatch.setenv("AIRFLOW_CONN_SECRET_SCAN_BAD", case.connection(sim.base_url, **case.bad_credentials))

    good = run_sensor(case.sensor_class, mode, **case.job_kwargs(job))
    bad = run_sensor(
        case.sensor_class, mode, **{case.hook_class.conn_name_attr: "secret_scan_bad"}, **case.job_kwargs(job)
    )
    assert good.state == "success" and bad.state == "failed"

    captured = capfd.readouterr()
    haystacks = {
        "stdout": captured.out,
        "stderr": captured.err,
        "log records": "\n".join(record.getMessage() for record in caplog.records),
        "xcom": json.dumps([good.return_value, good.import_result, bad.import_result]),
        "trigger kwargs": json.dumps(good.trigger_kwargs + bad.trigger_kwargs),
        "simulator log": json.dumps(sim.requests(case.vendor)),
    }
    assert f"[{case.vendor}]" in "".join(haystacks.values()), "the auth error text was not captured"
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a {case.vendor} secret leaked into {where}"
