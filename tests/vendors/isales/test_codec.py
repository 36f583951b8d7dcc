"""CC-iSales codec: the pure parsers, the signer, settings and URLs."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from airflow.sdk import Connection

from airflow_import_status.errors import (
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
)
from airflow_import_status.result import ImportState
from airflow_import_status.transport import HttpResponse
from airflow_import_status.vendors.isales.codec import (
    ISalesSettings,
    canonical_request,
    parse_import_status,
    parse_import_task,
    parse_query_page,
    query_body,
    query_url,
    sign_request,
    signed_json_request,
    signing_timestamp,
)
from airflow_import_status.vendors.isales.spec import DEFAULT_SIGNED_HEADERS, PARAMETER_ERROR_CODES, SPEC, ISalesJob
from airflow_import_status.vendors.spec import ConnectionFieldError

SEED_TASK_ID = "164698362894300182038011895728"
SEED_REQUEST = '{ "limit":10, "offset":0, "importTaskIds":["164698362894300182038011895728"] }'
SEED_RESPONSE = (
    '{ "result": [ { "succNum": 0, "failNum": 0, "errMsg": "", "id": "164698362894300182038011895728", '
    '"beginTime": "2022-03-11T07:27:09.000+00:00", "endTime": "2022-03-11T07:27:09.000+00:00", "repeatNum": 0, '
    '"status": "2" } ], "returnCode": "0200000", "resultCode": "0200000", "resultDesc": "success", '
    '"returnDesc": "success" }'
)
JOB = ISalesJob(vdn_id=12, import_task_id=SEED_TASK_ID)


def _task(**fields) -> dict:
    return {**json.loads(SEED_RESPONSE)["result"][0], **fields}


def _coded(code: str, description: str = "detail") -> str:
    return json.dumps({"resultCode": code, "resultDesc": description, "returnCode": code, "returnDesc": description})


# ----- the pure parser, from the seed's example ---------------------------------------------------
def test_seed_request_body_is_what_the_hook_sends():
    assert query_body(0, 10, SEED_TASK_ID) == json.loads(SEED_REQUEST)


def test_seed_response_parses():
    result = parse_import_status(SEED_RESPONSE, JOB)
    assert result is not None
    assert result.vendor == "isales"
    assert result.job_id == SEED_TASK_ID
    assert result.state is ImportState.SUCCEEDED
    assert result.vendor_status == "2"
    assert (result.total, result.imported, result.duplicates, result.failed) == (0, 0, 0, 0)
    assert result.started_at == "2022-03-11T07:27:09+00:00"
    assert result.finished_at == "2022-03-11T07:27:09+00:00"
    assert result.message is None
    assert result.details["import_type"] == "blacklist"
    assert result.warnings == []


def test_seed_response_has_no_count_so_it_is_one_page():
    page = parse_query_page(SEED_RESPONSE)
    assert page.count is None
    assert [task["id"] for task in page.tasks] == [SEED_TASK_ID]
    assert parse_import_status(SEED_RESPONSE, ISalesJob(vdn_id=12, import_task_id="another-task")) is None


@pytest.mark.parametrize(
    ("status", "state"),
    [("0", ImportState.PENDING), ("1", ImportState.RUNNING), ("2", ImportState.SUCCEEDED), ("3", ImportState.FAILED)],
)
def test_documented_statuses(status, state):
    result = parse_import_task(_task(status=status, endTime=""), JOB)
    assert result.state is state
    assert result.warnings == []


def test_counters_and_message_map_to_normalized_keys():
    result = parse_import_task(
        _task(status="3", succNum=7, repeatNum="2", failNum=1, errMsg="The file format is incorrect."),
        ISalesJob(vdn_id=3, import_task_id=SEED_TASK_ID, campaign_id="c-1"),
    )
    assert (result.imported, result.duplicates, result.failed, result.total) == (7, 2, 1, 10)
    assert result.message == "The file format is incorrect."
    assert result.details["import_type"] == "calldata"


def test_unknown_status_keeps_waiting_with_a_warning():
    result = parse_import_task(_task(status="9"), JOB)
    assert result.state is ImportState.PENDING
    assert "'9'" in result.warnings[0]


def test_black_num_is_kept_in_details_but_not_added_to_total():
    result = parse_import_task(_task(succNum=7, repeatNum=2, failNum=1, blackNum=3), JOB)
    assert (result.total, result.details["blackNum"]) == (10, 3)
    assert parse_import_task(_task(), JOB).details["blackNum"] is None


def test_a_task_naming_another_id_is_never_a_success():
    with pytest.raises(VendorPayloadError, match="asked for import task"):
        parse_import_task(_task(importTaskId="another-task"), JOB)
    with pytest.raises(VendorPayloadError, match="asked for import task"):
        parse_import_task(_task(id="another-task"), JOB)
    with pytest.raises(VendorPayloadError, match="names no id"):
        parse_import_task({k: v for k, v in _task().items() if k != "id"}, JOB)
    assert parse_import_task(_task(id=None, importTaskId=SEED_TASK_ID), JOB).state is ImportState.SUCCEEDED


def test_a_page_of_other_tasks_only_is_not_found():
    body = SEED_RESPONSE.replace(SEED_TASK_ID, "another-task")
    response = HttpResponse(200, {"content-type": "application/json"}, body.encode(), "https://h/")
    settings = ISalesSettings(base_url="https://h", access_key="AK", secret_key="SK")
    with pytest.raises(JobNotFoundError, match="not in the answer"):
        SPEC.codec.decode_status(response, settings, JOB)
    assert (
        SPEC.codec.decode_status(HttpResponse(200, {}, SEED_RESPONSE.encode(), "https://h/"), settings, JOB).state
        is ImportState.SUCCEEDED
    )


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"result": []}),
        json.dumps({"resultCode": "0200000", "result": {"id": "1"}}),
        json.dumps({"resultCode": "0200000", "result": [_task(succNum=-1)]}),
        json.dumps({"resultCode": "0200000", "result": [_task(beginTime="yesterday")]}),
    ],
    ids=["not-json", "not-object", "no-codes", "result-not-list", "negative-counter", "bad-date"],
)
def test_malformed_answers_are_payload_errors(body):
    with pytest.raises(VendorPayloadError):
        parse_import_status(body, JOB)


@pytest.mark.parametrize("code", sorted(PARAMETER_ERROR_CODES))
def test_documented_codes_are_bad_requests_naming_code_and_meaning(code):
    with pytest.raises(BadRequestError) as err:
        parse_query_page(_coded(code, "limit is invalid"))
    assert code in str(err.value)
    assert PARAMETER_ERROR_CODES[code] in str(err.value)
    assert "limit is invalid" in str(err.value)


def test_return_code_is_checked_too():
    body = json.dumps({"resultCode": "0200000", "returnCode": "02000007", "returnDesc": "bad offset", "result": []})
    with pytest.raises(BadRequestError, match=r"returnCode 02000007.*Incorrect parameter value.*bad offset"):
        parse_query_page(body)


def test_undocumented_code_is_permanent_unless_configured_transient():
    with pytest.raises(PermanentVendorError, match="resultCode 0299999 \\(not in the documented error table\\)") as err:
        parse_query_page(_coded("0299999"))
    assert not isinstance(err.value, BadRequestError)
    with pytest.raises(TransientVendorError):
        parse_query_page(_coded("0299999"), frozenset({"0299999"}))


# ----- the signer: auth-v2 as Huawei's demo computes it ----------------------------------------
SIGN_URL = "https://10.1.2.3:28090/rest/isales/v1/openapi/campaigns/12/blackfile/queryDataImportTask?b=2&a=x%20y"
SIGN_BODY = '{"fileName":"Zoë & co/1.txt","offset":0}'.encode()
SIGN_HEADERS = {
    "Content-Type": "application/json;charset=UTF-8",
    "Host": "10.1.2.3:28090",
    "Content-Length": str(len(SIGN_BODY)),
    "Authorization": "not signed",
}
SIGN_TIME = datetime(2022, 3, 11, 7, 27, 9, 45000, tzinfo=UTC)
SIGN = {"access_key": "AK123", "secret_key": "SK456", "now": SIGN_TIME}

# Built by hand from the rules: six parts joined by "\n"; everything outside A-Z a-z 0-9 - . _ ~ as %XX.
HAND_PREFIX = "auth-v2/AK123/2022-03-11T07:27:09.045Z/content-length;content-type;host"
HAND_CANONICAL = "\n".join(
    [
        "POST",
        "/rest/isales/v1/openapi/campaigns/12/blackfile/queryDataImportTask",
        "a=x%20y&b=2",
        "content-length;content-type;host",
        f"content-length:{len(SIGN_BODY)}\ncontent-type:application%2Fjson%3Bcharset%3DUTF-8\nhost:10.1.2.3%3A28090",
        "%7B%22fileName%22%3A%22Zo%C3%AB%20%26%20co%2F1.txt%22%2C%22offset%22%3A0%7D",
    ]
)


def test_signer_matches_a_canonical_request_built_by_hand():
    signing_key = hmac.new(b"SK456", HAND_PREFIX.encode(), hashlib.sha256).hexdigest()
    signature = hmac.new(signing_key.encode(), HAND_CANONICAL.encode(), hashlib.sha256).hexdigest()
    assert canonical_request("POST", SIGN_URL, SIGN_HEADERS, SIGN_BODY, DEFAULT_SIGNED_HEADERS) == HAND_CANONICAL
    assert sign_request("POST", SIGN_URL, SIGN_HEADERS, SIGN_BODY, **SIGN) == f"{HAND_PREFIX}/{signature}"


def test_base64_variant_uses_the_raw_key_bytes():
    raw_key = hmac.new(b"SK456", HAND_PREFIX.encode(), hashlib.sha256).digest()
    signature = base64.b64encode(hmac.new(raw_key, HAND_CANONICAL.encode(), hashlib.sha256).digest()).decode()
    signed = sign_request("POST", SIGN_URL, SIGN_HEADERS, SIGN_BODY, **SIGN, encoding="base64")
    assert signed == f"{HAND_PREFIX}/{signature}"


def test_timestamp_has_milliseconds_in_utc():
    assert signing_timestamp(SIGN_TIME.astimezone(timezone(timedelta(hours=1)))) == "2022-03-11T07:27:09.045Z"
    assert signing_timestamp(datetime(2022, 3, 11, 7, 27, 9, tzinfo=UTC)) == "2022-03-11T07:27:09.000Z"


def test_signer_covers_key_body_query_and_headers_and_always_signs_host():
    signed = sign_request("POST", SIGN_URL, SIGN_HEADERS, SIGN_BODY, **SIGN)
    assert sign_request("POST", SIGN_URL, SIGN_HEADERS, SIGN_BODY, **{**SIGN, "secret_key": "other"}) != signed
    assert sign_request("POST", SIGN_URL, SIGN_HEADERS, SIGN_BODY + b" ", **SIGN) != signed
    assert sign_request("POST", SIGN_URL.replace("b=2", "b=3"), SIGN_HEADERS, SIGN_BODY, **SIGN) != signed
    assert sign_request("POST", SIGN_URL, {**SIGN_HEADERS, "Host": "10.1.2.3"}, SIGN_BODY, **SIGN) != signed
    only_type = sign_request("POST", SIGN_URL, SIGN_HEADERS, SIGN_BODY, **SIGN, signed_headers=("Content-Type",))
    assert only_type.startswith("auth-v2/AK123/2022-03-11T07:27:09.045Z/content-type;host/")


def test_requests_sign_the_exact_bytes_sent():
    settings = ISalesSettings(
        base_url="https://10.1.2.3:28090", access_key="AK123", secret_key="SK456", clock=lambda: SIGN_TIME
    )
    url = query_url(settings.base_url, 12)
    request = signed_json_request(settings, url, query_body(0, 10, SEED_TASK_ID))
    assert json.loads(request.content) == json.loads(SEED_REQUEST)
    assert b" " not in request.content
    assert request.headers["Host"] == "10.1.2.3:28090"
    assert request.headers["Content-Length"] == str(len(request.content))
    assert request.headers["Authorization"] == sign_request("POST", url, request.headers, request.content, **SIGN)
    assert "locale" not in request.headers
    localized = signed_json_request(dataclasses.replace(settings, locale="en_US"), url, {})
    assert localized.headers["locale"] == "en_US"


# ----- connection settings and URLs ----------------------------------------------------------------
def _settings(extra: dict | None = None, **fields) -> ISalesSettings:
    base = {"host": "10.1.2.3", "port": 28090, "login": "AK", "password": "SK"}
    conn = Connection(conn_id="c", conn_type="isales", **{**base, **fields}, extra=json.dumps(extra or {}))
    return SPEC.codec.settings(SPEC.connection.parse(conn, "isales"))


def test_settings_from_connection():
    settings = _settings({"ca_bundle": "/etc/ca.pem", "page_size": "20", "signed_headers": "Host; Content-Type"})
    assert settings.base_url == "https://10.1.2.3:28090"
    assert settings.transport.verify is True
    assert settings.transport.ca_bundle == "/etc/ca.pem"
    assert settings.page_size == 20
    assert settings.signed_headers == ("content-type", "host")
    assert _settings({"signed_headers": "content-type"}).signed_headers == ("content-type", "host")
    assert (settings.signature_encoding, settings.locale) == ("hex", None)
    assert _settings({"signature_encoding": "base64", "locale": "en_US"}).signature_encoding == "base64"
    assert settings.secret_key == "SK"


@pytest.mark.parametrize(
    "fields",
    [
        {"password": None},
        {"login": ""},
        {"extra": {"page_size": 101}},
        {"extra": {"page_size": "x"}},
        {"extra": {"signature_encoding": "sha1"}},
    ],
    ids=["no-sk", "no-ak", "page-size-too-big", "page-size-not-int", "unknown-encoding"],
)
def test_bad_connections_fail_clearly(fields):
    with pytest.raises(ConnectionFieldError, match="connection 'c'"):
        _settings(**fields)


def test_urls_for_both_paths_and_vdn_validation():
    base = "https://h:1"
    assert query_url(base, "12") == f"{base}/rest/isales/v1/openapi/campaigns/12/blackfile/queryDataImportTask"
    assert query_url(base, 12, "c 1") == (
        f"{base}/rest/isales/v1/openapi/campaigns/12/calldatafile/queryDataImportTask/c%201"
    )
    for bad in (0, 10000, "abc", True):
        with pytest.raises(BadRequestError, match="vdn_id"):
            query_url(base, bad)


def test_the_timestamp_is_strftime_s_to_the_millisecond_for_any_zone_and_moment():
    """The f-string formatter (cheaper) gives exactly what ``strftime`` gave, milliseconds truncated."""
    moment = datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))]
    for step in range(2000):
        now = (moment + timedelta(days=step * 3.7, microseconds=step * 7919)).astimezone(zones[step % 3])
        utc = now.astimezone(UTC)
        assert signing_timestamp(now) == f"{utc.strftime('%Y-%m-%dT%H:%M:%S')}.{utc.microsecond // 1000:03d}Z"


def test_canonical_requests_are_kept_in_a_bounded_cache_and_uploads_never():
    from airflow_import_status.vendors.isales import codec

    codec._kept_canonical_request.cache_clear()
    assert codec.CANONICAL_CACHE_SIZE == 4096 and codec.CANONICAL_CACHE_MAX_BODY == 4096
    assert codec._kept_canonical_request.cache_info().maxsize == 4096
    first = canonical_request("POST", SIGN_URL, SIGN_HEADERS, SIGN_BODY, DEFAULT_SIGNED_HEADERS)
    again = canonical_request("POST", SIGN_URL, SIGN_HEADERS, SIGN_BODY, DEFAULT_SIGNED_HEADERS)
    assert first == again == HAND_CANONICAL
    assert codec._kept_canonical_request.cache_info().hits == 1
    upload = b"x" * 4097
    headers = {**SIGN_HEADERS, "Content-Length": str(len(upload))}
    signed_upload = canonical_request("POST", SIGN_URL, headers, upload, DEFAULT_SIGNED_HEADERS)
    assert signed_upload.endswith("x" * 4097) and codec._kept_canonical_request.cache_info().currsize == 1
    # a header the signature covers, changed: a new canonical request, not the kept one
    other_host = canonical_request("POST", SIGN_URL, {**SIGN_HEADERS, "Host": "h"}, SIGN_BODY, DEFAULT_SIGNED_HEADERS)
    assert other_host != first and "host:h" in other_host
