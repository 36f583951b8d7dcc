"""MyPreferences' pure parts: the BulkImportStatus parser, settings from the schema, the signer, the token decoder."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from airflow.sdk import Connection

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    VendorPayloadError,
)
from airflow_import_status.polling import ErrorAction, PollPolicy
from airflow_import_status.result import ImportState
from airflow_import_status.transport import HttpResponse
from airflow_import_status.vendors.mypreferences.codec import (
    EXPIRES_CACHED,
    EXPIRES_CACHED_LENGTH,
    MAX_STAGE_BYTES,
    STAGE_BATCH_SIZE,
    MyPreferencesSettings,
    decode_token,
    expires_at,
    initiate_body,
    parse_bulk_import_status,
    pnauthinfo3_authorization,
    pnauthinfo3_signature,
    profile_problem,
    profile_record,
    stage_request,
)
from airflow_import_status.vendors.mypreferences.codec import _api_url as api_url_cache
from airflow_import_status.vendors.mypreferences.codec import _cached_expires_at as expires_cache
from airflow_import_status.vendors.mypreferences.spec import SPEC
from airflow_import_status.vendors.spec import ConnectionFieldError


def bulk_import_status(**overrides) -> bytes:
    """A BulkImportStatus with every attribute of the seed's field list."""
    payload = {
        "TotalRecordsReceived": 100,
        "ValidationSuccessful": 90,
        "ValidationFailed": 10,
        "Processed": 80,
        "Pending": 0,
        "Exceptions": 6,
        "NotHonored": 4,
        "AccessToken": 20451,
        "Status": "Completed",
        "Expires": "2026-03-02T06:15:00",
        "Name": "Nightly CRM sync",
        "DataStageDuration": 3,
        "MatchCriteria": "AlternateIdType",
        "MatchValue": "CRM_ID",
        "RefreshAlternateIds": False,
        "RefreshContacts": False,
        "RefreshCustomFields": False,
        "RefreshGroups": False,
        "RefreshTags": False,
        "AllowOlderConsentVersion": False,
    }
    return json.dumps({**payload, **overrides}).encode()


# ----- parser -------------------------------------------------------------------------------
def test_completed_import_maps_every_counter():
    result = parse_bulk_import_status(bulk_import_status(), 20451)
    assert result.state is ImportState.SUCCEEDED
    assert (result.vendor, result.job_id, result.vendor_status) == ("mypreferences", "20451", "Completed")
    assert (result.total, result.invalid, result.imported, result.failed) == (100, 10, 80, 10)
    assert result.progress_percent == 100
    assert result.details == {
        "Exceptions": 6,
        "NotHonored": 4,
        "Pending": 0,
        "ValidationSuccessful": 90,
        "Expires": "2026-03-02T06:15:00",
        "Name": "Nightly CRM sync",
    }
    assert result.warnings == []


@pytest.mark.parametrize(
    ("status", "state", "not_executed"),
    [
        ("Initiated", ImportState.PENDING, True),
        ("Staging", ImportState.PENDING, True),
        ("Queued", ImportState.PENDING, False),
        ("Processing", ImportState.RUNNING, False),
        ("Completed", ImportState.SUCCEEDED, False),
        ("Complete", ImportState.SUCCEEDED, False),
        ("COMPLETED", ImportState.SUCCEEDED, False),
        ("Failed", ImportState.FAILED, False),
    ],
)
def test_documented_statuses(status, state, not_executed):
    result = parse_bulk_import_status(bulk_import_status(Status=status))
    assert result.state is state
    assert any("not been executed" in warning for warning in result.warnings) is not_executed


def test_staging_import_keeps_waiting_with_a_warning():
    result = parse_bulk_import_status(
        bulk_import_status(Status="Staging", Processed=0, Exceptions=0, NotHonored=0, Pending=90)
    )
    assert result.state is ImportState.PENDING
    assert result.progress_percent is None
    assert result.imported == 0 and result.details["Pending"] == 90
    assert "Staging" in result.warnings[0] and "Execute" in result.warnings[0]


