"""MyPreferences' requests and pure parsers: ``GET Profiles/Async/{clientId}/Import/{accessToken}`` and the import flow.

Known, from the vendor's "Retrieve status" page (https://docs.possiblenow.com/integration-api/import/retrieve-status)
and its other Import API pages:
``POST .../Import/{accessToken}/Execute`` executes an import; the status answer is a
``BulkImportStatus``; a wrong ``clientId`` gets 404, a wrong import ``accessToken`` 401; auth is
an OAuth2 client-credentials bearer token (scope ``ClientId/UserId``) or the signed
``PNAUTHINFO3`` header. Inferred (configurable on the connection): the status path (and the
initiate/stage paths derived from it), the OAuth2 token URL, the 401 split (a
``WWW-Authenticate`` challenge means refused credentials; none means the import access token).

Choices:

- The bearer token is a :class:`Shared` value keyed by a hash of token URL, OAuth client id,
  secret and scope: one token per connection and process, fetched once whoever asks, kept
  until ``expires_in`` minus a minute; a 401 to it re-asks once with ``refused=`` the token.
- ``PNAUTHINFO3``: one pure signer with an injectable clock (:func:`pnauthinfo3_authorization`),
  UTC timestamp with milliseconds.
- An import access token lives six hours from InitiateBulkImport (the Initiate page; "Retrieve
  status" says 12: extra ``import_lifetime_hours``). A challenge-less 401 is "not visible yet"
  (the not-found grace) until the import's ``Expires`` passed or it was polled longer than that;
  then it is an expired token and fails at once (:class:`ImportTokenWatch`).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    VendorPayloadError,
    snippet,
)
from airflow_import_status.parsing import (
    load_json,
    load_json_object,
    optional_int,
    optional_str,
    parse_iso_datetime,
)
from airflow_import_status.refusals import VENDOR as REFUSED_BY_VENDOR
from airflow_import_status.refusals import RefusedPage, RefusedRecord
from airflow_import_status.responses import raise_for_http_status
from airflow_import_status.result import (
    ImportResult,
    ImportState,
    StatusTable,
    sum_counters,
    unrecognized_status_warning,
)
from airflow_import_status.transport import Flow, Fresh, HttpRequest, HttpResponse, Shared, TransportSettings
from airflow_import_status.vendors.mypreferences.spec import (
    DEFAULT_BASE_URL,
    DEFAULT_STRING_TO_SIGN,
    NOT_EXECUTED_STATUSES,
    STATUS_TABLE,
    MyPreferencesJob,
)
from airflow_import_status.vendors.spec import ConnectionFieldError, ConnectionValues, base_url

VENDOR = "mypreferences"
STAGE_BATCH_SIZE = 10_000
"""Records per staging request (inferred: the vendor caps a request at 25 MB, not a record count)."""
MAX_STAGE_BYTES = 25 * 1024 * 1024
"""The "Import" page (Rate Limiting & Usage Guidelines): a staging POST carries at most 25 MB by default."""
MAX_RECORDS_PER_IMPORT = 10_000_000
"""The "Import" page: one bulk import stages up to approximately 10 million records."""
DEFAULT_DATA_STAGE_DURATION = 3
"""The "Initiate" page: staged data is kept 3 days unless DataStageDuration says otherwise (0..10)."""
IMPORT_TYPES = ("Add", "Delete")
"""The "Initiate" page: ImportType "Specifies whether to add or delete profiles"."""
REFRESH_FLAGS = ("AlternateIds", "Contacts", "CustomFields", "Groups", "Tags")
"""The "Initiate" page's ``Refresh*`` flags: what the import replaces instead of adding to."""
INITIATE_FIELDS = ("DataStageDuration", "ImportType", "MatchCriteria", "MatchValue", "AllowPriorConsents")
"""The "Initiate" page's other fields (:func:`initiate_body`), which a status answer echoes (inferred)."""
MAX_EMAIL_ADDRESS_LENGTH = 256
"""The "BulkEmailPreference" resource model: EmailAddress is required, 1..256 characters."""

