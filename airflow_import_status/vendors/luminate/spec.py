"""Luminate Online address book imports: what the package knows about the vendor, declared once.

Sources: the Client API page *getAddressBookImportJobStatus*
(http://open.convio.com/api/apidoc/reference/methods/getAddressBookImportJobStatus_method.html)
and the vendor's public error-code and ``login`` pages.
Inferred: nothing about the protocol; the mapping of error codes to retry decisions is ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_import_status.result import StatusTable
from airflow_import_status.vendors.spec import (
    ConnectionField,
    ConnectionSchema,
    ImportJob,
    StandardField,
    VendorClasses,
    VendorSpec,
    job_field,
)

API_VERSION = "1.0"
ADDRESS_BOOK_SERVLET = "CRAddressBookAPI"
CONSTITUENT_SERVLET = "CRConsAPI"
STATUS_METHOD = "getAddressBookImportJobStatus"
CONTACTS_METHOD = "getAddressBookImportContacts"
START_METHOD = "startOnlineAddressBookImport"
LOGIN_METHOD = "login"
FORMATS = ("json", "xml")
TOKEN_EXTRAS = {"sso_auth_token": "sso_auth_token", "auth": "auth_token"}
"""API token parameter -> the connection extra holding a fixed token."""

# getAddressBookImportJobStatus: PENDING (in progress), SUCCESS, FAILURE.
STATUS_TABLE = StatusTable(
    running=frozenset({"PENDING"}),
    succeeded=frozenset({"SUCCESS"}),
    failed=frozenset({"FAILURE"}),
)

CREDENTIAL_ERRORS = {
    "2": "incorrect API key",
    "3": "authorization failed",
    "4": "request not allowed from this source IP address",
    "5": "the method requires an auth token",
    "7": "single sign-on failed (sso_auth_token missing or invalid)",
    "904": "no permission for the requested operation",
}
TOKEN_REJECTED_CODES = frozenset({"3", "5", "7"})
"""Codes after which a login token is renewed (once)."""
SITE_CREDENTIAL_CODES = frozenset({"2", "4"})
"""API key and source IP errors: reported as such even when ``login`` is the call refused."""
# The vendor's public error-code pages (Luminate Online API "Error Response Codes"):
# 8 more than one constituent matched; 10 missing fields, on older pages and as "One or
# more required constituent fields are missing" on "Constituent API Error Response Codes".
BAD_REQUEST_ERRORS = {
    "6": "no or invalid method",
    "8": "more than one constituent matched",
    "9": "required parameters missing",
    "10": "required fields missing",
}
UNABLE_TO_PROCESS = "1"
JOB_NOT_FOUND = "907"
JOB_NOT_READY = "908"
CONTACTS_GONE = "909"


@dataclass(frozen=True)
class LuminateJob(ImportJob):
    """One address book import job; ``count_contacts`` unset: the connection's setting."""

    import_job_id: int = job_field(label="import job id", kind=int, job_id=True)
    count_contacts: bool | None = job_field(label="count the contacts on success", kind=bool, optional=True)

    label_format = "{import_job_id}"


CONNECTION = ConnectionSchema(
    standard=(
        StandardField("host", "Site base URL", placeholder="https://secure2.convio.net/myorganization"),
        StandardField("login", "Constituent user name", required=False),
        StandardField("password", "Constituent password", required=False),
    ),
    extras=(
        ConnectionField("api_key", "API key (CONVIO_API_KEY)", secret=True, required=True),
        ConnectionField("sso_auth_token", "Fixed sso_auth_token (instead of login/password)", secret=True),
        ConnectionField("auth_token", "Fixed auth token, sent as 'auth' (instead of login/password)", secret=True),
        ConnectionField("response_format", "Response format", default="json", choices=FORMATS),
        ConnectionField(
            "suppress_response_codes", "Send suppress_response_codes=true (errors come back as HTTP 200)", bool, False
        ),
        ConnectionField(
            "count_contacts", "On success, count the imported contacts (getAddressBookImportContacts)", bool, False
        ),
    ),
)

SPEC: VendorSpec[Any, LuminateJob] = VendorSpec(
    key="luminate",
    display_name="Luminate Online",
    api="Luminate Online Client API getAddressBookImportJobStatus (CRAddressBookAPI, JSON or XML)",
    connection=CONNECTION,
    job_type=LuminateJob,
    status_table=STATUS_TABLE,
    classes=VendorClasses(
        codec="airflow_import_status.vendors.luminate.codec.CODEC",
        hook="airflow_import_status.hooks.luminate.LuminateHook",
        sensor="airflow_import_status.sensors.luminate.LuminateImportSensor",
        simulator="airflow_import_status.simulators.luminate.LuminateSimulator",
    ),
    docs={
        "state": "`jobStatus`: PENDING running, SUCCESS succeeded, FAILURE failed; error 908 pending",
        "total": "number of contacts from getAddressBookImportContacts (only with count_contacts)",
        "message": "the last of `events.event`",
        "details": "events (every event so far)",
        "connection": (
            "host: the site base URL, e.g. `https://secure2.convio.net/{organization}`; extra `api_key`; either "
            "extra `sso_auth_token` (or `auth_token`, sent as `auth`) holding a fixed token, or login/password of a "
            "constituent: the hook calls the Client API `login` method (POST only) and keeps the session "
            "(`token` + `JSESSIONID`) once per process, sending the `JSESSIONID` cookie back with the token, and "
            "logs in again once when Luminate rejects the token (codes 3, 5, 7). Every call is a POST with the API "
            "key, token and credentials in the form body, never in a URL. `response_format` json or xml. "
            "`count_contacts` fetches `getAddressBookImportContacts` after SUCCESS to fill `total`. Error codes "
            "2/3/4/5/7 fail as bad credentials, 6/8/9/10 as bad requests, 907 as job not found, 908 keeps waiting, "
            "1 is retried; HTTP 403 and `suppress_response_codes=true` (HTTP 200) bodies are both handled."
        ),
        "sources": (
            "*getAddressBookImportJobStatus* (Luminate Online Client API, "
            "<http://open.convio.com/api/apidoc/reference/methods/getAddressBookImportJobStatus_method.html>): "
            "parameters, `jobStatus`, events, "
            "error codes 1-9 and 907-909. Blackbaud's *Error Response Codes* and *Constituent API Error Response "
            "Codes* pages: codes 8 and 10. *getSingleSignOnToken*: send `sso_auth_token` as a POST parameter. The "
            "Client API *login* / *loginTest* pages: `login` is POST only and returns `token`, `JSESSIONID` and "
            "`routing_id`. **Inferred**: the login error codes the simulator uses, the JSON shape of "
            "`getAddressBookImportContacts`, `test_connection` as the status of job 0 (907 proves the key and "
            "token). The status answer echoes no job id, so there is none to compare."
        ),
        "rejected_records": (
            "Not listed. Checked (2026-12): the Luminate Online Client API's CRAddressBookAPI pages "
            "(http://open.convio.com/api/apidoc/reference/methods/): `getAddressBookImportJobStatus` carries a "
            "status and events, `getAddressBookImportContacts` lists the contacts a succeeded job downloaded (not "
            "the refused ones); only `importAddressBookContacts`, a separate synchronous call, answers the contacts "
            "it could not add. No call lists the records an import job refused: the file stays empty."
        ),
    },
)
