"""Metrics: the documented names, off by default, and what a real Airflow run sends to a StatsD listener."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_import_status import metrics
from airflow_import_status.errors import (
    AuthenticationError,
    JobNotFoundError,
    TransientVendorError,
    UnsafeToRetryError,
    VendorPayloadError,
)
from airflow_import_status.result import ImportResult, ImportState
from airflow_import_status.simulators.contacts import write_csv
from tests.observed_run import observed_runs
from tests.registry import vendor_case

DOCS = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
PREFIX = "airflow"
"""Airflow's ``[metrics] statsd_prefix`` default."""


# ----- names ------------------------------------------------------------------------------------------------
def test_every_metric_is_documented_with_its_type_and_tags():
    text = DOCS.read_text()
    for metric in metrics.METRICS:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{metric.name}`")), None)
        assert row is not None, f"{metric.name} is not in docs/metrics.md's table"
        assert metric.kind in row and all(f"`{tag}`" in row for tag in metric.tags), row
        legacy = metric.legacy_name({tag: f"<{tag}>" for tag in metric.legacy_tags})
        assert f"`{legacy}`" in row, f"the legacy name {legacy} is not documented"


def test_error_kinds_are_a_bounded_set_most_specific_first():
    assert metrics.error_kind(VendorPayloadError("x")) == "payload"
    assert metrics.error_kind(TransientVendorError("x")) == "transient"
    assert metrics.error_kind(JobNotFoundError("x")) == "not_found"
    assert metrics.error_kind(AuthenticationError("x")) == "auth"
    assert metrics.error_kind(UnsafeToRetryError("x")) == "unsafe_to_retry"
    assert metrics.error_kind(KeyError("x")) == "bug"


def test_a_vendor_key_goes_into_a_name_as_is_and_anything_else_is_made_safe():
    assert metrics.vendor_tag("which50") == "which50"
    assert metrics.vendor_tag("Odd.Vendor/1") == "odd_vendor_1"
    assert len(metrics.vendor_tag("v" * 100)) == 40, "a name part is at most 40 characters"


def test_off_by_default_nothing_is_sent(monkeypatch):
    sent: list[Any] = []
    monkeypatch.setattr(metrics, "_enabled", None)
    monkeypatch.setattr(metrics.Stats, "incr", staticmethod(lambda *a, **k: sent.append(a)))
    monkeypatch.setattr(metrics.Stats, "timing", staticmethod(lambda *a, **k: sent.append(a)))
    result = ImportResult(vendor="which50", job_id="1", state=ImportState.SUCCEEDED, vendor_status="done", imported=3)
    assert metrics.observed_poll("which50", lambda: result) is result
    assert metrics.enabled() is False and sent == []


# ----- a real run into a UDP StatsD listener ------------------------------------------------------------------
@pytest.fixture
def statsd_listener() -> Iterator[tuple[int, list[str]]]:
    """A UDP StatsD listener on 127.0.0.1 (a free port); every metric line it receives."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    lines: list[str] = []
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                data = sock.recv(65535)
            except TimeoutError:
                continue
            lines.extend(data.decode().splitlines())

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    yield sock.getsockname()[1], lines
    stop.set()
    thread.join(5)
    sock.close()


def _path(cls: Any) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _ours(lines: list[str]) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """Our metric names (without Airflow's prefix) by StatsD type, and each (name, tags) seen (InfluxDB style)."""
    names: dict[str, set[str]] = {}
    tagged: set[tuple[str, str]] = set()
    for line in lines:
        stat, _, rest = line.partition(":")
        name, _, tags = stat.partition(",")
        if name.startswith(f"{PREFIX}.{metrics.PREFIX}."):
            names.setdefault(name[len(PREFIX) + 1 :], set()).add(rest.rpartition("|")[2])
            tagged.add((name[len(PREFIX) + 1 :], tags))
    return names, tagged


def _counts(lines: list[str]) -> dict[str, int]:
    """The sum of each counter by name, whatever its tags (a legacy name holds one vendor, one state)."""
    sums: dict[str, int] = {}
    for line in lines:
        stat, _, rest = line.partition(":")
        value, _, kind = rest.partition("|")
        name = stat.partition(",")[0][len(PREFIX) + 1 :]
        if kind == "c" and name.startswith(f"{metrics.PREFIX}."):
            sums[name] = sums.get(name, 0) + int(value)
    return sums


@pytest.mark.slow
@pytest.mark.usefixtures("airflow_db")
def test_a_deferred_sensor_a_poke_sensor_and_an_operator_emit_the_documented_names(sim, statsd_listener, tmp_path):
    port, lines = statsd_listener
    which50, luminate = vendor_case("which50"), vendor_case("luminate")
    deferred = sim.create_job("which50", polls=3, params=which50.job_params, counters={"total": 5})
    poked = sim.create_job("luminate", polls=2, counters={"total": 4})
    sim.add_fault("luminate", "status", status=503, times=1, **luminate.status_request)
    source = write_csv(tmp_path / "contacts.csv", 10, invalid_every=5)
    operator = vendor_case("mailup")
    runs = [
        {"class": _path(which50.sensor_class), "mode": "deferrable", "kwargs": which50.job_kwargs(deferred)},
        {"class": _path(luminate.sensor_class), "mode": "poke", "kwargs": luminate.job_kwargs(poked)},
        {
            "class": _path(operator.operator_class),
            "mode": "poke",
            "kwargs": operator.operator_kwargs(str(source)),
        },
    ]
    env = {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(port),
        "AIRFLOW__METRICS__STATSD_PREFIX": PREFIX,
        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",  # the tags show in the packets
    }
    results = observed_runs(runs, env, tmp_path)
    assert [r["state"] for r in results] == ["success"] * 3, results
    names, tagged = _ours(lines)
    expected = {
        # the deferred sensor: its poll before deferring (worker), then the trigger's polls
        "import_status.poll.duration": {"ms"},
        "import_status.poll.duration.which50": {"ms"},
        "import_status.imports.finished": {"c"},
        "import_status.imports.finished.which50.succeeded": {"c"},
        # the poke sensor, through a 503 first
        "import_status.poll.duration.luminate": {"ms"},
        "import_status.poll.errors": {"c"},
        "import_status.poll.errors.luminate.transient": {"c"},
        "import_status.imports.finished.luminate.succeeded": {"c"},
        # the operator: its upload, then its wait
        "import_status.upload.rows": {"c"},
        "import_status.upload.rows.mailup": {"c"},
        "import_status.poll.duration.mailup": {"ms"},
        "import_status.imports.finished.mailup.succeeded": {"c"},
        "import_status.records.imported": {"c"},
        "import_status.records.imported.mailup": {"c"},
    }
    for name, kinds in expected.items():
        assert names.get(name) == kinds, f"{name}: {names.get(name)}; seen: {sorted(names)}"
    assert "import_status.upload.bad_rows.mailup" not in names, "MailUp takes every generated row (none is bad)"
    documented = {m.name for m in metrics.METRICS}
    for name in names:
        base = next((d for d in documented if name == d or name.startswith(d + ".")), None)
        assert base is not None, f"undocumented metric {name}"
        bounded = name[len(base) + 1 :].split(".") if name != base else []
        allowed = {*(metrics.vendor_tag(c) for c in ("which50", "luminate", "mailup")), "succeeded", "failed"}
        allowed |= {kind for _, kind in metrics.ERROR_KINDS} | {"bug"}
        assert set(bounded) <= allowed, f"{name} carries an unbounded value"
    assert ("import_status.poll.duration", "vendor=which50,path=triggerer,outcome=ok") in tagged, "no trigger poll"
    assert ("import_status.poll.duration", "vendor=which50,path=worker,outcome=ok") in tagged, (
        "no poll before deferring"
    )
    assert ("import_status.poll.errors", "vendor=luminate,path=worker,kind=transient") in tagged
    assert ("import_status.imports.finished.which50.succeeded", "") in tagged, "legacy names carry no tag twice"
    assert ("import_status.poll.duration.luminate", "path=worker,outcome=error") in tagged
    counts = _counts(lines)
    for vendor in ("which50", "luminate", "mailup"):
        assert counts[f"import_status.imports.finished.{vendor}.succeeded"] == 1, f"{vendor}: one import, counted once"
    assert counts["import_status.upload.rows.mailup"] == 10
    assert counts["import_status.records.imported.mailup"] == results[2]["return_value"]["imported"] == 8
    assert counts["import_status.poll.errors.luminate.transient"] == 1
    job_ids = {str(r["return_value"]["job_id"]) for r in results}
    assert not any(job_id in name.split(".") for name in names for job_id in job_ids), "a job id in a metric name"
    print("metric names seen:", *sorted(names), sep="\n  ")
