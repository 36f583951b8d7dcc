"""Luminate Online's Client API for address book imports, faithful to its documentation pages.

Served under ``/luminate/{organization}/site/``:

- ``CRConsAPI?method=login`` (POST only): ``user_name``/``password`` of the constituent
  :data:`USER_NAME`/:data:`PASSWORD` give a fresh session token (``loginResponse``);
- ``CRAddressBookAPI`` (GET or POST) with ``method=``:
  ``startOnlineAddressBookImport`` (``import_source`` GOOGLE|YAHOO, ``callback_url``) creates a
  job of :data:`ADDRESS_BOOK_SIZE` contacts and returns ``jobId`` and ``oauthUrl``; the
  simulated constituent grants access at once, so the job progresses with each status poll;
  ``getAddressBookImportJobStatus`` renders the job's script (PENDING with events
  accumulating, then SUCCESS or FAILURE); ``getAddressBookImportContacts`` lists the contacts
  (908 until SUCCESS, 909 when the job's params say ``contacts_expired``).

Every call checks ``api_key`` (code 2), ``v`` (code 9) and, for the address book, a token:
none (5), an unknown ``sso_auth_token`` (7) or ``auth`` (3); a login token only together with
its session's ``JSESSIONID`` cookie (7 otherwise). Each request's query string is added to the
request log (``query``), so tests can prove no credential travels in a URL. Valid tokens are those issued by
``login`` plus the fixed :data:`SSO_AUTH_TOKEN` and :data:`AUTH_TOKEN`. Errors are
``errorResponse`` bodies with HTTP 403, or 200 with ``suppress_response_codes=true``;
``response_format`` defaults to xml, as on the real servlets. A script step can force an
error answer with ``{"fields": {"error_code": "908"}}`` and set its own ``{"fields": {"events": [...]}}``.
"""

from __future__ import annotations

import secrets
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from airflow_import_status.simulators.core import SAMPLE_JOB_ID, SimJob, SimulatorState, VendorSimulator

ORGANIZATION = "simorg"
API_KEY = "luminate-sim-key"
USER_NAME = "import-bot"
PASSWORD = "luminate-sim-password"
SSO_AUTH_TOKEN = "luminate-sim-sso-token"
AUTH_TOKEN = "luminate-sim-s86-token"
CONS_ID = "1001641"
ADDRESS_BOOK_SIZE = 12
NAMESPACE = "http://convio.com/crm/v1.0"
STATUS_BY_STATE = {"pending": "PENDING", "running": "PENDING", "succeeded": "SUCCESS", "failed": "FAILURE"}
OAUTH_URLS = {
    "GOOGLE": "https://accounts.google.com/o/oauth2/auth?response_type=code&state={job_id}",
    "YAHOO": "https://api.login.yahoo.com/oauth2/request_auth?response_type=code&state={job_id}",
}
ERROR_MESSAGES = {
    "1": "Unable to process request.",
    "2": "Incorrect API key.",
    "3": "Authorization failed.",
    "5": "Method is restricted; the API requires an auth token.",
    "6": "No method specified or the method specified is invalid.",
    "7": "Single SignOn failed.",
    "8": "More than one constituent matched the given criteria.",
    "9": "One or more required parameters were missing from the request.",
    "10": "Some required fields were missing.",
    "405": "Bad HTTP method. Requests must be made via the post HTTP method.",
    "902": "Some required fields were either missing or invalid.",
    "907": "The specified job could not be found.",
    "908": "The specified job is not ready.",
    "909": "The address book contacts for this job are no longer available.",
}


def _xml(name: str, value: Any) -> str:
    if isinstance(value, list):
        return "".join(_xml(name, item) for item in value)
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    if isinstance(value, dict):
        return f"<{name}>{''.join(_xml(key, item) for key, item in value.items())}</{name}>"
    return f"<{name}>{escape(str(value))}</{name}>"


