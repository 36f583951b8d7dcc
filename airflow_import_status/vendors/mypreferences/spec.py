"""PossibleNOW MyPreferences bulk import: what the package knows about the vendor, declared once.

Sources: the vendor's "Retrieve status" page (https://docs.possiblenow.com/integration-api/import/retrieve-status),
its auth and Initiate pages, and a public client's test vector.
Known: hosts ``pm``/``pmstg.mypreferences.com``, paths under ``/Profiles/``, ``clientId`` (404 if
invalid), the integer import ``accessToken`` (401 if invalid), ``POST .../Import/{accessToken}/Execute``,
the ``BulkImportStatus`` fields and statuses, OAuth2 client credentials (scope ``ClientId/UserId``)
or the signed ``PNAUTHINFO3`` header. Inferred (configurable on the connection): the status,
initiate and staging paths, the OAuth2 token URL.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_import_status.result import StatusTable
from airflow_import_status.vendors.spec import (
    ConnectionField,
    ConnectionSchema,
    ImportJob,
    ListDataset,
    StandardField,
    VendorClasses,
    VendorSpec,
    job_field,
    status_fields,
)

DEFAULT_BASE_URL = "https://pm.mypreferences.com"  # "Retrieve status": production (staging: pmstg)
DEFAULT_STATUS_PATH = "Profiles/Async/{clientId}/Import/{accessToken}"  # inferred from the Execute path
DEFAULT_EXCEPTIONS_PATH = "Profiles/Async/{clientId}/Import/{accessToken}/Exceptions"
"""*Retrieve exceptions* shows no path: inferred from the status and Execute paths (configurable)."""
DEFAULT_TOKEN_PATH = "Profiles/oauth/token"  # inferred: no OAuth2 token URL is published
DEFAULT_CHECK_PATH = "Profiles/v4/{clientId}/Programs"  # the vendor's auth page example call
DEFAULT_STRING_TO_SIGN = "{client_id}:{user_id}:{timestamp}"  # a public client's test vector
PATH_PLACEHOLDERS = ("clientId", "accessToken")
SIGNING_PLACEHOLDERS = ("client_id", "user_id", "timestamp", "method", "path")
AUTH_TYPES = ("oauth2", "hmac")
HMAC_HASHES = ("sha256", "sha384", "sha512")  # the vendor's auth page: SHA-384/512 variants exist
DEFAULT_ACCESS_TOKEN_LIFETIME_HOURS = 6.0
"""The Initiate page: an import access token lives six hours ("Retrieve status" says 12: configurable)."""

# "Retrieve status": Initiated, Staging, Queued, Processing, Completed ("Complete" on some pages), Failed.
STATUS_TABLE = StatusTable(
    pending=frozenset({"Initiated", "Staging", "Queued"}),
    running=frozenset({"Processing"}),
    succeeded=frozenset({"Completed", "Complete"}),
    failed=frozenset({"Failed"}),
)
NOT_EXECUTED_STATUSES = frozenset({"initiated", "staging"})
"""Defined but not executed yet: waiting on the caller's Execute, not on the vendor."""


@dataclass(frozen=True)
class MyPreferencesJob(ImportJob):
    """One bulk import: its access token (from InitiateBulkImport) and, optionally, its clientId."""

    access_token: int = job_field(label="import access token", kind=int, job_id=True)
    client_id: str | None = job_field(label="MyPreferences clientId (default: the connection's)", optional=True)

    label_format = "{access_token}"

    def describe(self) -> str:
        return f"{self.access_token} of clientId {self.client_id}" if self.client_id else str(self.access_token)


def _template(placeholders: tuple[str, ...]) -> Callable[[str], None]:
    """A validator: ``value`` uses no placeholder but ``placeholders``."""

    def validate(value: str) -> None:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        unknown = names - set(placeholders)
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; use {', '.join(placeholders)}")

    return validate


