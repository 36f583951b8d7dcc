"""Which50's contact-list import API, as its page "Which50 API: ImportJob" documents it.

``POST contactLists/{listId}/import`` {"FieldNames": [...]} creates an ImportJob,
``POST contactLists/{listId}/import/{jobId}`` adds up to 10,000 contacts,
``POST contactLists/{listId}/import/{jobId}/run`` starts it, and
``GET contactLists/{listId}/import/{jobId}`` returns the ImportJob as JSON or XML (by Accept).
Auth: the ``X-Api-Key`` header (the provider's default; see the hook's notes).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from airflow_import_status.simulators.core import SAMPLE_JOB_ID, SimJob, SimulatorState, VendorSimulator, default_script

API_KEY = "which50-sim-key"
MAX_CONTACTS_PER_REQUEST = 10_000
STATUS_BY_STATE = {"pending": "Queued", "running": "Running", "succeeded": "Completed", "failed": "Failed"}
XML_NS = "http://schemas.datacontract.org/2004/07/W50API.Models.DTO"
DENIED = "Authorization has been denied for this request."


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "0+00:00")


def _wants_xml(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "xml" in accept and "json" not in accept.split("xml")[0]


def _render(request: Request, payload: dict[str, Any], root: str, status: int = 200) -> Response:
    if not _wants_xml(request):
        return JSONResponse(payload, status_code=status)
    parts = []
    for key in sorted(payload):
        value = payload[key]
        if value is None:
            parts.append(f'<{key} i:nil="true"/>')
        else:
            parts.append(f"<{key}>{escape(str(value))}</{key}>")
    xml = f'<{root} xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="{XML_NS}">{"".join(parts)}</{root}>'
    return Response(xml, status_code=status, media_type="application/xml")


def _error(request: Request, status: int, message: str) -> Response:
    if _wants_xml(request):
        return Response(
            f"<Error><Message>{escape(message)}</Message></Error>", status_code=status, media_type="application/xml"
        )
    return JSONResponse({"Message": message}, status_code=status)


class Which50Simulator(VendorSimulator):
    name = "which50"
    conn_id = "which50_default"
    secrets = (API_KEY,)
    bad_credentials = {"password": "wrong-which50-key"}
    job_params = {"contact_list_id": 5}
    status_request = {"method": "GET", "path_contains": "/import/"}
    upload_request = {"method": "POST", "path_contains": "/import/"}  # add contacts (run comes after the batches)
    start_request = {"method": "POST", "path_contains": "/run"}
    contact_mapping = {"email": "Email", "first_name": "FirstName", "last_name": "LastName", "phone": "Mobile"}

    @classmethod
    def sample_status(cls) -> bytes:
        step = {
            "state": "succeeded",
            "progress": 100,
            "counters": {"inserted": 7, "updated": 3, "invalid_email": 2, "total": 12},
        }
        job = SimJob(cls.name, SAMPLE_JOB_ID, [step], params=dict(cls.job_params))
        return json.dumps(cls(SimulatorState()).import_job(job, step)).encode()

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        return {"conn_type": "which50", "host": f"{base_url}/which50/Which50API", "password": API_KEY}

    def routes(self) -> list[BaseRoute]:
        base = "/Which50API/contactLists"
        return [
            Route(base, self.list_contact_lists, methods=["GET"]),
            Route(base + "/{list_id:int}/import", self.create_import, methods=["POST"]),
            Route(base + "/{list_id:int}/import/{job_id:int}", self.get_import, methods=["GET"]),
            Route(base + "/{list_id:int}/import/{job_id:int}", self.add_contacts, methods=["POST"]),
            Route(base + "/{list_id:int}/import/{job_id:int}/run", self.run_import, methods=["POST"]),
        ]

    @staticmethod
    def _authorized(request: Request) -> bool:
        return request.headers.get("x-api-key") == API_KEY

    def _job_for(self, request: Request) -> SimJob | None:
        job = self.find_job(str(request.path_params["job_id"]))
        if job is None or str(job.params.get("contact_list_id")) != str(request.path_params["list_id"]):
            return None
        return job

    async def list_contact_lists(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(request, 401, DENIED)
        lists = sorted({int(j.params.get("contact_list_id", 0)) for j in self.state.jobs[self.name].values()})
        return JSONResponse([{"Id": list_id, "Name": f"List {list_id}"} for list_id in lists])

    async def create_import(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(request, 401, DENIED)
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("FieldNames"), list):
            return _error(request, 400, "The request is invalid: FieldNames is required.")
        job = self.create_job({"params": {"contact_list_id": request.path_params["list_id"]}, "started": False})
        job.data.update(field_names=body["FieldNames"], contacts=[])
        return _render(
            request,
            self.import_job(job, {"state": "pending", "progress": 0, "not_started": True}),
            "ImportJob",
            status=201,
        )

    async def add_contacts(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(request, 401, DENIED)
        job = self._job_for(request)
        if job is None:
            return _error(request, 404, "The specified ContactList or ImportJob was not found.")
        contacts = await request.json()
        if not isinstance(contacts, list) or len(contacts) > MAX_CONTACTS_PER_REQUEST:
            return _error(request, 400, f"Send an array of at most {MAX_CONTACTS_PER_REQUEST} contacts.")
        job.data.setdefault("contacts", []).extend(contacts)
        return JSONResponse([{"ValidationWarnings": [], "ListId": request.path_params["list_id"]} for _ in contacts])

    async def run_import(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(request, 401, DENIED)
        job = self._job_for(request)
        if job is None:
            return _error(request, 404, "The specified ContactList or ImportJob was not found.")
        contacts = job.data.get("contacts", [])
        emails = [str((c.get("Values") or {}).get("Email", "")) for c in contacts if isinstance(c, dict)]
        invalid = sum(1 for email in emails if "@" not in email)
        job.script = default_script(
            {"inserted": len(emails) - invalid, "invalid_email": invalid, "total": len(emails) - invalid}
        )
        job.started = True
        job.data["StartDate"] = _now()
        return _render(request, self.import_job(job, job.step()), "ImportJob")

    async def get_import(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(request, 401, DENIED)
        if self.find_job(str(request.path_params["job_id"])) is not None and self._job_for(request) is None:
            return _error(request, 404, "The specified ContactList or ImportJob was not found.")
        job, step = self.poll_job(str(request.path_params["job_id"]))
        if job is None:
            return _error(request, 404, "The specified ContactList or ImportJob was not found.")
        return _render(request, self.import_job(job, step), "ImportJob")

    def import_job(self, job: SimJob, step: dict[str, Any]) -> dict[str, Any]:
        """Render a scripted step as Which50's ImportJob."""
        counters = self._final_counters(job)
        progress = int(step.get("progress", 0))
        scale = progress / 100 if step["state"] not in ("succeeded", "failed") else 1.0
        terminal = step["state"] in ("succeeded", "failed")
        if job.started and "StartDate" not in job.data:
            job.data["StartDate"] = _now()
        if terminal and "FinishDate" not in job.data:
            job.data["FinishDate"] = _now()
        payload = {
            "Id": int(job.job_id),
            "ContactListId": int(job.params.get("contact_list_id", 0)),
            "InvalidEmailCount": int(counters.get("invalid_email", 0) * scale),
            "InvalidSmsCount": int(counters.get("invalid_sms", 0) * scale),
            "ProgressPercent": progress,
            "CurrentStatus": step.get("vendor_status")
            or ("New" if step.get("not_started") else STATUS_BY_STATE[step["state"]]),
            "StartDate": job.data.get("StartDate") if job.started else None,
            "FinishDate": job.data.get("FinishDate") if terminal else None,
            "InsertedContacts": int(counters.get("inserted", 0) * scale),
            "UpdatedContacts": int(counters.get("updated", 0) * scale),
            "DroppedContacts": int(counters.get("deleted", 0) * scale),
            "NotUpdatedContacts": int(counters.get("unchanged", 0) * scale),
            "TotalContacts": int(counters.get("total", 0) * scale),
        }
        payload.update(step.get("fields") or {})
        return payload

    @staticmethod
    def _final_counters(job: SimJob) -> dict[str, Any]:
        for step in reversed(job.script):
            if step.get("counters"):
                counters: dict[str, Any] = step["counters"]
                return counters
        return {}