def test_processing_progress_is_processed_over_validation_successful():
    result = parse_bulk_import_status(bulk_import_status(Status="Processing", Processed=30, ValidationSuccessful=120))
    assert (result.state, result.progress_percent) == (ImportState.RUNNING, 25)
    empty = parse_bulk_import_status(bulk_import_status(Status="Processing", Processed=0, ValidationSuccessful=0))
    assert empty.progress_percent is None


def test_unknown_status_keeps_waiting_with_a_warning():
    result = parse_bulk_import_status(bulk_import_status(Status="Archived"))
    assert result.state is ImportState.PENDING
    assert "unrecognized import status 'Archived'" in result.warnings[0]
    assert "success_statuses" in result.warnings[0]


def test_field_names_are_case_insensitive_and_token_falls_back_to_the_request():
    body = json.dumps({"status": "Completed", "totalRecordsReceived": 5, "processed": 5}).encode()
    result = parse_bulk_import_status(body, access_token=77)
    assert (result.job_id, result.total, result.imported, result.state) == ("77", 5, 5, ImportState.SUCCEEDED)


def test_an_answer_about_another_import_is_a_payload_error():
    with pytest.raises(VendorPayloadError, match="asked for import 20452 but the answer is about 20451"):
        parse_bulk_import_status(bulk_import_status(), 20452)
    assert parse_bulk_import_status(bulk_import_status(AccessToken="20451"), "20451").job_id == "20451"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>Service Unavailable</html>", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (bulk_import_status(Processed=-1), "'Processed' is negative"),
        (bulk_import_status(Exceptions="many"), "'Exceptions' is not an integer"),
        (json.dumps({"Status": "Completed"}).encode(), "no AccessToken"),
    ],
)
def test_bad_payloads_are_typed_errors(body, match):
    with pytest.raises(VendorPayloadError, match=match):
        parse_bulk_import_status(body)


# ----- settings and signer -------------------------------------------------------------------
def _connection(**fields) -> Connection:
    extra = {"client_id": "ACME", "user_id": "jane", **fields.pop("extra", {})}
    return Connection(conn_id="myp", conn_type="mypreferences", extra=json.dumps(extra), **fields)


def settings_from_connection(conn: Connection) -> MyPreferencesSettings:
    return SPEC.codec.settings(SPEC.connection.parse(conn, SPEC.conn_type))


def test_settings_read_every_declared_field():
    values = SPEC.connection.parse(_connection(login="oauth-id", password="oauth-secret"), SPEC.conn_type)
    SPEC.codec.settings(values)
    declared = {f.name for f in SPEC.connection.all_extras} | {f.name for f in SPEC.connection.standard}
    assert declared <= values.read


def test_settings_defaults_to_production_oauth2():
    settings = settings_from_connection(_connection(login="oauth-id", password="oauth-secret"))
    assert settings.base_url == "https://pm.mypreferences.com"
    assert settings.auth_type == "oauth2"
    assert settings.scope == "ACME/jane"
    assert settings.token_url == "https://pm.mypreferences.com/Profiles/oauth/token"
    assert (
        settings.url(settings.status_path, "ACME", 12) == "https://pm.mypreferences.com/Profiles/Async/ACME/Import/12"
    )


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"extra": {"client_id": ""}, "login": "a", "password": "b"}, "client_id"),
        ({"extra": {"auth_type": "apikey"}, "login": "a", "password": "b"}, "auth_type"),
        ({"login": "a"}, "OAuth client id and secret"),
        ({"extra": {"user_id": ""}, "login": "a", "password": "b"}, "user_id"),
        ({"extra": {"auth_type": "hmac", "user_id": ""}, "password": "b"}, "user id and secret"),
        ({"extra": {"status_path": "Import/{token}"}, "login": "a", "password": "b"}, "status_path"),
        ({"extra": {"hmac_hash": "md5"}, "login": "a", "password": "b"}, "hmac_hash"),
        ({"extra": {"check_path": "v4/{client}/Programs"}, "login": "a", "password": "b"}, "check_path"),
        ({"extra": {"hmac_string_to_sign": "{client_id}:{secret}"}, "login": "a", "password": "b"}, "secret"),
    ],
)
def test_bad_connections_name_the_problem(fields, match):
    with pytest.raises(ConnectionFieldError, match=match):
        settings_from_connection(_connection(**fields))