# Profile records: the Stage page's body is a "Collection of BulkUserProfilePreferences"; the
# "CreateBulkUserProfilePreference" resource model (pmstg.mypreferences.com/Profiles/Help) lists
# a record's fields. A flat source row (a CSV line) is built into one with these column names:
PROFILE_FIELDS = ("ProfileId", "CustomerType", "DefaultLocale")
"""Top-level record fields a flat row may carry ("CreateBulkUserProfilePreference"; ProfileId an integer)."""
PROFILE_COLLECTIONS = (
    "CustomerName",
    "Consents",
    "ProfilePreferences",
    "AlternateIds",
    "Addresses",
    "PhoneNumbers",
    "Emails",
    "Groups",
    "ProfileTags",
    "CustomFields",
)
"""Structured record fields: a row carrying any of them is taken as a record already built."""
NAME_FIELDS = ("FirstName", "MiddleName", "LastName")
"""Flat columns gathered into ``CustomerName`` (inferred: the CustomerName model's fields are not public)."""
EMAIL_FIELDS = ("EmailAddress", "EmailAddressType")
"""Flat columns that become one ``Emails`` entry ("BulkEmailPreference": EmailAddress, EmailAddressType)."""
PHONE_FIELDS = ("PhoneNumber", "PhoneNumberType")
"""Flat columns that become one ``PhoneNumbers`` entry (inferred, by analogy with the email model)."""
FLAT_FIELDS = (*PROFILE_FIELDS, *NAME_FIELDS, *EMAIL_FIELDS, *PHONE_FIELDS)
_FLAT = frozenset(FLAT_FIELDS)
_COLLECTIONS = frozenset(PROFILE_COLLECTIONS)
TOKEN_EXPIRY_MARGIN_SECONDS = 60.0
"""A bearer token is dropped this long before the vendor's ``expires_in`` runs out."""
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600
"""``expires_in`` when the token answer has none (inferred: OAuth2's usual hour)."""

BULK_IMPORT_FIELDS = (
    "TotalRecordsReceived",
    "ValidationSuccessful",
    "ValidationFailed",
    "Processed",
    "Pending",
    "Exceptions",
    "NotHonored",
    "AccessToken",
    "Status",
    "Expires",
    "Name",
)
_CANONICAL = {name.casefold(): name for name in BULK_IMPORT_FIELDS}
_KNOWN_NAMES = {
    name: _CANONICAL.get(name.casefold(), name)
    for name in (*BULK_IMPORT_FIELDS, *INITIATE_FIELDS, *(f"Refresh{flag}" for flag in REFRESH_FLAGS))
}
"""The field names a status answer carries, each to its canonical spelling (one look-up instead of a casefold)."""
URLS_CACHED = 8192
"""API URLs kept built (about 0.2 KiB each): the status URL of each waiting import, up to this many."""
EXPIRES_CACHED = 4096
"""``Expires`` values kept parsed: one per waiting import, up to this many."""
EXPIRES_CACHED_LENGTH = 64
"""Only an ``Expires`` of at most this many characters is cached (an ISO 8601 date has about 33)."""

_CONFIGURE_HINT = (
    "add it to the mypreferences connection extra 'success_statuses' or 'failure_statuses' (comma-separated)."
)


# ----- import access tokens expire ----------------------------------------------------------
@dataclass
class ImportTokenWatch:
    """When each import access token a hook polls must have expired, from what the hook saw.

    An import access token lives ``lifetime`` seconds from InitiateBulkImport; the status says
    when (``Expires``). Held by one hook's settings: a trigger keeps it for its whole deferral,
    a poke-mode sensor across its pokes (a rescheduled poke starts afresh: the not-found grace
    then decides, as before).
    """

    lifetime: float
    clock: Callable[[], float] = time.time
    _first_polled: dict[str, float] = field(default_factory=dict)
    _expires: dict[str, float] = field(default_factory=dict)

    def polling(self, token: str) -> None:
        self._first_polled.setdefault(token, self.clock())

    def seen(self, token: str, expires: datetime | None) -> None:
        if expires is not None:
            self._expires[token] = expires.timestamp()

    def expired(self, token: str) -> str | None:
        """Why ``token`` must have expired by now (its ``Expires`` passed, or polled longer than it lives)."""
        now = self.clock()
        expires = self._expires.get(token)
        if expires is not None:
            return (
                f"its Expires {datetime.fromtimestamp(expires, UTC).isoformat()} has passed" if now >= expires else None
            )
        first = self._first_polled.get(token)
        if first is not None and now - first > self.lifetime:
            return f"it has been polled for {(now - first) / 3600:.1f} hours, longer than an access token lives"
        return None


def expires_at(value: str | None) -> datetime | None:
    """``Expires`` as an aware datetime; a date without an offset is taken as UTC (inferred); ``None`` if unreadable.

    Cached: an import's ``Expires`` is the same at every poll, read twice a poll.
    """
    if value is not None and len(value) <= EXPIRES_CACHED_LENGTH:
        return _cached_expires_at(value)
    return _expires_at(value)


def _expires_at(value: str | None) -> datetime | None:
    try:
        moment = parse_iso_datetime(VENDOR, value, "Expires")
    except VendorPayloadError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