def _status_path(value: str) -> None:
    _template(PATH_PLACEHOLDERS)(value)
    if "/{accessToken}" not in value:
        raise ValueError("needs a '/{accessToken}' segment (the initiate path is the part before it)")


CONNECTION = ConnectionSchema(
    standard=(
        StandardField(
            "host",
            "API host",
            placeholder=f"{DEFAULT_BASE_URL} (staging: https://pmstg.mypreferences.com)",
            required=False,
        ),
        StandardField("login", "OAuth2 client id / HMAC user id", required=False),
        StandardField("password", "OAuth2 client secret / HMAC secret", required=False),
    ),
    extras=(
        ConnectionField("client_id", "MyPreferences clientId (account)", required=True),
        ConnectionField("auth_type", "Auth scheme", default="oauth2", choices=AUTH_TYPES),
        ConnectionField("user_id", "MyPreferences user id (OAuth2 scope ClientId/UserId; HMAC: defaults to login)"),
        ConnectionField("oauth_client_id", "OAuth2 client id (default: login)"),
        ConnectionField("oauth_client_secret", "OAuth2 client secret (default: password)", secret=True),
        ConnectionField("hmac_secret", "HMAC secret (default: password)", secret=True),
        ConnectionField(
            "oauth_endpoint",
            "OAuth2 token URL (absolute or relative to the host, inferred)",
            default=DEFAULT_TOKEN_PATH,
            description="MyPreferences publishes no token URL; this default is a guess.",
        ),
        ConnectionField("scope", "OAuth2 scope (default ClientId/UserId)"),
        ConnectionField(
            "status_path", "Status path template (inferred)", default=DEFAULT_STATUS_PATH, validate=_status_path
        ),
        ConnectionField(
            "exceptions_path",
            "Retrieve exceptions path template (inferred)",
            default=DEFAULT_EXCEPTIONS_PATH,
            validate=_template(PATH_PLACEHOLDERS),
            description="The page lists the refused records of an import but shows no path; this default is a guess.",
        ),
        ConnectionField(
            "check_path",
            "Connection test path template",
            default=DEFAULT_CHECK_PATH,
            validate=_template(PATH_PLACEHOLDERS),
        ),
        ConnectionField(
            "hmac_string_to_sign",
            "HMAC string to sign",
            default=DEFAULT_STRING_TO_SIGN,
            validate=_template(SIGNING_PLACEHOLDERS),
        ),
        ConnectionField("hmac_hash", "HMAC hash", default="sha256", choices=HMAC_HASHES),
        ConnectionField(
            "import_lifetime_hours",
            "Import access token lifetime (hours)",
            float,
            DEFAULT_ACCESS_TOKEN_LIFETIME_HOURS,
            minimum=0.001,
            description="After an import's Expires (or polling it this long), a 401 means its access token "
            "expired: the sensor fails at once instead of waiting for the import to appear.",
        ),
        *status_fields("MyPreferences Status"),
        ConnectionField(
            "console_url", "Console URL template ({clientId}, {accessToken})", validate=_template(PATH_PLACEHOLDERS)
        ),
    ),
)