def test_signer_core_matches_the_public_clients_test_vector():
    message = "SanchezAssociates:RickSanchez:2015-08-10T20:11:00Z"
    assert pnauthinfo3_signature("example-secret", message) == "7NBS54ABAHcEyXAzCQY45hQKmouE74/0aF2sNjV5YNQ="


def test_signer_sends_milliseconds_and_signs_client_user_and_timestamp():
    header = pnauthinfo3_authorization(
        client_id="SanchezAssociates",
        user_id="RickSanchez",
        secret="example-secret",
        now=lambda: datetime(2020, 10, 6, 18, 9, 12, 667890, tzinfo=UTC),
    )
    message = b"SanchezAssociates:RickSanchez:2020-10-06T18:09:12.667Z"
    expected = base64.b64encode(hmac.new(b"example-secret", message, hashlib.sha256).digest()).decode()
    assert header == f"PNAUTHINFO3-HMAC-SHA256 Credential=RickSanchez/2020-10-06T18:09:12.667Z Signature={expected}"
    assert expected == "sMFDzRP9YZqg/T+7hciyxdNOZAGSIwf+WEMoJEu8ADo="


def test_signer_string_to_sign_and_hash_are_replaceable():
    header = pnauthinfo3_authorization(
        client_id="SanchezAssociates",
        user_id="RickSanchez",
        secret="example-secret",
        method="get",
        path="/Profiles/x",
        hash_name="sha512",
        string_to_sign="{method} {path} {timestamp}",
        now=lambda: datetime(2015, 8, 10, 22, 11, 0, tzinfo=UTC).astimezone(),
    )
    assert header == (
        "PNAUTHINFO3-HMAC-SHA512 Credential=RickSanchez/2015-08-10T22:11:00.000Z "
        "Signature=ePwrvy+MHpKQvUHEBfh7GpbH1kbSyjRRpjSZsP6rWp/KxLQcZQV/rC83BU0wVL0lTi2OHA+lJD+hzX0Wr3nUqA=="
    )


def _token_answer(status: int, body: dict) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps(body).encode(), "https://x/token")


def test_bearer_token_expires_a_minute_before_the_vendor_says_and_is_a_secret():
    fresh = decode_token(_token_answer(200, {"access_token": "tok-123456", "expires_in": 3600}))
    assert (fresh.value, fresh.ttl, fresh.secrets) == ("tok-123456", 3600 - 60, ("tok-123456",))
    assert decode_token(_token_answer(200, {"access_token": "tok-123456", "expires_in": 60})).ttl == 30


def test_refused_client_credentials_are_an_authentication_error():
    with pytest.raises(AuthenticationError, match=r"token endpoint refused.*Client authentication failed"):
        decode_token(
            _token_answer(401, {"error": "invalid_client", "error_description": "Client authentication failed."})
        )
    with pytest.raises(VendorPayloadError, match="no access_token"):
        decode_token(_token_answer(200, {"token_type": "Bearer"}))


# ----- the import access token expires ------------------------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _hmac_settings(**extra) -> MyPreferencesSettings:
    conn = _connection(login="jane", password="hmac-secret", extra={"auth_type": "hmac", **extra})
    return settings_from_connection(conn)


def _poll(settings: MyPreferencesSettings, response: HttpResponse, access_token: int = 20451):
    """Drive one status flow by hand: its one signed request is answered with ``response``."""
    flow = SPEC.codec.status_flow(settings, SPEC.job({"access_token": access_token}))
    request = next(flow)
    assert request.method == "GET" and request.headers["Authorization"].startswith("PNAUTHINFO3-HMAC-SHA256 ")
    try:
        flow.send(response)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the status flow asked for more than one request")


def _answer(status: int, body: bytes, headers: dict | None = None) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json", **(headers or {})}, body, "https://x/status")