def _json(value: Any) -> Any:
    """Convio's JSON: a one-element list is written as the bare element."""
    if isinstance(value, list):
        return _json(value[0]) if len(value) == 1 else [_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    return value


def _render(params: dict[str, str], root: str, value: dict[str, Any], status: int = 200) -> Response:
    if params.get("response_format", "xml").lower() == "json":
        return JSONResponse({root: _json(value)}, status_code=status, media_type="application/json;charset=UTF-8")
    schema_location = quoteattr(f"{NAMESPACE} http://service.convio.net/xmlschema/crm.public.v1.xsd")
    body = "".join(_xml(key, item) for key, item in value.items())
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<{root} xsi:schemaLocation={schema_location} "
        f'xmlns="{NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{body}</{root}>'
    )
    return Response(xml, status_code=status, media_type="text/xml;charset=UTF-8")


def _error(params: dict[str, str], code: str, http_status: int = 403) -> Response:
    if params.get("suppress_response_codes", "").lower() == "true":
        http_status = 200
    return _render(params, "errorResponse", {"code": code, "message": ERROR_MESSAGES[code]}, http_status)


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    if request.method == "POST":
        params.update({key: str(value) for key, value in (await request.form()).items()})
    return params


def _events_until(script: list[dict[str, Any]], index: int) -> list[str]:
    """The events a job has logged by script step ``index`` (they accumulate)."""
    events: list[str] = []
    for step in script[: index + 1]:
        explicit = (step.get("fields") or {}).get("events")
        if explicit is not None:
            new = explicit if isinstance(explicit, list) else [explicit]
        elif step["state"] == "running":
            new = ["Importing Contacts" if "Received authorization" in events else "Received authorization"]
        elif step["state"] == "succeeded":
            new = ["Import complete"]
        elif step["state"] == "failed":
            new = ["Import failed: the address book provider refused access"]
        else:
            new = []
        events += [event for event in new if not events or events[-1] != event]
    return events


