"""PossibleNOW MyPreferences bulk-import status: ``GET Profiles/Async/{clientId}/Import/{accessToken}``.

Everything MyPreferences-specific lives here: the two auth schemes (OAuth2 client credentials
with a shared token cache, and the signed ``PNAUTHINFO3-HMAC-SHA256`` header), request
building, the pure ``BulkImportStatus`` parser, the status table and the hook.

Choices where the vendor's docs are silent (all configurable on the connection):

- Status path: ``Profiles/Async/{clientId}/Import/{accessToken}`` (inferred; extra
  ``status_path``). The import helper derives its other paths from it: ``POST`` to the path
  without ``/{accessToken}`` initiates (inferred), ``POST`` to the status path stages records
  (inferred), ``POST {status path}/Execute`` executes (documented).
- OAuth2 token URL: ``{host}/Profiles/oauth/token`` (inferred; extra ``oauth_endpoint``, absolute or
  relative to the host). Client credentials go in a Basic header, ``grant_type`` and ``scope``
  (``{clientId}/{userId}``, extra ``scope`` overrides) in a form body, as the vendor's OAuth
  page shows. The bearer token is cached per process, keyed by token URL, OAuth client id,
  scope and a hash of the secret, until ``expires_in`` minus a minute; a 401 answered to a
  cached token drops it, fetches a new one and retries once.
- ``PNAUTHINFO3-HMAC-SHA256``: the vendor documents the header, not the signed string. The
  default string to sign is ``{client_id}:{user_id}:{timestamp}`` (as a public client signs
  it; agrees with that client's published test vector), keyed with the UTF-8 bytes of the
  secret, Base64 of the raw digest. The timestamp is UTC, ``YYYY-MM-DDTHH:MM:SSZ``, fresh on
  every request (the vendor rejects signatures older than 15 minutes). Extras
  ``hmac_string_to_sign`` (placeholders ``{client_id}``, ``{user_id}``, ``{timestamp}``,
  ``{method}``, ``{path}``) and ``hmac_hash`` (sha256|sha384|sha512) replace them.
- 401 has two meanings: refused credentials, or an unknown/expired import access token. A
  401 carrying a ``WWW-Authenticate`` challenge is taken as refused credentials
  (:class:`AuthenticationError`), one without as the import access token
  (:class:`JobNotFoundError`, so the not-found grace applies). 404 means the clientId is
  wrong (:class:`BadRequestError`: fails at once).
- Statuses: Initiated/Staging (not executed yet: pending, with a warning), Queued (pending),
  Processing (running), Completed or Complete (succeeded), Failed (failed). Extras
  ``success_statuses`` / ``failure_statuses`` add values (comma-separated, case-insensitive);
  any other status keeps waiting with a warning.
- Connection test: ``GET Profiles/v4/{clientId}/Programs`` (the vendor's auth example;
  extra ``check_path``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    VendorPayloadError,
    snippet,
)
from airflow_import_status.hooks._legacy import (
    Flow,
    HttpRequest,
    HttpResponse,
    ImportStatusHook,
    TransportSettings,
    base_url_of,
    connection_extra,
    raise_for_http_status,
)
from airflow_import_status.hooks.tokens import TokenCache
from airflow_import_status.parsing import load_json, load_json_object, optional_int, optional_str
from airflow_import_status.result import (
    ImportResult,
    ImportState,
    StatusTable,
    sum_counters,
    unrecognized_status_warning,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

VENDOR = "mypreferences"
DEFAULT_BASE_URL = "https://pm.mypreferences.com"
DEFAULT_STATUS_PATH = "Profiles/Async/{clientId}/Import/{accessToken}"
DEFAULT_TOKEN_PATH = "Profiles/oauth/token"
DEFAULT_CHECK_PATH = "Profiles/v4/{clientId}/Programs"
DEFAULT_STRING_TO_SIGN = "{client_id}:{user_id}:{timestamp}"
PATH_PLACEHOLDERS = ("clientId", "accessToken")
SIGNING_PLACEHOLDERS = ("client_id", "user_id", "timestamp", "method", "path")
AUTH_TYPES = ("oauth2", "hmac")
HMAC_HASHES = ("sha256", "sha384", "sha512")
STAGE_BATCH_SIZE = 10_000
"""Records per staging request (the vendor caps a request at 25 MB, not a record count)."""

DEFAULT_STATUS_TABLE = StatusTable(
    pending=frozenset({"Initiated", "Staging", "Queued"}),
    running=frozenset({"Processing"}),
    succeeded=frozenset({"Completed", "Complete"}),
    failed=frozenset({"Failed"}),
)
NOT_EXECUTED_STATUSES = frozenset({"initiated", "staging"})

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

_CONFIGURE_HINT = (
    "add it to the mypreferences connection extra 'success_statuses' or 'failure_statuses' (comma-separated)."
)


# ----- settings ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MyPreferencesSettings:
    """What the hook needs from a ``mypreferences`` connection."""

    base_url: str
    client_id: str
    auth_type: str
    user_id: str = ""
    secret: str = ""
    oauth_client_id: str = ""
    token_url: str = ""
    scope: str = ""
    status_path: str = DEFAULT_STATUS_PATH
    check_path: str = DEFAULT_CHECK_PATH
    string_to_sign: str = DEFAULT_STRING_TO_SIGN
    hmac_hash: str = "sha256"
    status_table: StatusTable = DEFAULT_STATUS_TABLE
    console_url: str | None = None
    transport: TransportSettings = field(default_factory=TransportSettings)

    def secret_values(self) -> tuple[str, ...]:
        return (self.secret,)

    def token_cache_key(self) -> tuple[str, ...]:
        """Identity of the OAuth credentials: hooks of the same connection share one token."""
        secret_hash = hashlib.sha256(self.secret.encode()).hexdigest()
        return (self.token_url, self.oauth_client_id, self.scope, secret_hash)

    def url(self, template: str, client_id: str, access_token: Any = "") -> str:
        path = template.format(clientId=quote(client_id, safe=""), accessToken=quote(str(access_token), safe=""))
        return f"{self.base_url}/{path.lstrip('/')}"


def _check_template(conn_id: str, name: str, template: str, placeholders: tuple[str, ...]) -> None:
    try:
        template.format(**dict.fromkeys(placeholders, "x"))
    except (KeyError, IndexError, ValueError) as err:
        raise PermanentVendorError(
            f"connection {conn_id!r}: extra {name!r} = {template!r} is not a valid template "
            f"(placeholders: {', '.join('{' + p + '}' for p in placeholders)}): {err!r}",
            vendor=VENDOR,
        ) from None


def settings_from_connection(conn: Connection) -> MyPreferencesSettings:
    """MyPreferences settings from an Airflow connection; a missing or wrong field names itself."""
    extra = connection_extra(conn, VENDOR)

    def problem(message: str) -> PermanentVendorError:
        return PermanentVendorError(f"connection {conn.conn_id!r}: {message}", vendor=VENDOR)

    client_id = str(extra.get("client_id") or "").strip()
    if not client_id:
        raise problem("extra 'client_id' (the MyPreferences account clientId) is required")
    auth_type = str(extra.get("auth_type") or "oauth2").strip().lower()
    if auth_type not in AUTH_TYPES:
        raise problem(f"auth_type must be one of {AUTH_TYPES}, got {auth_type!r}")
    hmac_hash = str(extra.get("hmac_hash") or "sha256").strip().lower()
    if hmac_hash not in HMAC_HASHES:
        raise problem(f"hmac_hash must be one of {HMAC_HASHES}, got {hmac_hash!r}")
    base_url = base_url_of(conn) if conn.host else DEFAULT_BASE_URL
    user_id = str(extra.get("user_id") or "").strip()
    oauth_client_id = token_url = scope = ""
    if auth_type == "oauth2":
        oauth_client_id = str(extra.get("oauth_client_id") or conn.login or "").strip()
        secret = str(extra.get("oauth_client_secret") or conn.password or "")
        if not oauth_client_id or not secret:
            raise problem("oauth2 needs the OAuth client id and secret (login/password or extras)")
        scope = str(extra.get("scope") or "").strip()
        if not scope:
            if not user_id:
                raise problem("oauth2 needs extra 'user_id' (the scope is 'ClientId/UserId') or an explicit 'scope'")
            scope = f"{client_id}/{user_id}"
        token_url = str(extra.get("oauth_endpoint") or DEFAULT_TOKEN_PATH).strip()
        if "://" not in token_url:
            token_url = f"{base_url}/{token_url.lstrip('/')}"
    else:
        user_id = user_id or str(conn.login or "").strip()
        secret = str(extra.get("hmac_secret") or conn.password or "")
        if not user_id or not secret:
            raise problem("hmac needs the MyPreferences user id and secret (login/password or extras)")
    status_path = str(extra.get("status_path") or DEFAULT_STATUS_PATH)
    check_path = str(extra.get("check_path") or DEFAULT_CHECK_PATH)
    string_to_sign = str(extra.get("hmac_string_to_sign") or DEFAULT_STRING_TO_SIGN)
    console_url = extra.get("console_url") or None
    for name, template, placeholders in (
        ("status_path", status_path, PATH_PLACEHOLDERS),
        ("check_path", check_path, PATH_PLACEHOLDERS),
        ("console_url", console_url or "", PATH_PLACEHOLDERS),
        ("hmac_string_to_sign", string_to_sign, SIGNING_PLACEHOLDERS),
    ):
        _check_template(conn.conn_id, name, template, placeholders)
    return MyPreferencesSettings(
        base_url=base_url,
        client_id=client_id,
        auth_type=auth_type,
        user_id=user_id,
        secret=secret,
        oauth_client_id=oauth_client_id,
        token_url=token_url,
        scope=scope,
        status_path=status_path,
        check_path=check_path,
        string_to_sign=string_to_sign,
        hmac_hash=hmac_hash,
        status_table=DEFAULT_STATUS_TABLE.configured(extra),
        console_url=console_url,
        transport=TransportSettings.from_extra(extra),
    )


# ----- PNAUTHINFO3-HMAC signing -------------------------------------------------------------
def utc_now() -> datetime:
    return datetime.now(UTC)


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
    """The ``Authorization`` value of the keyed scheme, signed at ``now()``.

    ``PNAUTHINFO3-HMAC-{HASH} Credential={user_id}/{timestamp} Signature={base64 HMAC}`` where
    the HMAC key is the secret (UTF-8) and the message is ``string_to_sign`` filled in (by
    default ``{client_id}:{user_id}:{timestamp}``; the vendor does not publish it).
    """
    timestamp = now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = string_to_sign.format(
        client_id=client_id, user_id=user_id, timestamp=timestamp, method=method.upper(), path=path
    )
    digest = hmac.new(secret.encode(), message.encode(), hash_name).digest()
    signature = base64.b64encode(digest).decode()
    return f"PNAUTHINFO3-HMAC-{hash_name.upper()} Credential={user_id}/{timestamp} Signature={signature}"


# ----- OAuth2 token cache -------------------------------------------------------------------
TOKEN_CACHE = TokenCache()


def token_request(settings: MyPreferencesSettings) -> HttpRequest:
    credentials = base64.b64encode(f"{settings.oauth_client_id}:{settings.secret}".encode()).decode()
    return HttpRequest(
        "POST",
        settings.token_url,
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        content=urlencode({"grant_type": "client_credentials", "scope": settings.scope}).encode(),
    )


def parse_token_response(response: HttpResponse) -> tuple[str, float]:
    """``(access_token, expires_in)`` from the token endpoint, or a typed error."""
    if response.status in (400, 401, 403):
        message = _error_message(response.body)
        raise AuthenticationError(
            f"HTTP {response.status}: the OAuth2 token endpoint refused the client credentials or scope: {message}",
            vendor=VENDOR,
        )
    raise_for_http_status(VENDOR, response, "the OAuth2 token endpoint")
    data = load_json_object(VENDOR, response.body)
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise VendorPayloadError(f"token response has no access_token: {snippet(response.body)!r}", vendor=VENDOR)
    expires_in = optional_int(VENDOR, data, "expires_in")
    return token, float(expires_in if expires_in is not None else 3600)


def fetch_token_flow(settings: MyPreferencesSettings) -> Flow[str]:
    """Fetch a bearer token and cache it."""
    response: HttpResponse = yield token_request(settings)
    token, expires_in = parse_token_response(response)
    TOKEN_CACHE.put(settings.token_cache_key(), token, expires_in)
    return token


def authorized_flow(
    settings: MyPreferencesSettings, client_id: str, method: str, url: str, **request: Any
) -> Flow[HttpResponse]:
    """Send one API request for ``client_id`` with the connection's auth.

    HMAC: signed afresh. OAuth2: the cached bearer token (fetched when missing); a 401 to a
    cached token drops it, fetches a new one and retries once.
    """
    headers = {"Accept": "application/json", **request.pop("headers", {})}
    if settings.auth_type == "hmac":
        path = "/" + url.split("://", 1)[-1].partition("/")[2]
        headers["Authorization"] = pnauthinfo3_authorization(
            client_id=client_id,
            user_id=settings.user_id,
            secret=settings.secret,
            method=method,
            path=path,
            hash_name=settings.hmac_hash,
            string_to_sign=settings.string_to_sign,
        )
        return (yield HttpRequest(method, url, headers=headers, **request))
    key = settings.token_cache_key()
    token = TOKEN_CACHE.get(key)
    cached = token is not None
    if token is None:
        token = yield from fetch_token_flow(settings)
    response: HttpResponse = yield HttpRequest(
        method, url, headers={**headers, "Authorization": f"Bearer {token}"}, **request
    )
    if response.status == 401 and cached:
        TOKEN_CACHE.discard(key, token)
        token = yield from fetch_token_flow(settings)
        response = yield HttpRequest(method, url, headers={**headers, "Authorization": f"Bearer {token}"}, **request)
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
    """Raise the typed error for a non-2xx answer, naming whether the client id or token is wrong."""
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
            f"HTTP 401: import access token {access_token} is invalid or expired for clientId {client_id!r} "
            f"(tokens expire 12 hours after Initiate): {message}",
            vendor=VENDOR,
        )
    if response.status == 404:
        raise BadRequestError(
            f"HTTP 404: clientId {client_id!r} is not a MyPreferences account (check the connection's client_id): "
            f"{message}",
            vendor=VENDOR,
        )
    raise_for_http_status(
        VENDOR, HttpResponse(response.status, response.headers, message.encode(), response.url), "the import"
    )


# ----- the pure parser --------------------------------------------------------------------------
def bulk_import_fields(body: bytes | str) -> dict[str, Any]:
    """A ``BulkImportStatus`` JSON object, field names matched case-insensitively."""
    data = load_json_object(VENDOR, body)
    return {_CANONICAL.get(str(key).casefold(), key): value for key, value in data.items()}


def _progress(state: ImportState, processed: int | None, valid: int | None) -> int | None:
    if state is ImportState.SUCCEEDED:
        return 100
    if state is ImportState.RUNNING and processed is not None and valid:
        return min(100, processed * 100 // valid)
    return None


def parse_bulk_import_status(
    body: bytes | str, access_token: Any = None, status_table: StatusTable = DEFAULT_STATUS_TABLE
) -> ImportResult:
    """Pure parser: a MyPreferences ``BulkImportStatus`` to the normalized result.

    ``access_token`` (the requested one) names the job when the body carries no ``AccessToken``.
    """
    fields = bulk_import_fields(body)
    token = optional_str(fields, "AccessToken") or (str(access_token) if access_token is not None else None)
    if token is None:
        raise VendorPayloadError(f"BulkImportStatus has no AccessToken: {snippet(str(body))!r}", vendor=VENDOR)
    status = optional_str(fields, "Status")
    valid = optional_int(VENDOR, fields, "ValidationSuccessful")
    processed = optional_int(VENDOR, fields, "Processed")
    exceptions = optional_int(VENDOR, fields, "Exceptions")
    not_honored = optional_int(VENDOR, fields, "NotHonored")

    warnings: list[str] = []
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
            "Expires": optional_str(fields, "Expires"),
            "Name": optional_str(fields, "Name"),
        },
        warnings=warnings,
    )


# ----- flows ------------------------------------------------------------------------------------
def status_flow(settings: MyPreferencesSettings, access_token: Any, client_id: str | None = None) -> Flow[ImportResult]:
    client = client_id or settings.client_id
    response = yield from authorized_flow(
        settings, client, "GET", settings.url(settings.status_path, client, access_token)
    )
    check_response(response, client, access_token)
    return parse_bulk_import_status(response.body, access_token, settings.status_table)


def _initiate_path(status_path: str) -> str:
    head, marker, _ = status_path.partition("/{accessToken}")
    if not marker:
        raise PermanentVendorError(f"status_path {status_path!r} has no '/{{accessToken}}' segment", vendor=VENDOR)
    return head


def start_import_flow(
    settings: MyPreferencesSettings,
    profiles: list[dict[str, Any]],
    name: str,
    client_id: str | None = None,
    data_stage_duration: int = 3,
) -> Flow[str]:
    """Initiate a bulk import, stage ``profiles`` in batches, execute it; return its access token."""
    client = client_id or settings.client_id
    initiate_url = settings.url(_initiate_path(settings.status_path), client)
    body = {"Name": name, "DataStageDuration": data_stage_duration}
    response = yield from authorized_flow(settings, client, "POST", initiate_url, json=body)
    check_response(response, client)
    token = parse_bulk_import_status(response.body, status_table=settings.status_table).job_id
    stage_url = settings.url(settings.status_path, client, token)
    for start in range(0, len(profiles), STAGE_BATCH_SIZE):
        batch = profiles[start : start + STAGE_BATCH_SIZE]
        response = yield from authorized_flow(settings, client, "POST", stage_url, json=batch)
        check_response(response, client, token)
    response = yield from authorized_flow(settings, client, "POST", f"{stage_url}/Execute")
    check_response(response, client, token)
    return token


class MyPreferencesHook(ImportStatusHook[MyPreferencesSettings]):
    """Read PossibleNOW MyPreferences bulk imports.

    Connection: host = ``https://pm.mypreferences.com`` (production, the default) or
    ``https://pmstg.mypreferences.com`` (staging); extra ``client_id`` (the account clientId);
    ``auth_type`` ``oauth2`` (login/password = OAuth client id/secret, extra ``user_id`` for the
    scope; ``oauth_endpoint``, ``scope``) or ``hmac`` (login/password = user id/secret;
    ``hmac_string_to_sign``, ``hmac_hash``); ``status_path``, ``check_path``,
    ``success_statuses``, ``failure_statuses``, ``console_url``, ``timeout``, ``verify_ssl``,
    ``ca_bundle``.
    """

    vendor = VENDOR
    conn_name_attr = "mypreferences_conn_id"
    default_conn_name = "mypreferences_default"
    conn_type = "mypreferences"
    hook_name = "PossibleNOW MyPreferences"

    def __init__(self, mypreferences_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=mypreferences_conn_id, **kwargs)
        self.mypreferences_conn_id = mypreferences_conn_id

    @classmethod
    def parse_connection(cls, conn: Connection) -> MyPreferencesSettings:
        return settings_from_connection(conn)

    @classmethod
    def job_label(cls, job: Mapping[str, Any]) -> str:
        client = f" of clientId {job['client_id']}" if job.get("client_id") else ""
        return f"{job['access_token']}{client}"

    def status_flow(self, settings: MyPreferencesSettings, job: Mapping[str, Any]) -> Flow[ImportResult]:
        return status_flow(settings, job["access_token"], job.get("client_id"))

    def check_flow(self, settings: MyPreferencesSettings) -> Flow[str]:
        response = yield from authorized_flow(
            settings, settings.client_id, "GET", settings.url(settings.check_path, settings.client_id)
        )
        check_response(response, settings.client_id)
        return f"Connected to MyPreferences at {settings.base_url} as clientId {settings.client_id!r}"

    def console_url(self, job: Mapping[str, Any]) -> str | None:
        settings = self.get_settings()
        if not settings.console_url:
            return None
        return settings.console_url.format(
            clientId=job.get("client_id") or settings.client_id, accessToken=job["access_token"]
        )

    def start_import(self, profiles: list[dict[str, Any]], name: str, client_id: str | None = None) -> str:
        """Initiate a bulk import, stage ``profiles`` (BulkUserProfilePreferences) and execute it.

        Returns the import access token to hand to :class:`MyPreferencesImportSensor`.
        """
        settings = self.get_settings()
        return self.run_flow(start_import_flow(settings, profiles, name, client_id), settings)

    def get_import_status(self, access_token: int | str, client_id: str | None = None) -> ImportResult:
        """The normalized status of one bulk import (sync)."""
        return self.poll({"access_token": access_token, "client_id": client_id})

    async def aget_import_status(self, access_token: int | str, client_id: str | None = None) -> ImportResult:
        """The normalized status of one bulk import (async)."""
        return await self.apoll({"access_token": access_token, "client_id": client_id})