UNKNOWN_TOKEN = _answer(401, b'{"Message": "The access token is invalid or has expired."}')
GRACE = PollPolicy(not_found_grace=3600)


def _action(error) -> ErrorAction:
    return GRACE.after_error(error, failures=0, waited=0.0, job_label="import 20451").action


def test_a_401_after_expires_fails_at_once_and_before_it_the_grace_applies():
    settings = _hmac_settings()
    clock = settings.import_tokens.clock = _Clock()
    expires = datetime.fromtimestamp(clock.now + 600, UTC).isoformat()
    assert _poll(settings, _answer(200, bulk_import_status(Status="Processing", Expires=expires))).state == "running"

    clock.now += 599
    with pytest.raises(JobNotFoundError, match="import access token 20451 is unknown") as before:
        _poll(settings, UNKNOWN_TOKEN)
    assert _action(before.value) is ErrorAction.WAIT

    clock.now += 2
    with pytest.raises(PermanentVendorError, match=r"access token 20451 has expired \(its Expires .* passed") as after:
        _poll(settings, UNKNOWN_TOKEN)
    assert not isinstance(after.value, JobNotFoundError)
    assert _action(after.value) is ErrorAction.FAIL


def test_an_expires_without_offset_is_utc():
    settings = _hmac_settings()
    clock = settings.import_tokens.clock = _Clock()
    naive = datetime.fromtimestamp(clock.now + 60, UTC).replace(tzinfo=None).isoformat()
    _poll(settings, _answer(200, bulk_import_status(Expires=naive)))
    clock.now += 59
    with pytest.raises(JobNotFoundError):
        _poll(settings, UNKNOWN_TOKEN)
    clock.now += 2
    with pytest.raises(PermanentVendorError, match="has expired"):
        _poll(settings, UNKNOWN_TOKEN)


def test_polled_longer_than_the_configured_lifetime_a_401_means_expired():
    settings = _hmac_settings(import_lifetime_hours=1)
    clock = settings.import_tokens.clock = _Clock()
    with pytest.raises(JobNotFoundError):
        _poll(settings, UNKNOWN_TOKEN)
    clock.now += 3599
    with pytest.raises(JobNotFoundError):
        _poll(settings, UNKNOWN_TOKEN)
    clock.now += 2
    with pytest.raises(PermanentVendorError, match=r"polled for 1\.0 hours.*live 1 hours from InitiateBulkImport"):
        _poll(settings, UNKNOWN_TOKEN)
    assert _hmac_settings().import_tokens.lifetime == 6 * 3600, "the Initiate page's six hours by default"


def test_an_unreadable_expires_warns_and_falls_back_to_the_lifetime():
    settings = _hmac_settings()
    clock = settings.import_tokens.clock = _Clock()
    result = _poll(settings, _answer(200, bulk_import_status(Status="Processing", Expires="tomorrow")))
    assert any("Expires 'tomorrow' is not an ISO 8601 date" in warning for warning in result.warnings)
    clock.now += 6 * 3600 + 1
    with pytest.raises(PermanentVendorError, match=r"polled for 6\.0 hours"):
        _poll(settings, UNKNOWN_TOKEN)


def test_a_challenged_401_is_refused_credentials_whatever_the_expiry():
    settings = _hmac_settings()
    challenged = _answer(401, b'{"Message": "Unable to authenticate request"}', {"www-authenticate": "PNAUTHINFO3"})
    with pytest.raises(AuthenticationError, match="refused the credentials"):
        _poll(settings, challenged)


