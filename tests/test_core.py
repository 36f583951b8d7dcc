"""The shared core: result contract, status tables, the poll policy, safe parsing."""

from __future__ import annotations

import pytest

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
    snippet,
)
from airflow_import_status.parsing import MAX_PAYLOAD_BYTES, load_json, load_xml, optional_int
from airflow_import_status.polling import ErrorAction, PollPolicy
from airflow_import_status.result import COUNTER_FIELDS, ImportResult, ImportState, StatusTable


def _result(**kwargs) -> ImportResult:
    return ImportResult(vendor="v", job_id="1", state="running", vendor_status="R", **kwargs)


def test_result_round_trips_through_a_plain_dict():
    result = _result(total=3, invalid=1, details={"raw": 2}, warnings=["w"])
    data = result.to_dict()
    assert data["state"] == "running" and isinstance(data["state"], str)
    assert ImportResult.from_dict(data) == result
    assert {*COUNTER_FIELDS, "vendor", "job_id", "state", "vendor_status"} <= set(data)


@pytest.mark.parametrize("bad", [{"total": -1}, {"failed": "3"}, {"invalid": True}, {"progress_percent": 101}])
def test_result_refuses_impossible_values(bad):
    with pytest.raises(ValueError):
        _result(**bad)


def test_result_refuses_unknown_keys_and_states():
    with pytest.raises(ValueError, match="unexpected keys"):
        ImportResult.from_dict({**_result().to_dict(), "surprise": 1})
    with pytest.raises(ValueError):
        ImportResult(vendor="v", job_id="1", state="done", vendor_status=None)


def test_rejected_counts_invalid_and_failed():
    assert _result(invalid=2, failed=3).rejected == 5
    assert _result().rejected == 0


def test_status_table():
    table = StatusTable(succeeded=frozenset({"Done"}), failed=frozenset({"Bad"}), running=frozenset({"Go"}))
    assert table.classify(" done ") is ImportState.SUCCEEDED
    assert table.classify("BAD") is ImportState.FAILED
    assert table.classify("go") is ImportState.RUNNING
    assert table.classify("other") is None and table.classify(None) is None
    assert StatusTable(succeeded=frozenset({"Done"}), case_sensitive=True).classify("done") is None


class TestPollPolicy:
    policy = PollPolicy(
        poll_interval=30, max_consecutive_failures=3, backoff_initial=4, backoff_max=10, not_found_grace=60
    )

    def test_transient_errors_back_off_exponentially_with_jitter_up_to_the_cap(self):
        error = TransientVendorError("503", vendor="v")
        delays = [self.policy.after_error(error, failures=n, waited=0, job_label="j").delay for n in (1, 2)]
        assert 2 <= delays[0] <= 4 and 4 <= delays[1] <= 8
        assert self.policy.backoff(10) <= 10

    def test_retry_after_is_honoured_up_to_the_backoff_cap(self):
        error = TransientVendorError("429", vendor="v", retry_after=8)
        decision = self.policy.after_error(error, failures=1, waited=0, job_label="j")
        assert decision.action is ErrorAction.RETRY and decision.delay == 8
        error = TransientVendorError("429", vendor="v", retry_after=86400)
        assert self.policy.after_error(error, failures=1, waited=0, job_label="j").delay == 10

    def test_gives_up_after_max_consecutive_failures(self):
        error = TransientVendorError("HTTP 502", vendor="v")
        decision = self.policy.after_error(error, failures=3, waited=0, job_label="job 7")
        assert decision.action is ErrorAction.FAIL and decision.retryable_task
        assert "job 7" in decision.message and "3 consecutive" in decision.message and "HTTP 502" in decision.message

    @pytest.mark.parametrize("error", [AuthenticationError("x"), BadRequestError("x"), PermanentVendorError("x")])
    def test_permanent_errors_fail_at_once(self, error):
        decision = self.policy.after_error(error, failures=0, waited=0, job_label="j")
        assert decision.action is ErrorAction.FAIL and not decision.retryable_task

    def test_not_found_waits_within_grace_then_fails(self):
        error = JobNotFoundError("404", vendor="v")
        within = self.policy.after_error(error, failures=0, waited=10, job_label="j")
        assert within.action is ErrorAction.WAIT and 0 < within.delay <= 30
        assert self.policy.after_error(error, failures=0, waited=61, job_label="j").action is ErrorAction.FAIL

    def test_parse_errors_are_transient(self):
        error = VendorPayloadError("truncated", vendor="v")
        assert self.policy.after_error(error, failures=1, waited=0, job_label="j").action is ErrorAction.RETRY

    @pytest.mark.parametrize("bad", [{"max_consecutive_failures": 0}, {"poll_interval": -1}])
    def test_invalid_policy(self, bad):
        with pytest.raises(ValueError):
            PollPolicy(**bad)