SPEC: VendorSpec[Any, MyPreferencesJob] = VendorSpec(
    key="mypreferences",
    display_name="PossibleNOW MyPreferences",
    api="MyPreferences bulk import BulkImportStatus (REST, JSON; OAuth2 or PNAUTHINFO3 HMAC)",
    connection=CONNECTION,
    job_type=MyPreferencesJob,
    status_table=STATUS_TABLE,
    classes=VendorClasses(
        codec="airflow_import_status.vendors.mypreferences.codec.CODEC",
        hook="airflow_import_status.hooks.mypreferences.MyPreferencesHook",
        sensor="airflow_import_status.sensors.mypreferences.MyPreferencesImportSensor",
        simulator="airflow_import_status.simulators.mypreferences.MyPreferencesSimulator",
        operator="airflow_import_status.operators.mypreferences.MyPreferencesImportOperator",
    ),
    dataset=ListDataset(("client/{client_id}/profiles",), default_host=DEFAULT_BASE_URL),
    docs={
        "state": "`Status` via a configurable table (Initiated/Staging/Queued pending, Processing running, "
        "Completed/Complete succeeded, Failed failed)",
        "total": "TotalRecordsReceived",
        "imported": "Processed",
        "invalid": "ValidationFailed",
        "failed": "Exceptions + NotHonored",
        "progress": "Processed / ValidationSuccessful while Processing; 100 when Completed",
        "details": "Exceptions, NotHonored, Pending, ValidationSuccessful, Expires, Name; `job_id` = AccessToken",
        "connection": (
            "host: `https://pm.mypreferences.com` (production) or `https://pmstg.mypreferences.com` (staging); "
            "extra `client_id` (the account's clientId; the sensor's `client_id` overrides it). Auth, by extra "
            "`auth_type`: `oauth2` (login/password = OAuth client id/secret, scope `ClientId/UserId` from extra "
            "`user_id` or `scope`, token URL extra `oauth_endpoint`, inferred: none is published; one bearer token "
            "per connection and process, fetched once whoever asks, until it expires, and fetched anew once on a "
            "401) or `hmac` (`PNAUTHINFO3-HMAC-SHA256 Credential={userId}/{timestamp} Signature=...`, a fresh UTC "
            "timestamp with milliseconds per request, valid 15 minutes; the signed string "
            "`{clientId}:{userId}:{timestamp}` is configurable with `hmac_string_to_sign`, the hash with "
            "`hmac_hash`). The status path is configurable (`status_path`). A 401 carrying a `WWW-Authenticate` "
            "challenge is refused credentials; a 401 without one an unknown import access token (inferred): the "
            "not-found grace applies, unless the import's `Expires` has passed (or it was polled longer than an "
            "access token lives, extra `import_lifetime_hours`, default 6): then the token expired and the sensor "
            "fails at once."
        ),
        "sources": (
            "*Retrieve status* "
            "(<https://docs.possiblenow.com/integration-api/import/retrieve-status>): "
            "the statuses, the `BulkImportStatus` fields, "
            "errors 400/401/403/404/500 and the echoed `AccessToken`. The vendor's *Initiate* page: "
            "the access token lives six hours (another page says 12: configurable). A public client's test vector: "
            "PNAUTHINFO3's string to sign, base64 HMAC-SHA256, timestamps with milliseconds, valid "
            "15 minutes. Known: `POST Async/{clientId}/Import/{accessToken}/Execute`. **Inferred**: the status path "
            "`Profiles/Async/{clientId}/Import/{accessToken}`, the initiate and stage paths derived from it, the "
            "OAuth token URL, `Expires` without an offset read as UTC."
        ),
        "rejected_records": (
            "Listed: *Retrieve exceptions* (MyPreferences Import API, "
            "https://docs.possiblenow.com/integration-api/import/retrieve-exceptions) lists the records that hit "
            "exceptions during staging or execution, for one import's access token (a 401 once it is invalid), "
            "paged with `limit` (default 1,000) and a 1-based `offset`; the answer carries `Count`, `HasMore`, "
            "`Limit`, `Offset`, `TotalResults` and the collection of BulkUserProfilePreferenceExceptions. "
            "**Inferred**: the path (`exceptions_path`, default "
            "`Profiles/Async/{clientId}/Import/{accessToken}/Exceptions`), the collection's attribute name (the "
            "first list among `Exceptions`, `BulkUserProfilePreferenceExceptions`, `Records`, `UserProfiles`) "
            "and the reason fields (`ExceptionCode`/`ErrorCode`/`Code` and "
            "`ExceptionMessage`/`ErrorMessage`/`Message`/`Exception`/`Reason`). The key is the record's first "
            "email address, else its ProfileId, else its first phone number. The listing works while the "
            "import's access token lives (six hours from Initiate): a 401 then stops it with a clear error."
        ),
    },
)
