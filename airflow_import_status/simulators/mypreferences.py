"""PossibleNOW MyPreferences bulk import (``/Profiles/Async/...``), faithful to its documentation pages.

- ``POST Profiles/Async/{clientId}/Import`` {"Name", "DataStageDuration"} initiates an import
  and answers a ``BulkImportStatus`` with its integer ``AccessToken`` (path inferred);
- ``POST Profiles/Async/{clientId}/Import/{accessToken}`` stages a JSON array of profile
  records (path inferred; may be called many times);
- ``POST Profiles/Async/{clientId}/Import/{accessToken}/Execute`` executes it (documented);
- ``GET Profiles/Async/{clientId}/Import/{accessToken}`` is the status (path inferred);
- ``GET Profiles/v4/{clientId}/Programs`` lists programs (the auth docs' example call).

Auth on every API call, as documented: a bearer token from ``POST Profiles/oauth/token``
(client credentials in a Basic header or the form body, scope ``ClientId/UserId``; token path
inferred) or ``PNAUTHINFO3-HMAC-SHA256 Credential={userId}/{timestamp} Signature=...``
(valid 15 minutes, no future timestamps; the whole signature over
``{clientId}:{userId}:{timestamp}`` is checked, the timestamp exactly as the header carries it,
milliseconds included). Refused credentials get 401 with ``WWW-Authenticate`` and a JSON
``{"Message"}``; an unknown clientId gets 404; an unknown or expired import access token
gets 401 *without* a challenge (inferred: the docs only say "401"); an import access token
lives six hours from Initiate (its ``Expires``), then every call with it gets that 401.

Staging verifies what the vendor's pages say it does: a JSON body (415 otherwise) of at most
25 MB (413; the "Import" page), a "Collection of BulkUserProfilePreferences" (the Stage page;
``{"UserProfiles": [...]}`` is accepted too, inferred from the newer page), at most about 10
million records per import (the "Import" page), only before Execute (400 after), and keeps
*counters*, never the valid records (a million-row upload streams through in constant memory);
the refused ones are kept aside, at most :data:`MAX_KEPT_EXCEPTIONS` per import, for *Retrieve
exceptions* (``GET .../Import/{accessToken}/Exceptions``, path inferred: ``limit``, 1-based
``offset``, ``Count``/``HasMore``; a stale access token gets the 401).

**Simulator-only**: a staged record is valid (ValidationSuccessful, else ValidationFailed) when
it is an object identifying someone (a ProfileId, Emails, PhoneNumbers or AlternateIds), its
ProfileId (if any) an integer, every ``Emails`` entry an ``EmailAddress`` of 1..256 characters
shaped like ``local@domain.tld`` ("BulkEmailPreference"), every ``PhoneNumbers`` entry a
``PhoneNumber`` of digits (``+``, spaces, dashes, dots, parentheses allowed). Execute processes
every valid record (Processed = ValidationSuccessful; Exceptions and NotHonored stay 0, as the
pages say they do while staging, unless a scripted job sets them). Scripted jobs take
``params`` ``{"client_id"}`` and final counters ``{"total", "valid", "invalid", "processed",
"exceptions", "not_honored"}``; ``expires_in_seconds`` makes a scripted job's access token
expire that soon.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from airflow_import_status.simulators.core import (
    SAMPLE_JOB_ID,
    SimJob,
    SimulatorState,
    VendorSimulator,
    default_script,
)

CLIENT_ID = "SimAssociates"
USER_ID = "sim.user"
HMAC_SECRET = "mypreferences-sim-hmac-secret"
OAUTH_CLIENT_ID = "mypreferences-sim-oauth-client"
OAUTH_CLIENT_SECRET = "mypreferences-sim-oauth-secret"
TOKEN_LIFETIME_SECONDS = 3600
SIGNATURE_LIFETIME = timedelta(minutes=15)
CLOCK_SKEW = timedelta(seconds=60)
IMPORT_TOKEN_LIFETIME = timedelta(hours=6)  # the vendor's Initiate page; another page says 12
STATUS_BY_STATE = {"pending": "Queued", "running": "Processing", "succeeded": "Completed", "failed": "Failed"}
REALM = 'PNAUTHINFO3 realm="https://pm.mypreferences.com"'
_HMAC_HEADER = re.compile(
    r"^PNAUTHINFO3-HMAC-(?P<hash>SHA256|SHA384|SHA512)\s+Credential=(?P<user>[^/\s]+)/(?P<ts>\S+)\s+"
    r"Signature=(?P<signature>\S+)$",
    re.IGNORECASE,
)


def _denied(message: str, challenge: str = REALM) -> JSONResponse:
    return JSONResponse({"Message": message}, status_code=401, headers={"WWW-Authenticate": challenge})


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{3,30}$")
MAX_STAGE_BYTES = 25 * 1024 * 1024  # the "Import" page: 25 MB per staging POST by default
MAX_RECORDS_PER_IMPORT = 10_000_000  # the "Import" page: "approximately 10 million records"
IMPORT_TYPES = ("Add", "Delete")  # the "Initiate" page


def _entries(record: dict[str, Any], name: str) -> list[Any] | None:
    """``record[name]`` as a list (``[]`` if absent), ``None`` if it is not one."""
    value = record.get(name, [])
    return value if isinstance(value, list) else None


def _record_problem(record: Any) -> str | None:
    """The simulator's stand-in for the vendor's staging validation (see the module docstring): why it fails."""
    if not isinstance(record, dict):
        return "The record is not a BulkUserProfilePreference."
    emails, phones, alternate_ids = (_entries(record, name) for name in ("Emails", "PhoneNumbers", "AlternateIds"))
    if emails is None or phones is None or alternate_ids is None:
        return "Emails, PhoneNumbers and AlternateIds must be collections."
    profile_id = record.get("ProfileId")
    if profile_id is not None and (isinstance(profile_id, bool) or not isinstance(profile_id, int)):
        return "ProfileId must be an integer."
    if profile_id is None and not (emails or phones or alternate_ids):
        return "The record identifies no profile."
    for email in emails:
        address = email.get("EmailAddress") if isinstance(email, dict) else None
        if not isinstance(address, str) or len(address) > 256 or not _EMAIL.match(address):
            return "The email address does not match the account's RegEx."
    for phone in phones:
        number = phone.get("PhoneNumber") if isinstance(phone, dict) else None
        if not isinstance(number, str) or not _PHONE.match(number.strip()):
            return "The phone number is not valid."
    return None


MAX_KEPT_EXCEPTIONS = 100_000
"""Refused staged records the simulator keeps for *Retrieve exceptions* (further ones are counted only)."""
SCRIPTED_EXCEPTION = "Exception during import execution."
"""The reason of a scripted job's listed records (made up from its counters: it staged no records)."""