def test_xml_refuses_xxe_and_entity_expansion():
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>'
    )
    for payload in (xxe, laughs, xxe.lower()):
        with pytest.raises(VendorPayloadError, match="DTD"):
            load_xml("v", payload)


def test_payload_size_is_capped():
    with pytest.raises(VendorPayloadError, match="cap"):
        load_json("v", b" " * (MAX_PAYLOAD_BYTES + 1))
    with pytest.raises(VendorPayloadError, match="cap"):
        load_xml("v", b"<a>" + b"x" * MAX_PAYLOAD_BYTES + b"</a>")


@pytest.mark.parametrize(("value", "expected"), [("12", 12), (7, 7), ("", None), (None, None)])
def test_optional_int(value, expected):
    assert optional_int("v", {"n": value}, "n") == expected


@pytest.mark.parametrize("value", ["-3", -3, "1.5", 1.5, "x", True, [1]])
def test_optional_int_refuses_non_counters(value):
    with pytest.raises(VendorPayloadError, match="'n'"):
        optional_int("v", {"n": value}, "n")


def test_snippet_is_short_and_secret_free():
    text = snippet("key=SECRET123 " + "x" * 500, secrets=("SECRET123",))
    assert "SECRET123" not in text and len(text) <= 203


def test_status_extras_add_or_move_statuses():
    table = StatusTable(succeeded=frozenset({"Done", "Partial"}), failed=frozenset({"Bad"}))
    configured = table.configured({"failure_statuses": "partial, Aborted", "success_statuses": ["Imported"]})
    assert configured.classify("Partial") is ImportState.FAILED
    assert configured.classify("aborted") is ImportState.FAILED
    assert configured.classify("Imported") is ImportState.SUCCEEDED
    assert configured.classify("Done") is ImportState.SUCCEEDED
    assert table.configured({}) == table


def test_status_table_refuses_a_status_in_two_states():
    with pytest.raises(ValueError, match="both"):
        StatusTable(succeeded=frozenset({"Done"}), failed=frozenset({"done"}))


def test_secrets_are_registered_with_the_masker_once_per_process(mocker):
    """Registering an already-masked secret again at every trigger start cost ~0.8 ms a secret."""
    from airflow_import_status.runtime import Runtime

    masked = mocker.patch("airflow_import_status.runtime.mask_secret")
    runtime = Runtime()
    runtime.mask("s3cr3t/value+=")
    first = masked.call_count
    runtime.mask("s3cr3t/value+=")
    runtime.mask("s3cr3t/value+=")
    assert first == 3, "raw, URL-encoded (quote and quote_plus agree here) and base64"
    assert masked.call_count == first
    assert "s3cr3t/value+=" in runtime.scrubber and runtime.scrubber("x s3cr3t%2Fvalue%2B%3D y") == "x *** y"


def test_a_known_secret_costs_no_encoding_and_no_recompiling(mocker):
    """A trigger start with secrets already known neither re-encodes them nor touches the scrubber."""
    from airflow_import_status import runtime as runtime_module
    from airflow_import_status.runtime import Runtime

    mocker.patch("airflow_import_status.runtime.mask_secret")
    runtime = Runtime()
    runtime.mask("first-secret", "second-secret")
    forms = mocker.spy(runtime_module, "_masker_forms")
    add = mocker.spy(runtime.scrubber, "add")
    for _ in range(3):
        runtime.mask("first-secret", "second-secret")
    assert forms.call_count == 0 and add.call_count == 0
    runtime.mask("first-secret", "third-secret")
    assert add.call_args.args == ("third-secret",)


def test_the_scrubber_compiles_when_it_scrubs_and_knows_every_secret_added_since():
    from airflow_import_status.scrubbing import Scrubber

    scrubber = Scrubber(["alpha-key"])
    assert scrubber("alpha-key") == "***"
    scrubber.add("beta-key")
    assert scrubber("alpha-key beta-key YmV0YS1rZXk=") == "*** *** ***"
    assert Scrubber()("nothing to hide") == "nothing to hide"


def test_the_reused_xml_parser_survives_bad_input_and_threads():
    """One safe parser per thread: a refused or broken document leaves it usable, threads never share it."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_import_status.errors import VendorPayloadError
    from airflow_import_status.parsing import load_xml

    for bad in (b"<a><b></a>", b'<!doctype a [<!ENTITY x "y">]><a>&x;</a>', b"not xml"):
        with pytest.raises(VendorPayloadError):
            load_xml("toy", bad)
    assert load_xml("toy", b"<a><b>1</b></a>").findtext("b") == "1"

    def parse(number: int) -> str | None:
        return load_xml("toy", f"<n><v>{number}</v>{'<x/>' * 200}</n>".encode()).findtext("v")

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(parse, range(400))) == [str(number) for number in range(400)]