_cached_expires_at = functools.lru_cache(maxsize=EXPIRES_CACHED)(_expires_at)


# ----- settings ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MyPreferencesSettings:
    """What the hook needs from a ``mypreferences`` connection."""

    base_url: str
    client_id: str
    auth_type: str
    user_id: str
    secret: str
    oauth_client_id: str
    token_url: str
    scope: str
    status_path: str
    check_path: str
    exceptions_path: str
    string_to_sign: str
    hmac_hash: str
    status_table: StatusTable
    console_url: str | None
    transport: TransportSettings
    import_lifetime_hours: float
    import_tokens: ImportTokenWatch = field(compare=False, repr=False)

    @functools.cached_property
    def token_key(self) -> str:
        """Identity of the OAuth2 credentials: hooks of the same connection share one bearer token."""
        identity = "\0".join((self.token_url, self.oauth_client_id, self.secret, self.scope))
        return f"mypreferences-oauth2:{hashlib.sha256(identity.encode()).hexdigest()}"

    def url(self, template: str, client_id: str, access_token: Any = "") -> str:
        return _api_url(self.base_url, template, client_id, str(access_token))

    def initiate_url(self, client_id: str) -> str:
        """The status path without ``/{accessToken}`` (inferred: InitiateBulkImport posts there)."""
        return self.url(self.status_path.partition("/{accessToken}")[0], client_id)


@functools.lru_cache(maxsize=URLS_CACHED)
def _api_url(base_url: str, template: str, client_id: str, access_token: str) -> str:
    """:meth:`MyPreferencesSettings.url`, built once per import (the status URL is the same at every poll)."""
    path = template.format(clientId=quote(client_id, safe=""), accessToken=quote(access_token, safe=""))
    return f"{base_url}/{path.lstrip('/')}"


def _problem(values: ConnectionValues, message: str) -> ConnectionFieldError:
    return ConnectionFieldError(f"connection {values.conn_id!r}: {message}")


# ----- PNAUTHINFO3-HMAC signing -------------------------------------------------------------
def utc_now() -> datetime:
    return datetime.now(UTC)