class LuminateSimulator(VendorSimulator):
    name = "luminate"
    conn_id = "luminate_default"
    secrets = (API_KEY, PASSWORD, SSO_AUTH_TOKEN)
    bad_credentials = {"password": "wrong-luminate-password"}
    status_request = {"path_contains": "CRAddressBookAPI"}

    @classmethod
    def sample_status(cls) -> bytes:
        """A PENDING status with two events (the vendor page's example; the answer names no job)."""
        script = [{"state": "running", "progress": 50}, {"state": "running", "progress": 60}]
        job = SimJob(cls.name, SAMPLE_JOB_ID, script, polls=2)
        return bytes(cls(SimulatorState()).status_view({"response_format": "json"}, job, script[-1]).body)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_tokens: dict[str, str] = {}
        """Login token -> the ``JSESSIONID`` of its session (the token lives for that session)."""

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        return {
            "conn_type": "luminate",
            "host": f"{base_url}/luminate/{ORGANIZATION}",
            "login": USER_NAME,
            "password": PASSWORD,
            "extra": {"api_key": API_KEY},
        }

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/{organization}/site/CRConsAPI", self.constituent_api, methods=["GET", "POST"]),
            Route("/{organization}/site/CRAddressBookAPI", self.address_book_api, methods=["GET", "POST"]),
        ]

    @staticmethod
    def _common_error(request: Request, params: dict[str, str]) -> Response | None:
        if request.path_params["organization"] != ORGANIZATION:
            return Response("<html><body>Not Found</body></html>", status_code=404, media_type="text/html")
        if params.get("api_key") != API_KEY:
            return _error(params, "2")
        if params.get("v") != "1.0":
            return _error(params, "9")
        return None

    async def constituent_api(self, request: Request) -> Response:
        params = await _params(request)
        error = self._common_error(request, params)
        if error is not None:
            return error
        if params.get("method") != "login":
            return _error(params, "6")
        if request.method != "POST":
            return _error(params, "405", http_status=405)
        if not params.get("user_name") or not params.get("password"):
            return _error(params, "9")
        if (params["user_name"], params["password"]) != (USER_NAME, PASSWORD):
            return _error(params, "3")
        token = secrets.token_urlsafe(24)
        session = f"{secrets.token_hex(8)}.app"
        self.session_tokens[token] = session
        return _render(
            params,
            "loginResponse",
            {"cons_id": CONS_ID, "token": token, "nonce": None, "JSESSIONID": session, "routing_id": None},
        )

    def _token_error(self, request: Request, params: dict[str, str]) -> str | None:
        """A login token is good only within its session: the call must send its ``JSESSIONID`` cookie."""
        token = params.get("sso_auth_token")
        if token:
            if token == SSO_AUTH_TOKEN:
                return None
            session = self.session_tokens.get(token)
            return None if session is not None and request.cookies.get("JSESSIONID") == session else "7"
        if params.get("auth"):
            return None if params["auth"] == AUTH_TOKEN else "3"
        return "5"

    async def address_book_api(self, request: Request) -> Response:
        params = await _params(request)
        error = self._common_error(request, params)
        if error is not None:
            return error
        handlers = {
            "startOnlineAddressBookImport": self.start_import,
            "getAddressBookImportJobStatus": self.job_status,
            "getAddressBookImportContacts": self.contacts,
        }
        handler = handlers.get(params.get("method", ""))
        if handler is None:
            return _error(params, "6")
        code = self._token_error(request, params)
        if code is not None:
            return _error(params, code)
        return handler(params)

    def start_import(self, params: dict[str, str]) -> Response:
        source = params.get("import_source", "").upper()
        if not params.get("callback_url"):
            return _error(params, "9")
        if source not in OAUTH_URLS:
            return _error(params, "902")
        job = self.create_job({"params": {"import_source": source, "contacts": ADDRESS_BOOK_SIZE}, "polls": 4})
        oauth_url = OAUTH_URLS[source].format(job_id=job.job_id)
        return _render(params, "startOnlineAddressBookImportResponse", {"jobId": job.job_id, "oauthUrl": oauth_url})

    def job_status(self, params: dict[str, str]) -> Response:
        if not params.get("import_job_id"):
            return _error(params, "9")
        job, step = self.poll_job(params["import_job_id"])
        if job is None:
            return _error(params, "907")
        return self.status_view(params, job, step)

    @staticmethod
    def status_view(params: dict[str, str], job: SimJob, step: dict[str, Any]) -> Response:
        """Render a scripted step as ``getAddressBookImportJobStatusResponse`` (or its forced error)."""
        fields = step.get("fields") or {}
        if fields.get("error_code"):
            return _error(params, str(fields["error_code"]))
        value: dict[str, Any] = {"jobStatus": step.get("vendor_status") or STATUS_BY_STATE[step["state"]]}
        events = _events_until(job.script, min(job.polls, len(job.script)) - 1)
        if events:
            value["events"] = {"event": events}
        return _render(params, "getAddressBookImportJobStatusResponse", value)

    def contacts(self, params: dict[str, str]) -> Response:
        if not params.get("import_job_id"):
            return _error(params, "9")
        job = self.find_job(params["import_job_id"])
        if job is None:
            return _error(params, "907")
        if job.polls == 0 or job.script[min(job.polls, len(job.script)) - 1]["state"] != "succeeded":
            return _error(params, "908")
        if job.params.get("contacts_expired"):
            return _error(params, "909")
        contacts = [
            {"firstName": f"Friend{i}", "lastName": "Sim", "email": f"friend{i}@example.org"}
            for i in range(self._contact_total(job))
        ]
        return _render(params, "getAddressBookImportContactsResponse", {"contact": contacts} if contacts else {})

    @staticmethod
    def _contact_total(job: SimJob) -> int:
        if "contacts" in job.params:
            return int(job.params["contacts"])
        for step in reversed(job.script):
            if (step.get("counters") or {}).get("total") is not None:
                return int(step["counters"]["total"])
        return 0