# ----- the start-import flow ------------------------------------------------------------------------
def test_start_import_initiates_stages_each_batch_of_an_iterable_and_executes_never_retried():
    settings = _hmac_settings()
    staged = ([{"ProfileId": "a"}], [{"ProfileId": "b"}, {"ProfileId": "c"}])
    batches = (batch for batch in staged)
    flow = SPEC.codec.start_import_flow(settings, "nightly", batches)
    sent = [next(flow)]
    answers = [bulk_import_status(Status="Initiated", AccessToken=777), *[bulk_import_status(AccessToken=777)] * 3]
    with pytest.raises(StopIteration) as done:
        for body in answers:
            sent.append(flow.send(_answer(200, body)))
    assert done.value.value == "777"
    base = "https://pm.mypreferences.com/Profiles/Async/ACME/Import"
    assert [(r.method, r.url) for r in sent] == [
        ("POST", base),
        ("POST", f"{base}/777"),
        ("POST", f"{base}/777"),
        ("POST", f"{base}/777/Execute"),
    ]
    assert [r.idempotent for r in sent] == [False] * 4
    assert json.loads(sent[0].content) == {"Name": "nightly", "DataStageDuration": 3}
    assert [json.loads(r.content) for r in sent[1:3]] == list(staged)
    assert all(r.headers["Authorization"].startswith("PNAUTHINFO3-HMAC-SHA256 ") for r in sent)


def test_the_flow_reports_the_token_before_staging_and_takes_the_whole_initiate_body():
    events = []

    def batches():
        for _ in range(2):
            events.append("batch read")
            yield [{"ProfileId": 1}]

    body = initiate_body("nightly", 5, import_type="Delete", refresh=["Contacts"])
    flow = SPEC.codec.start_import_flow(
        _hmac_settings(), "nightly", batches(), initiate=body, on_initiated=lambda t: events.append(f"token {t}")
    )
    initiate = next(flow)
    stage = flow.send(_answer(200, bulk_import_status(Status="Initiated", AccessToken=778)))
    assert events == ["token 778", "batch read"], "the token is reported before anything is staged"
    assert json.loads(initiate.content) == {
        "Name": "nightly",
        "DataStageDuration": 5,
        "ImportType": "Delete",
        "RefreshContacts": True,
    }
    assert stage.url.endswith("/Import/778") and json.loads(stage.content) == [{"ProfileId": 1}]


def test_stage_and_execute_resumes_an_initiated_import_without_initiating():
    flow = SPEC.codec.stage_and_execute_flow(
        _hmac_settings(), "779", iter([[{"ProfileId": 2}]]), "OTHER", "UserProfiles"
    )
    stage = next(flow)
    execute = flow.send(_answer(200, bulk_import_status(AccessToken=779)))
    with pytest.raises(StopIteration) as done:
        flow.send(_answer(200, bulk_import_status(AccessToken=779, Status="Queued")))
    assert done.value.value == "779"
    base = "https://pm.mypreferences.com/Profiles/Async/OTHER/Import/779"
    assert [(stage.url, execute.url)] == [(base, f"{base}/Execute")]
    assert json.loads(stage.content) == {"UserProfiles": [{"ProfileId": 2}]}, "stage_body_key wraps the records"


def test_a_refused_stage_raises_and_sends_no_execute():
    flow = SPEC.codec.stage_and_execute_flow(_hmac_settings(), "780", iter([[{"ProfileId": 3}], [{"ProfileId": 4}]]))
    next(flow)
    with pytest.raises(BadRequestError, match="HTTP 400"):
        flow.send(_answer(400, b'{"Message": "The request is invalid."}'))


# ----- profile records and the Initiate body -------------------------------------------------------
def test_a_flat_row_becomes_a_create_bulk_user_profile_preference():
    row = {
        "ProfileId": " 42 ",
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "MiddleName": "",
        "EmailAddress": "ada@example.com",
        "EmailAddressType": "Personal",
        "PhoneNumber": "+39025550000",
        "CustomerType": "Customer",
    }
    assert profile_problem(row) is None
    assert profile_record(row) == {
        "ProfileId": 42,
        "CustomerType": "Customer",
        "CustomerName": {"FirstName": "Ada", "LastName": "Lovelace"},
        "Emails": [{"EmailAddress": "ada@example.com", "IsDefault": True, "EmailAddressType": "Personal"}],
        "PhoneNumbers": [{"PhoneNumber": "+39025550000", "IsDefault": True}],
    }
    assert profile_record({"EmailAddress": "a@b.co", "PhoneNumber": " "}) == {
        "Emails": [{"EmailAddress": "a@b.co", "IsDefault": True}]
    }, "empty cells are left out"