class MyPreferencesSimulator(VendorSimulator):
    name = "mypreferences"
    conn_id = "mypreferences_default"
    secrets = (OAUTH_CLIENT_SECRET, HMAC_SECRET)
    bad_credentials = {"password": "wrong-mypreferences-secret"}
    status_request = {"method": "GET", "path_contains": "/Import/"}
    upload_request = {"method": "POST", "path_contains": "/Import/"}  # stage (Execute comes after the batches)
    start_request = {"method": "POST", "path_contains": "/Execute"}
    contact_mapping = {
        "email": "EmailAddress",
        "first_name": "FirstName",
        "last_name": "LastName",
        "phone": "PhoneNumber",
    }
    not_found_requests = 2
    """An unknown import gets a 401: the bearer token is re-fetched once before it counts as not found."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bearer_tokens: dict[str, float] = {}
        self.refused: dict[str, tuple[SimJob, list[Any]]] = {}
        """Per access token: the import and the records its staging refused (for *Retrieve exceptions*)."""

    @classmethod
    def sample_status(cls) -> bytes:
        step = {"state": "succeeded", "progress": 100, "counters": {"total": 12, "valid": 10, "invalid": 2}}
        job = SimJob(cls.name, SAMPLE_JOB_ID, [step], data={"Expires": "2026-03-02T06:15:00+00:00"})
        return json.dumps(cls(SimulatorState()).bulk_import_status(job, step), default=str).encode()

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        return {
            "conn_type": "mypreferences",
            "host": f"{base_url}/mypreferences",
            "login": OAUTH_CLIENT_ID,
            "password": OAUTH_CLIENT_SECRET,
            "extra": {"client_id": CLIENT_ID, "user_id": USER_ID, "auth_type": "oauth2"},
        }

    def routes(self) -> list[BaseRoute]:
        base = "/Profiles/Async/{client_id}/Import"
        return [
            Route("/Profiles/oauth/token", self.issue_token, methods=["POST"]),
            Route("/Profiles/v4/{client_id}/Programs", self.list_programs, methods=["GET"]),
            Route(base, self.initiate, methods=["POST"]),
            Route(base + "/{access_token}", self.status, methods=["GET"]),
            Route(base + "/{access_token}", self.stage, methods=["POST"]),
            Route(base + "/{access_token}/Execute", self.execute, methods=["POST"]),
            Route(base + "/{access_token}/Exceptions", self.exceptions, methods=["GET"]),
        ]

    # ----- auth ---------------------------------------------------------------------------
    async def issue_token(self, request: Request) -> Response:
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode()).items()}
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = client_secret = ""
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if not (
            hmac.compare_digest(client_id, OAUTH_CLIENT_ID) and hmac.compare_digest(client_secret, OAUTH_CLIENT_SECRET)
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client authentication failed."},
                status_code=401,
                headers={"WWW-Authenticate": "Basic"},
            )
        scope_client, _, scope_user = form.get("scope", "").partition("/")
        if scope_client not in self._clients() or scope_user != USER_ID:
            return JSONResponse(
                {"error": "invalid_scope", "error_description": "The scope must be 'ClientId/UserId'."},
                status_code=400,
            )
        token = secrets.token_urlsafe(24)
        self.bearer_tokens[token] = time.time() + TOKEN_LIFETIME_SECONDS
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECONDS})

    def _refused(self, request: Request) -> Response | None:
        """The 401 for a request whose credentials are missing or wrong, else ``None``."""
        header = request.headers.get("authorization", "").strip()
        if not header:
            return _denied("Missing Authorization Header")
        if header.lower().startswith("bearer "):
            expires = self.bearer_tokens.get(header[7:].strip())
            if expires is None or expires <= time.time():
                return _denied("Authorization has been denied for this request.", 'Bearer error="invalid_token"')
            return None
        match = _HMAC_HEADER.match(header)
        if match is None:
            return _denied("The scheme is invalid")
        try:
            issued = datetime.fromisoformat(match["ts"].replace("Z", "+00:00"))
        except ValueError:
            return _denied("The specified date does not match an expected ISO 8601 format")
        issued = issued if issued.tzinfo else issued.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        if issued > now + CLOCK_SKEW:
            return _denied("The specified date does not match an expected ISO 8601 format")
        if now - issued > SIGNATURE_LIFETIME:
            return _denied("The difference between the issued timestamp and the current time is too large")
        message = f"{request.path_params['client_id']}:{match['user']}:{match['ts']}"
        digest = hmac.new(HMAC_SECRET.encode(), message.encode(), getattr(hashlib, match["hash"].lower())).digest()
        if match["user"] != USER_ID or not hmac.compare_digest(base64.b64encode(digest).decode(), match["signature"]):
            return _denied("Unable to authenticate request")
        return None

    def _clients(self) -> set[str]:
        return {CLIENT_ID} | {
            str(job.params.get("client_id", CLIENT_ID)) for job in self.state.jobs[self.name].values()
        }

    def _unknown_client(self, request: Request) -> Response | None:
        client_id = request.path_params["client_id"]
        if client_id in self._clients():
            return None
        return JSONResponse({"Message": f"Client '{client_id}' was not found."}, status_code=404)

    def create_job(self, spec: dict[str, Any]) -> SimJob:
        job = super().create_job(spec)
        lifetime = float(spec.get("expires_in_seconds", IMPORT_TOKEN_LIFETIME.total_seconds()))
        job.data["Expires"] = (datetime.now(UTC) + timedelta(seconds=lifetime)).isoformat()
        return job

    def _job_of(self, request: Request) -> SimJob | None:
        """The import the path names, unless it belongs to another clientId or its access token expired."""
        job = self.find_job(request.path_params["access_token"])
        if job is None or str(job.params.get("client_id", CLIENT_ID)) != request.path_params["client_id"]:
            return None
        if datetime.now(UTC) >= datetime.fromisoformat(job.data["Expires"]):
            return None
        return job

    @staticmethod
    def _bad_token() -> JSONResponse:
        return JSONResponse({"Message": "The access token is invalid or has expired."}, status_code=401)

    def _guard(self, request: Request) -> Response | None:
        return self._refused(request) or self._unknown_client(request)

    # ----- API ----------------------------------------------------------------------------
    async def list_programs(self, request: Request) -> Response:
        if (refusal := self._guard(request)) is not None:
            return refusal
        return JSONResponse([{"ProgramId": 1, "Name": "Default", "IsActive": True}])

    async def initiate(self, request: Request) -> Response:
        if (refusal := self._guard(request)) is not None:
            return refusal
        body = await request.json()
        if not isinstance(body, dict) or not str(body.get("Name") or "").strip():
            return JSONResponse({"Message": "The request is invalid: Name is required."}, status_code=400)
        duration = body.get("DataStageDuration", 3)
        if not isinstance(duration, int) or not 0 <= duration <= 10:
            return JSONResponse({"Message": "DataStageDuration must be between 0 and 10."}, status_code=400)
        if body.get("ImportType", "Add") not in IMPORT_TYPES:
            return JSONResponse({"Message": "ImportType must be 'Add' or 'Delete'."}, status_code=400)
        if body.get("MatchCriteria") not in (None, "AlternateIdType") or (
            body.get("MatchCriteria") and not body.get("MatchValue")
        ):
            return JSONResponse(
                {"Message": "MatchCriteria must be 'AlternateIdType', with a MatchValue."}, status_code=400
            )
        job = self.create_job({"params": {"client_id": request.path_params["client_id"]}, "started": False})
        job.data.update(Name=body["Name"], DataStageDuration=duration, received=0, valid=0, invalid=0, stagings=0)
        self.refused[job.job_id] = (job, [])
        return JSONResponse(self.bulk_import_status(job, job.step()))

    async def stage(self, request: Request) -> Response:
        if (refusal := self._guard(request)) is not None:
            return refusal
        job = self._job_of(request)
        if job is None:
            return self._bad_token()
        if job.started:
            return JSONResponse({"Message": "The import has already been executed."}, status_code=400)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in ("application/json", "text/json"):
            return JSONResponse({"Message": "The request entity's media type is not supported."}, status_code=415)
        raw = await request.body()
        if len(raw) > MAX_STAGE_BYTES:
            return JSONResponse({"Message": "The request exceeds the maximum payload size."}, status_code=413)
        try:
            records = json.loads(raw)
        except ValueError:
            return JSONResponse({"Message": "The request is invalid: the body is not JSON."}, status_code=400)
        if isinstance(records, dict) and isinstance(records.get("UserProfiles"), list):
            records = records["UserProfiles"]
        if not isinstance(records, list) or not records:
            return JSONResponse(
                {"Message": "The request is invalid: send a collection of BulkUserProfilePreferences."}, status_code=400
            )
        if job.data["received"] + len(records) > MAX_RECORDS_PER_IMPORT:
            return JSONResponse({"Message": "The import exceeds the maximum number of records."}, status_code=400)
        valid = 0
        refused = self._refused_records(job)
        for record in records:
            problem = _record_problem(record)
            if problem is None:
                valid += 1
            elif refused is not None and len(refused) < MAX_KEPT_EXCEPTIONS:
                refused.append({**record, "ExceptionMessage": problem} if isinstance(record, dict) else record)
        job.data["received"] += len(records)
        job.data["valid"] += valid
        job.data["invalid"] += len(records) - valid
        job.data["stagings"] += 1
        return JSONResponse(self.bulk_import_status(job, job.step()))

    async def execute(self, request: Request) -> Response:
        if (refusal := self._guard(request)) is not None:
            return refusal
        job = self._job_of(request)
        if job is None:
            return self._bad_token()
        if job.started:
            return JSONResponse({"Message": "The import has already been executed."}, status_code=400)
        valid = job.data["valid"]
        job.script = default_script(
            {"total": job.data["received"], "valid": valid, "invalid": job.data["invalid"], "processed": valid}
        )
        job.started = True
        return JSONResponse(self.bulk_import_status(job, job.step()))

    async def status(self, request: Request) -> Response:
        if (refusal := self._guard(request)) is not None:
            return refusal
        if self._job_of(request) is None:
            return self._bad_token()
        job, step = self.poll_job(request.path_params["access_token"])
        if job is None:
            return self._bad_token()
        return JSONResponse(self.bulk_import_status(job, step))

    async def exceptions(self, request: Request) -> Response:
        """*Retrieve exceptions*: ``limit`` (default 1000) records from the 1-based ``offset`` (default 1).

        A staged import lists the records its staging refused, with the reason; a scripted one
        (no records staged) lists made-up records, one per invalid and exception counted.
        ``TotalResults`` as the page words it: the records returned, at most ``limit``.
        """
        if (refusal := self._guard(request)) is not None:
            return refusal
        job = self._job_of(request)
        if job is None:
            return self._bad_token()
        try:
            limit = int(request.query_params.get("limit", 1000))
            offset = int(request.query_params.get("offset", 1))
        except ValueError:
            return JSONResponse({"Message": "limit and offset must be integers."}, status_code=400)
        if limit < 1 or offset < 1:
            return JSONResponse({"Message": "limit and offset must be at least 1."}, status_code=400)
        kept = self._refused_records(job)
        if kept is not None:
            total = len(kept)
            page = kept[offset - 1 : offset - 1 + limit]
        else:
            counters = self._final_counters(job)
            total = counters["invalid"] + counters["exceptions"]
            page = [_scripted_exception(n) for n in range(offset, min(total, offset - 1 + limit) + 1)]
        return JSONResponse(
            {
                "Count": len(page),
                "HasMore": offset - 1 + len(page) < total,
                "Limit": limit,
                "Offset": offset,
                "TotalResults": len(page),
                "Exceptions": page,
            }
        )

    def _refused_records(self, job: SimJob) -> list[Any] | None:
        """The records ``job``'s staging refused; ``None`` for a scripted job (or an older one with its id)."""
        entry = self.refused.get(job.job_id)
        return entry[1] if entry is not None and entry[0] is job else None

    # ----- rendering ----------------------------------------------------------------------
    def bulk_import_status(self, job: SimJob, step: dict[str, Any]) -> dict[str, Any]:
        """Render a scripted step as MyPreferences' ``BulkImportStatus``."""
        counters = self._final_counters(job)
        processed = exceptions = not_honored = 0
        if step.get("not_started"):
            status = "Staging" if job.data.get("received") else "Initiated"
        else:
            status = STATUS_BY_STATE[step["state"]]
            scale = {"pending": 0.0, "failed": 0.0, "succeeded": 1.0}.get(step["state"], step.get("progress", 0) / 100)
            processed = int(counters["processed"] * scale)
            exceptions = int(counters["exceptions"] * scale)
            not_honored = int(counters["not_honored"] * scale)
        payload = {
            "TotalRecordsReceived": counters["total"],
            "ValidationSuccessful": counters["valid"],
            "ValidationFailed": counters["invalid"],
            "Processed": processed,
            "Pending": max(0, counters["valid"] - processed - exceptions - not_honored),
            "Exceptions": exceptions,
            "NotHonored": not_honored,
            "AccessToken": int(job.job_id),
            "Status": step.get("vendor_status") or status,
            "Expires": job.data["Expires"],
            "Name": job.data.get("Name", f"Import {job.job_id}"),
            "DataStageDuration": job.data.get("DataStageDuration", 3),
            "MatchCriteria": None,
            "MatchValue": None,
            "RefreshAlternateIds": False,
            "RefreshContacts": False,
            "RefreshCustomFields": False,
            "RefreshGroups": False,
            "RefreshTags": False,
        }
        payload.update(step.get("fields") or {})
        return payload

    @staticmethod
    def _final_counters(job: SimJob) -> dict[str, int]:
        raw: dict[str, Any] = {}
        for step in reversed(job.script):
            if step.get("counters"):
                raw = step["counters"]
                break
        processed = int(raw.get("processed", job.data.get("valid", 0)))
        exceptions = int(raw.get("exceptions", 0))
        not_honored = int(raw.get("not_honored", 0))
        valid = int(raw.get("valid", job.data.get("valid", processed + exceptions + not_honored)))
        invalid = int(raw.get("invalid", job.data.get("invalid", 0)))
        total = int(raw.get("total", job.data.get("received", valid + invalid)))
        return {
            "total": total,
            "valid": valid,
            "invalid": invalid,
            "processed": processed,
            "exceptions": exceptions,
            "not_honored": not_honored,
        }


def _scripted_exception(number: int) -> dict[str, Any]:
    """The ``number``-th (1-based) made-up exception record of a scripted job."""
    return {
        "ProfileId": 900_000_000 + number,
        "Emails": [{"EmailAddress": f"refused.{number}@example.invalid", "IsDefault": True}],
        "ExceptionMessage": SCRIPTED_EXCEPTION,
    }