def pnauthinfo3_timestamp(moment: datetime) -> str:
    """UTC with milliseconds, ``2020-10-06T18:09:12.667Z``: as a public MyPreferences client sends it."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def pnauthinfo3_signature(secret: str, message: str, hash_name: str = "sha256") -> str:
    """Base64 of the raw HMAC digest, keyed with the secret's UTF-8 bytes (the public client's test vector)."""
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hash_name).digest()).decode()


def pnauthinfo3_authorization(
    *,
    client_id: str,
    user_id: str,
    secret: str,
    method: str = "GET",
    path: str = "",
    hash_name: str = "sha256",
    string_to_sign: str = DEFAULT_STRING_TO_SIGN,
    now: Callable[[], datetime] = utc_now,
) -> str:
    """The ``Authorization`` value of the signed scheme, signed at ``now()`` (valid 15 minutes).

    ``PNAUTHINFO3-HMAC-{HASH} Credential={user_id}/{timestamp} Signature={base64 HMAC}``; the
    message is ``string_to_sign`` filled in, by default ``{client_id}:{user_id}:{timestamp}``
    (confirmed by a public MyPreferences client's test vector).
    """
    timestamp = pnauthinfo3_timestamp(now())
    message = string_to_sign.format(
        client_id=client_id, user_id=user_id, timestamp=timestamp, method=method.upper(), path=path
    )
    signature = pnauthinfo3_signature(secret, message, hash_name)
    return f"PNAUTHINFO3-HMAC-{hash_name.upper()} Credential={user_id}/{timestamp} Signature={signature}"


# ----- OAuth2 bearer token --------------------------------------------------------------------
def token_request(settings: MyPreferencesSettings) -> HttpRequest:
    """Client credentials in a Basic header, grant type and scope in the form (the vendor's OAuth page)."""
    credentials = base64.b64encode(f"{settings.oauth_client_id}:{settings.secret}".encode()).decode()
    return HttpRequest.with_form(
        "POST",
        settings.token_url,
        {"grant_type": "client_credentials", "scope": settings.scope},
        headers={"Authorization": f"Basic {credentials}", "Accept": "application/json"},
    )


def decode_token(response: HttpResponse) -> Fresh[str]:
    """The bearer token from the token endpoint's answer, or a typed error."""
    if response.status in (400, 401, 403):
        raise AuthenticationError(
            f"HTTP {response.status}: the OAuth2 token endpoint refused the client credentials or scope: "
            f"{_error_message(response.body)}",
            vendor=VENDOR,
        )
    raise_for_http_status(VENDOR, response, "the OAuth2 token endpoint")
    data = load_json_object(VENDOR, response.body)
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise VendorPayloadError("the token answer has no access_token", vendor=VENDOR)
    expires_in = optional_int(VENDOR, data, "expires_in")
    lifetime = float(expires_in if expires_in is not None else DEFAULT_TOKEN_LIFETIME_SECONDS)
    ttl = max(lifetime - TOKEN_EXPIRY_MARGIN_SECONDS, lifetime / 2)
    return Fresh(token, ttl=ttl, secrets=(token,))


def bearer_token(settings: MyPreferencesSettings, refused: str | None = None) -> Shared[str]:
    """The connection's bearer token, shared process-wide (``refused``: the one the vendor just rejected)."""
    if refused is None:
        return _bearer(settings.token_key, settings)
    return Shared(settings.token_key, token_request(settings), decode_token, refused=refused)


_BEARERS: dict[str, Shared[str]] = {}


def _bearer(token_key: str, settings: MyPreferencesSettings) -> Shared[str]:
    """The bearer token as flows ask for it at every poll: built once per OAuth2 identity, not per poll."""
    shared = _BEARERS.get(token_key)
    if shared is None:
        if len(_BEARERS) >= 256:
            _BEARERS.clear()
        shared = _BEARERS[token_key] = Shared(token_key, token_request(settings), decode_token)
    return shared


def authorized_flow(settings: MyPreferencesSettings, client_id: str, request: HttpRequest) -> Flow[HttpResponse]:
    """Send one API request for ``client_id`` with the connection's auth.

    HMAC: signed afresh. OAuth2: the shared bearer token; a 401 re-asks for it once with
    ``refused=`` the rejected token (a new one unless another flow replaced it already).
    """
    headers = {"Accept": "application/json", **request.headers}
    if settings.auth_type == "hmac":
        path = "/" + request.url.split("://", 1)[-1].partition("/")[2]
        headers["Authorization"] = pnauthinfo3_authorization(
            client_id=client_id,
            user_id=settings.user_id,
            secret=settings.secret,
            method=request.method,
            path=path,
            hash_name=settings.hmac_hash,
            string_to_sign=settings.string_to_sign,
        )
        signed: HttpResponse = yield dataclasses.replace(request, headers=headers)
        return signed
    token: str = yield bearer_token(settings)
    bearer = {**headers, "Authorization": f"Bearer {token}"}
    response: HttpResponse = yield dataclasses.replace(request, headers=bearer)
    if response.status == 401:
        token = yield bearer_token(settings, refused=token)
        response = yield dataclasses.replace(request, headers={**headers, "Authorization": f"Bearer {token}"})
    return response


# ----- errors ---------------------------------------------------------------------------------
def _error_message(body: bytes) -> str:
    """The vendor's message (``Message``/``message``, or OAuth's ``error_description``/``error``)."""
    try:
        data = load_json(VENDOR, body)
    except VendorPayloadError:
        return snippet(body)
    if isinstance(data, dict):
        for name in ("Message", "message", "error_description", "error"):
            if data.get(name):
                return snippet(str(data[name]))
    return snippet(body)


def check_response(response: HttpResponse, client_id: str, access_token: Any = None) -> None:
    """Raise the typed error for a non-2xx answer, naming whether the clientId or the access token is wrong."""
    if 200 <= response.status < 300:
        return
    message = _error_message(response.body)
    if response.status == 401:
        challenge = response.headers.get("www-authenticate")
        if challenge or access_token is None:
            raise AuthenticationError(
                f"HTTP 401: MyPreferences refused the credentials (challenge {challenge!r}): {message}",
                vendor=VENDOR,
            )
        raise JobNotFoundError(
            f"HTTP 401: import access token {access_token} is unknown (not visible yet, invalid or expired) for "
            f"clientId {client_id!r}: {message}",
            vendor=VENDOR,
        )
    if response.status == 404:
        raise BadRequestError(
            f"HTTP 404: clientId {client_id!r} is not a MyPreferences account (check the connection's client_id): "
            f"{message}",
            vendor=VENDOR,
        )
    raise_for_http_status(VENDOR, response, "the import", quoted=message)


# ----- the pure parser --------------------------------------------------------------------------
def bulk_import_fields(body: bytes | str) -> dict[str, Any]:
    """A ``BulkImportStatus`` JSON object, field names matched case-insensitively."""
    data = load_json_object(VENDOR, body)
    return {(_KNOWN_NAMES.get(key) or _CANONICAL.get(str(key).casefold(), key)): value for key, value in data.items()}


def _progress(state: ImportState, processed: int | None, valid: int | None) -> int | None:
    if state is ImportState.SUCCEEDED:
        return 100
    if state is ImportState.RUNNING and processed is not None and valid:
        return min(100, processed * 100 // valid)
    return None


def parse_bulk_import_status(
    body: bytes | str, access_token: Any = None, status_table: StatusTable = STATUS_TABLE
) -> ImportResult:
    """Pure parser: a MyPreferences ``BulkImportStatus`` to the normalized result.

    ``access_token``: the import asked for; an answer about another one is a payload error
    (never its success); it names the job when the answer carries no ``AccessToken``.
    """
    fields = bulk_import_fields(body)
    echoed = optional_int(VENDOR, fields, "AccessToken")
    if access_token is not None and echoed is not None and str(echoed) != str(access_token).strip():
        raise VendorPayloadError(f"asked for import {access_token} but the answer is about {echoed}", vendor=VENDOR)
    token = str(echoed) if echoed is not None else (str(access_token) if access_token is not None else None)
    if token is None:
        raise VendorPayloadError(f"BulkImportStatus has no AccessToken: {snippet(str(body))!r}", vendor=VENDOR)
    status = optional_str(fields, "Status")
    valid = optional_int(VENDOR, fields, "ValidationSuccessful")
    processed = optional_int(VENDOR, fields, "Processed")
    exceptions = optional_int(VENDOR, fields, "Exceptions")
    not_honored = optional_int(VENDOR, fields, "NotHonored")

    expires = optional_str(fields, "Expires")
    warnings: list[str] = []
    if expires is not None and expires_at(expires) is None:
        warnings.append(f"Expires {snippet(expires)!r} is not an ISO 8601 date: the access token's end is unknown")
    state = status_table.classify(status)
    if state is None:
        state = ImportState.PENDING
        warnings.append(unrecognized_status_warning(VENDOR, status, _CONFIGURE_HINT))
    elif status is not None and status.strip().casefold() in NOT_EXECUTED_STATUSES:
        warnings.append(
            f"import {token} is {status!r}: it has not been executed yet; it stays pending until "
            "someone calls Execute (POST .../Import/{accessToken}/Execute)"
        )
    return ImportResult(
        vendor=VENDOR,
        job_id=token,
        state=state,
        vendor_status=status,
        total=optional_int(VENDOR, fields, "TotalRecordsReceived"),
        imported=processed,
        invalid=optional_int(VENDOR, fields, "ValidationFailed"),
        failed=sum_counters(exceptions, not_honored),
        progress_percent=_progress(state, processed, valid),
        details={
            "Exceptions": exceptions,
            "NotHonored": not_honored,
            "Pending": optional_int(VENDOR, fields, "Pending"),
            "ValidationSuccessful": valid,
            "Expires": expires,
            "Name": optional_str(fields, "Name"),
        },
        warnings=warnings,
    )


# ----- profile records and the Initiate body -------------------------------------------------------
def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def profile_problem(row: Mapping[str, Any]) -> str | None:
    """Why ``row`` cannot be staged as a profile record (``None`` if it can); the vendor judges the rest.

    A structured row (any of :data:`PROFILE_COLLECTIONS`) is staged as is; a flat row may only
    use :data:`FLAT_FIELDS`. A record identifies someone: a ProfileId, an email or a phone
    number. Invalid addresses are *not* refused here: the vendor's staging validates them and
    counts them in ValidationFailed, as the Stage page says.
    """
    if not _COLLECTIONS.isdisjoint(row):
        return (
            None
            if row.get("Emails") or row.get("PhoneNumbers") or row.get("AlternateIds") or (_text(row.get("ProfileId")))
            else "the record has no ProfileId, Emails, PhoneNumbers or AlternateIds"
        )
    if not _FLAT.issuperset(row):
        unknown = sorted(set(row) - _FLAT)
        return (
            f"unknown field(s) {', '.join(unknown)} (a flat row uses {', '.join(FLAT_FIELDS)}; "
            "map the source's columns with field_mapping)"
        )
    profile_id = _text(row.get("ProfileId"))
    if profile_id and not profile_id.isdigit():
        return f"ProfileId {snippet(profile_id)!r} is not an integer"
    email = _text(row.get("EmailAddress"))
    if len(email) > MAX_EMAIL_ADDRESS_LENGTH:
        return f"EmailAddress is longer than {MAX_EMAIL_ADDRESS_LENGTH} characters"
    if not (profile_id or email or _text(row.get("PhoneNumber"))):
        return "no ProfileId, EmailAddress or PhoneNumber: the record identifies no one"
    return None


def profile_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One CreateBulkUserProfilePreference from a row that passed :func:`profile_problem` (pure).

    Flat: ``EmailAddress``/``EmailAddressType`` become the default ``Emails`` entry,
    ``PhoneNumber``/``PhoneNumberType`` the default ``PhoneNumbers`` entry, the name columns
    ``CustomerName``; empty cells are left out.
    """
    if not _COLLECTIONS.isdisjoint(row):
        return dict(row)
    cells = {name: text for name, value in row.items() if value is not None and (text := str(value).strip())}
    record: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        if value := cells.get(name):
            record[name] = int(value) if name == "ProfileId" else value
    if name_parts := {name: value for name in NAME_FIELDS if (value := cells.get(name))}:
        record["CustomerName"] = name_parts
    for collection, (contact_field, kind_field) in (("Emails", EMAIL_FIELDS), ("PhoneNumbers", PHONE_FIELDS)):
        if value := cells.get(contact_field):
            entry: dict[str, Any] = {contact_field: value, "IsDefault": True}
            if kind := cells.get(kind_field):
                entry[kind_field] = kind
            record[collection] = [entry]
    return record


def initiate_body(
    name: str,
    data_stage_duration: int = DEFAULT_DATA_STAGE_DURATION,
    *,
    import_type: str | None = None,
    match_alternate_id_type: str | None = None,
    refresh: Iterable[str] = (),
    allow_prior_consents: bool = False,
) -> dict[str, Any]:
    """The InitiateBulkImport body, checked as the "Initiate" page documents its fields (pure)."""
    if not name.strip():
        raise ValueError("an import needs a Name")
    if not 0 <= data_stage_duration <= 10:
        raise ValueError("DataStageDuration must be within 0..10 days (the Initiate page)")
    body: dict[str, Any] = {"Name": name, "DataStageDuration": data_stage_duration}
    if import_type is not None:
        if import_type not in IMPORT_TYPES:
            raise ValueError(f"ImportType must be one of {', '.join(IMPORT_TYPES)}")
        body["ImportType"] = import_type
    if match_alternate_id_type:
        # the Initiate page: "AlternateIdType is the only supported match criteria", MatchValue its type name
        body["MatchCriteria"], body["MatchValue"] = "AlternateIdType", match_alternate_id_type
    for flag in refresh:
        if flag not in REFRESH_FLAGS:
            raise ValueError(f"unknown refresh flag {flag!r}: use {', '.join(REFRESH_FLAGS)}")
        body[f"Refresh{flag}"] = True
    if allow_prior_consents:
        body["AllowPriorConsents"] = True
    return body


def stage_request(url: str, batch: list[dict[str, Any]], body_key: str | None) -> HttpRequest:
    """One staging POST: the records as a JSON array (the Stage page), or ``{body_key: [...]}``; never retried."""
    if len(batch) > STAGE_BATCH_SIZE:
        raise ValueError(f"a MyPreferences staging batch holds at most {STAGE_BATCH_SIZE} records")
    request = HttpRequest.with_json("POST", url, {body_key: batch} if body_key else batch, idempotent=False)
    size = len(request.content or b"")
    if size > MAX_STAGE_BYTES:
        raise BadRequestError(
            f"a staging request of {len(batch)} records is {size / 2**20:.1f} MB, over the vendor's "
            f"{MAX_STAGE_BYTES // 2**20} MB per request: use a smaller batch_size",
            vendor=VENDOR,
        )
    return request


# ----- Retrieve exceptions ------------------------------------------------------------------------
EXCEPTION_COLLECTIONS = ("Exceptions", "BulkUserProfilePreferenceExceptions", "Records", "UserProfiles")
"""The page's collection attribute (inferred: it names only "Collection of BulkUserProfilePreferenceExceptions")."""
EXCEPTION_CODE_FIELDS = ("ExceptionCode", "ErrorCode", "Code")
"""A record's exception code (inferred)."""
EXCEPTION_MESSAGE_FIELDS = ("ExceptionMessage", "ErrorMessage", "Message", "Exception", "Reason")
"""A record's exception message (inferred)."""
_REASON_FIELDS = frozenset((*EXCEPTION_CODE_FIELDS, *EXCEPTION_MESSAGE_FIELDS))


def _first_entry(record: Mapping[str, Any], collection: str, name: str) -> str | None:
    entries = record.get(collection)
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, dict) and (value := _text(entry.get(name))):
                return value
    return None


def exception_record_key(record: Mapping[str, Any]) -> str | None:
    """The record's key: its first email address, else its ProfileId, else its first phone number."""
    return (
        _first_entry(record, "Emails", "EmailAddress")
        or _text(record.get("EmailAddress"))
        or _text(record.get("ProfileId"))
        or _first_entry(record, "PhoneNumbers", "PhoneNumber")
        or None
    )


def _exception_reason(record: Mapping[str, Any]) -> str:
    code = next((_text(record[name]) for name in EXCEPTION_CODE_FIELDS if _text(record.get(name))), "")
    message = next((_text(record[name]) for name in EXCEPTION_MESSAGE_FIELDS if _text(record.get(name))), "")
    return ": ".join(part for part in (code, message) if part) or "exception (MyPreferences gave no reason)"


def parse_exceptions_page(body: bytes | str) -> RefusedPage:
    """One *Retrieve exceptions* answer: its records (key, reason, the other fields), ``HasMore``, ``TotalResults``."""
    data = load_json_object(VENDOR, body)
    entries = next((data[name] for name in EXCEPTION_COLLECTIONS if isinstance(data.get(name), list)), None)
    if entries is None:
        if optional_int(VENDOR, data, "Count"):
            raise VendorPayloadError(
                f"Retrieve exceptions: Count {data.get('Count')} but no collection among "
                f"{', '.join(EXCEPTION_COLLECTIONS)}",
                vendor=VENDOR,
            )
        entries = []
    records = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise VendorPayloadError("Retrieve exceptions: an exception record is not an object", vendor=VENDOR)
        fields = {name: value for name, value in entry.items() if name not in _REASON_FIELDS}
        records.append(
            RefusedRecord(REFUSED_BY_VENDOR, None, exception_record_key(entry), _exception_reason(entry), fields)
        )
    has_more = data.get("HasMore")
    if not isinstance(has_more, bool):
        raise VendorPayloadError(f"Retrieve exceptions: HasMore is {has_more!r}, not a boolean", vendor=VENDOR)
    return RefusedPage(records, has_more, optional_int(VENDOR, data, "TotalResults"))


# ----- the codec ----------------------------------------------------------------------------------
class MyPreferencesCodec:
    """MyPreferences' side of the shared flow driver."""

    def settings(self, values: ConnectionValues) -> MyPreferencesSettings:
        url = base_url(values, DEFAULT_BASE_URL)
        client_id = values["client_id"]
        auth_type = values["auth_type"]
        user_id = values["user_id"] or ""
        oauth_client_id = token_url = scope = ""
        oauth_secret, hmac_secret = values["oauth_client_secret"], values["hmac_secret"]
        if auth_type == "oauth2":
            oauth_client_id = values["oauth_client_id"] or (values["login"] or "").strip()
            secret = oauth_secret or values["password"] or ""
            if not oauth_client_id or not secret:
                raise _problem(values, "oauth2 needs the OAuth client id and secret (login/password or extras)")
            scope = values["scope"] or ""
            if not scope:
                if not user_id:
                    raise _problem(values, "oauth2 needs extra 'user_id' (the scope is 'ClientId/UserId') or 'scope'")
                scope = f"{client_id}/{user_id}"
            token_url = values["oauth_endpoint"]
            if "://" not in token_url:
                token_url = f"{url}/{token_url.lstrip('/')}"
        else:
            user_id = user_id or (values["login"] or "").strip()
            secret = hmac_secret or values["password"] or ""
            if not user_id or not secret:
                raise _problem(values, "hmac needs the MyPreferences user id and secret (login/password or extras)")
        return MyPreferencesSettings(
            base_url=url,
            client_id=client_id,
            auth_type=auth_type,
            user_id=user_id,
            secret=secret,
            oauth_client_id=oauth_client_id,
            token_url=token_url,
            scope=scope,
            status_path=values["status_path"],
            check_path=values["check_path"],
            exceptions_path=values["exceptions_path"],
            string_to_sign=values["hmac_string_to_sign"],
            hmac_hash=values["hmac_hash"],
            status_table=values.status_table(STATUS_TABLE),
            console_url=values["console_url"],
            transport=values.transport(),
            import_lifetime_hours=values["import_lifetime_hours"],
            import_tokens=ImportTokenWatch(values["import_lifetime_hours"] * 3600),
        )

    def transport(self, settings: MyPreferencesSettings) -> TransportSettings:
        return settings.transport

    def status_request(self, settings: MyPreferencesSettings, job: MyPreferencesJob) -> HttpRequest:
        client = job.client_id or settings.client_id
        return HttpRequest("GET", settings.url(settings.status_path, client, job.access_token))

    def decode_status(
        self, response: HttpResponse, settings: MyPreferencesSettings, job: MyPreferencesJob
    ) -> ImportResult:
        check_response(response, job.client_id or settings.client_id, job.access_token)
        return parse_bulk_import_status(response.body, job.access_token, settings.status_table)

    def status_flow(self, settings: MyPreferencesSettings, job: MyPreferencesJob) -> Flow[ImportResult]:
        """One status read; a 401 once the import access token must have expired fails at once."""
        token, watch = str(job.access_token), settings.import_tokens  # job.job_id, without its field lookup
        watch.polling(token)
        client = job.client_id or settings.client_id
        response = yield from authorized_flow(settings, client, self.status_request(settings, job))
        try:
            result = self.decode_status(response, settings, job)
        except JobNotFoundError:
            reason = watch.expired(token)
            if reason is None:
                raise
            raise PermanentVendorError(
                f"HTTP 401: import access token {token} has expired ({reason}; MyPreferences access tokens live "
                f"{settings.import_lifetime_hours:g} hours from InitiateBulkImport): the import can no longer "
                "be read; start a new one",
                vendor=VENDOR,
            ) from None
        watch.seen(token, expires_at(result.details["Expires"]))
        return result

    def refused_page_flow(
        self, settings: MyPreferencesSettings, job: MyPreferencesJob, offset: int, limit: int
    ) -> Flow[RefusedPage]:
        """One *Retrieve exceptions* page (``limit``, 1-based ``offset``); a 401 means the access token expired."""
        client = job.client_id or settings.client_id
        query = urlencode({"limit": limit, "offset": offset})
        request = HttpRequest("GET", f"{settings.url(settings.exceptions_path, client, job.access_token)}?{query}")
        response = yield from authorized_flow(settings, client, request)
        try:
            check_response(response, client, job.access_token)
        except JobNotFoundError:
            raise PermanentVendorError(
                f"HTTP 401 listing the refused records at offset {offset}: import access token {job.access_token} "
                f"is invalid or expired (MyPreferences access tokens live {settings.import_lifetime_hours:g} hours "
                "from InitiateBulkImport)",
                vendor=VENDOR,
            ) from None
        return parse_exceptions_page(response.body)

    def check_flow(self, settings: MyPreferencesSettings) -> Flow[str]:
        client = settings.client_id
        request = HttpRequest("GET", settings.url(settings.check_path, client))
        response = yield from authorized_flow(settings, client, request)
        check_response(response, client)
        return f"Connected to MyPreferences at {settings.base_url} as clientId {client!r}"

    def console_url(self, settings: MyPreferencesSettings, job: MyPreferencesJob) -> str | None:
        if not settings.console_url:
            return None
        return settings.console_url.format(clientId=job.client_id or settings.client_id, accessToken=job.access_token)

    def start_import_flow(
        self,
        settings: MyPreferencesSettings,
        name: str,
        batches: Iterable[list[dict[str, Any]]],
        client_id: str | None = None,
        data_stage_duration: int = DEFAULT_DATA_STAGE_DURATION,
        *,
        initiate: Mapping[str, Any] | None = None,
        on_initiated: Callable[[str], None] | None = None,
        stage_body_key: str | None = None,
    ) -> Flow[str]:
        """InitiateBulkImport, stage each batch, Execute; return the import access token (the job id).

        ``initiate``: the whole Initiate body (:func:`initiate_body`), else Name and
        DataStageDuration; ``on_initiated(token)`` runs the moment the vendor returns the token,
        before anything is staged (the operator records the job there).
        """
        client = client_id or settings.client_id
        body = dict(initiate) if initiate is not None else initiate_body(name, data_stage_duration)
        request = HttpRequest.with_json("POST", settings.initiate_url(client), body, idempotent=False)
        response = yield from authorized_flow(settings, client, request)
        check_response(response, client)
        token = parse_bulk_import_status(response.body, status_table=settings.status_table).job_id
        if on_initiated is not None:
            on_initiated(token)
        return (yield from self.stage_and_execute_flow(settings, token, batches, client, stage_body_key))

    def stage_and_execute_flow(
        self,
        settings: MyPreferencesSettings,
        access_token: str,
        batches: Iterable[list[dict[str, Any]]],
        client_id: str | None = None,
        stage_body_key: str | None = None,
    ) -> Flow[str]:
        """Stage each batch into an initiated import, then Execute it (also resumes an unfinished staging)."""
        client = client_id or settings.client_id
        stage_url = settings.url(settings.status_path, client, access_token)
        for batch in batches:
            response = yield from authorized_flow(settings, client, stage_request(stage_url, batch, stage_body_key))
            check_response(response, client, access_token)
        execute = HttpRequest("POST", f"{stage_url}/Execute", idempotent=False)
        response = yield from authorized_flow(settings, client, execute)
        check_response(response, client, access_token)
        return access_token


CODEC = MyPreferencesCodec()
"""The codec the spec names (``VendorClasses.codec``); hooks and operators use it typed."""