def test_a_structured_record_is_staged_as_is():
    record = {"ProfileId": 7, "Emails": [{"EmailAddress": "x@example.com"}], "Groups": [{"Name": "VIP"}]}
    assert profile_problem(record) is None and profile_record(record) == record


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"EmailAddress": "", "PhoneNumber": ""}, "identifies no one"),
        ({"email": "a@example.com"}, "unknown field(s) email"),
        ({"ProfileId": "p-1", "EmailAddress": "a@example.com"}, "ProfileId 'p-1' is not an integer"),
        ({"EmailAddress": "a" * 250 + "@example.com"}, "longer than 256"),
        ({"Emails": [], "CustomerName": {"FirstName": "A"}}, "no ProfileId, Emails, PhoneNumbers or AlternateIds"),
    ],
)
def test_rows_that_cannot_be_staged_say_why(row, reason):
    assert reason in profile_problem(row)


def test_an_invalid_address_is_left_to_the_vendor_to_count():
    assert profile_problem({"EmailAddress": "not-an-email"}) is None


def test_the_initiate_body_as_the_initiate_page_documents_it():
    assert initiate_body("n") == {"Name": "n", "DataStageDuration": 3}
    assert initiate_body("n", 0, match_alternate_id_type="CRM_ID", allow_prior_consents=True) == {
        "Name": "n",
        "DataStageDuration": 0,
        "MatchCriteria": "AlternateIdType",
        "MatchValue": "CRM_ID",
        "AllowPriorConsents": True,
    }
    for bad in (
        {"name": " "},
        {"data_stage_duration": 11},
        {"import_type": "Upsert"},
        {"refresh": ["Everything"]},
    ):
        with pytest.raises(ValueError):
            initiate_body(**{"name": "n", **bad})


def test_a_staging_request_is_bounded_by_count_and_by_the_vendors_25_mb():
    url = "https://pm.mypreferences.com/Profiles/Async/ACME/Import/1"
    request = stage_request(url, [{"ProfileId": 1}], None)
    assert (request.idempotent, request.headers["Content-Type"]) == (False, "application/json")
    with pytest.raises(ValueError, match="at most"):
        stage_request(url, [{}] * (STAGE_BATCH_SIZE + 1), None)
    record = {"CustomerType": "x" * (MAX_STAGE_BYTES // STAGE_BATCH_SIZE)}  # a little over 25 MB in one batch
    with pytest.raises(BadRequestError, match="over the vendor's 25 MB per request: use a smaller batch_size"):
        stage_request(url, [record] * STAGE_BATCH_SIZE, None)


def test_status_urls_are_built_once_in_a_bounded_cache():
    settings = settings_from_connection(_connection(login="oauth-id", password="oauth-secret"))
    api_url_cache.cache_clear()
    assert api_url_cache.cache_info().maxsize == 8192
    for _ in range(3):
        assert settings.url(settings.status_path, "AC ME/1", 12) == (
            "https://pm.mypreferences.com/Profiles/Async/AC%20ME%2F1/Import/12"
        )
    assert api_url_cache.cache_info()[:2] == (2, 1)  # hits, misses
    assert settings.url(settings.status_path, "AC ME/1", "12") == settings.url(settings.status_path, "AC ME/1", 12)


def test_expires_is_parsed_once_in_a_bounded_cache():
    expires_cache.cache_clear()
    assert (expires_cache.cache_info().maxsize, EXPIRES_CACHED, EXPIRES_CACHED_LENGTH) == (4096, 4096, 64)
    for _ in range(3):
        assert expires_at("2026-12-04T17:33:22.8212204Z") == datetime(2026, 12, 4, 17, 33, 22, 821220, tzinfo=UTC)
        assert expires_at("not a date") is None
    assert expires_cache.cache_info()[:2] == (4, 2)  # hits, misses
    long = "2026-12-04T17:33:22." + "1" * 100_000 + "Z"  # still a date: the fraction is cut to microseconds
    assert expires_at(long) == datetime(2026, 12, 4, 17, 33, 22, 111111, tzinfo=UTC)
    assert expires_cache.cache_info().currsize == 2  # a value over 64 characters never enters the cache
