"""CC-iSales (Huawei Cloud Contact Center) data-file import tasks, as the vendor's pages document them.

``POST /rest/isales/v1/openapi/campaigns/{vdnId}/blackfile/queryDataImportTask`` and
``POST .../campaigns/{vdnId}/calldatafile/queryDataImportTask/{campaignId}`` take
``{"offset", "limit" (1..100), "importTaskIds"}`` and answer ``{result, count, resultCode,
resultDesc, returnCode, returnDesc}``: the tasks of that VDN (and campaign), newest first,
filtered by ``importTaskIds`` when given, one page of them. Parameter errors are HTTP 200 with
the vendor page's codes (0200001, 02000001, 02000006, 02000008, 02000011). Every request must carry
a valid ``auth-v2`` AK/SK signature (see :mod:`airflow_import_status.vendors.isales.codec`) no more
than 15 minutes off the server clock, else HTTP 401.

Scripted jobs take ``params`` ``{"vdn_id", "campaign_id"}`` (blacklist when no campaign) and
final counters ``{"imported", "duplicates", "failed"}`` (succNum, repeatNum, failNum). Each
status query advances the tasks it returns by one step.

**Simulator-only**: ``POST .../blackfile/importFile`` and ``.../calldatafile/importFile/{campaignId}``
with ``{"fileName", "content"}`` (one phone number per line) create a task and answer
``{"result": {"importTaskId": ...}}`` with the success codes; the vendor's pages document no upload call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from airflow_import_status.simulators.core import SAMPLE_JOB_ID, SimJob, SimulatorState, VendorSimulator, default_script
from airflow_import_status.vendors.isales.spec import AUTH_VERSION, MAX_PAGE_SIZE, MAX_VDN_ID, SUCCESS_CODE

ACCESS_KEY = "isales-sim-ak"
SECRET_KEY = "isales-sim-sk"
MAX_CLOCK_SKEW = timedelta(minutes=15)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
"""auth-v2's ``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'``: a timestamp without milliseconds is refused."""
MAX_TASK_IDS = 100
STATUS_BY_STATE = {"pending": "0", "running": "1", "succeeded": "2", "failed": "3"}
PREFIX = "/rest/isales/v1/openapi/campaigns/{vdn_id}"


def _pct(value: str | bytes) -> str:
    """auth-v2's percent-encoding: every byte outside ``A-Z a-z 0-9 - . _ ~`` as ``%XX``."""
    return quote(value if isinstance(value, bytes) else value.encode(), safe="-._~")


def _now() -> str:
    """iSales' time format, e.g. ``2022-03-11T07:27:09.000+00:00``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _coded(code: str, description: str, **payload: Any) -> JSONResponse:
    return JSONResponse(
        {**payload, "resultCode": code, "resultDesc": description, "returnCode": code, "returnDesc": description}
    )


class _ParameterError(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _non_negative_int(body: dict[str, Any], name: str) -> int:
    if body.get(name) is None:
        raise _ParameterError("02000001", f"{name} is empty")
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _ParameterError("02000006", f"{name} must be an Integer")
    if value < 0:
        raise _ParameterError("0200001", f"{name} must not be negative")
    return value


class ISalesSimulator(VendorSimulator):
    name = "isales"
    conn_id = "isales_default"
    secrets = (SECRET_KEY,)
    bad_credentials = {"password": "wrong-isales-secret-key"}
    job_params = {"vdn_id": 7}
    status_request = {"method": "POST", "path_contains": "queryDataImportTask"}

    @classmethod
    def sample_status(cls) -> bytes:
        """The vendor page's example answer, about task ``SAMPLE_JOB_ID`` of VDN 7."""
        step = {"state": "succeeded", "progress": 100, "counters": {"imported": 90, "duplicates": 6, "failed": 4}}
        job = SimJob(cls.name, SAMPLE_JOB_ID, [step], params={"vdn_id": "7", "campaign_id": None})
        task = cls(SimulatorState()).task_view(job, step)
        codes = {
            "resultCode": SUCCESS_CODE,
            "resultDesc": "success",
            "returnCode": SUCCESS_CODE,
            "returnDesc": "success",
        }
        return json.dumps({"result": [task], **codes}).encode()

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        return {"conn_type": "isales", "host": f"{base_url}/isales", "login": ACCESS_KEY, "password": SECRET_KEY}

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PREFIX + "/blackfile/queryDataImportTask", self.query_tasks, methods=["POST"]),
            Route(PREFIX + "/calldatafile/queryDataImportTask/{campaign_id}", self.query_tasks, methods=["POST"]),
            Route(PREFIX + "/blackfile/importFile", self.import_file, methods=["POST"]),
            Route(PREFIX + "/calldatafile/importFile/{campaign_id}", self.import_file, methods=["POST"]),
        ]

    def create_job(self, spec: dict[str, Any]) -> SimJob:
        """Task ids look like the vendor page's (30 digits); params default to VDN 1, blacklist."""
        params = {"vdn_id": 1, "campaign_id": None, **(spec.get("params") or {})}
        params["vdn_id"] = str(params["vdn_id"])
        job_id = spec.get("job_id") or f"{int(time.time() * 1000)}{self.state.next_id().zfill(17)}"
        return super().create_job({**spec, "job_id": job_id, "params": params})

    # ----- auth -------------------------------------------------------------------------------
    @staticmethod
    async def _authorized(request: Request) -> bool:
        """Recompute the whole ``auth-v2`` signature from the request as received, with the SK.

        Written out here from the rules ("Huawei CC-iSales demo / its public ports"), not by calling
        the provider's signer, so a signer bug fails the tests: both encodings (hex, base64) are
        accepted; the timestamp must carry milliseconds and be within 15 minutes of now.
        """
        parts = request.headers.get("authorization", "").split("/", 4)
        if len(parts) != 5 or parts[0] != AUTH_VERSION or parts[1] != ACCESS_KEY:
            return False
        _, _, timestamp, names, signature = parts
        if not TIMESTAMP.fullmatch(timestamp):
            return False
        signed_at = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        signed = names.split(";")
        if abs(datetime.now(UTC) - signed_at) > MAX_CLOCK_SKEW or "host" not in signed or signed != sorted(signed):
            return False
        query = "&".join(
            sorted(f"{_pct(k)}={_pct(v)}" for k, v in parse_qsl(request.url.query, keep_blank_values=True))
        )
        lines = "\n".join(f"{_pct(name)}:{_pct(request.headers.get(name, '').strip())}" for name in signed)
        path = request.scope.get("raw_path", b"").decode() or request.url.path
        canonical = "\n".join(("POST", path, query, names, lines, _pct(await request.body()))).encode()
        prefix = f"{AUTH_VERSION}/{ACCESS_KEY}/{timestamp}/{names}".encode()
        key = hmac.new(SECRET_KEY.encode(), prefix, hashlib.sha256)
        hex_signature = hmac.new(key.hexdigest().encode(), canonical, hashlib.sha256).hexdigest()
        b64_signature = base64.b64encode(hmac.new(key.digest(), canonical, hashlib.sha256).digest()).decode()
        return any(hmac.compare_digest(signature, expected) for expected in (hex_signature, b64_signature))

    @staticmethod
    def _scope(request: Request) -> tuple[str, str | None]:
        """``(vdn_id, campaign_id)`` of the path, or a parameter error."""
        vdn_id = request.path_params["vdn_id"]
        if not vdn_id.isdigit() or not 1 <= int(vdn_id) <= MAX_VDN_ID:
            raise _ParameterError("0200001", f"vdnId must be an integer from 1 to {MAX_VDN_ID}")
        return str(int(vdn_id)), request.path_params.get("campaign_id")

    @staticmethod
    async def _json_object(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise _ParameterError("02000008", "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise _ParameterError("02000008", "the request body is not a JSON object")
        return body

    # ----- endpoints ----------------------------------------------------------------------------
    async def query_tasks(self, request: Request) -> Response:
        if not await self._authorized(request):
            return Response("Unauthorized", status_code=401, media_type="text/plain")
        try:
            vdn_id, campaign_id = self._scope(request)
            body = await self._json_object(request)
            offset = _non_negative_int(body, "offset")
            limit = _non_negative_int(body, "limit")
            if not 1 <= limit <= MAX_PAGE_SIZE:
                raise _ParameterError("0200001", f"limit must range from 1 to {MAX_PAGE_SIZE}")
            task_ids = body.get("importTaskIds")
            if task_ids is not None:
                if not isinstance(task_ids, list) or not all(isinstance(i, str) for i in task_ids):
                    raise _ParameterError("02000006", "importTaskIds must be a list of strings")
                if len(task_ids) > MAX_TASK_IDS:
                    raise _ParameterError("02000011", f"importTaskIds holds more than {MAX_TASK_IDS} ids")
        except _ParameterError as err:
            return _coded(err.code, err.description)
        visible = []
        for job in reversed(list(self.state.jobs[self.name].values())):
            if job.params.get("vdn_id") != vdn_id or job.params.get("campaign_id") != campaign_id:
                continue
            if task_ids and job.job_id not in task_ids:
                continue
            if job.hidden_polls > 0:
                job.hidden_polls -= 1
                continue
            visible.append(job)
        page = []
        for job in visible[offset : offset + limit]:
            page.append(self.task_view(job, job.step()))
            job.advance()
        return _coded(SUCCESS_CODE, "success", result=page, count=len(visible))

    async def import_file(self, request: Request) -> Response:
        if not await self._authorized(request):
            return Response("Unauthorized", status_code=401, media_type="text/plain")
        try:
            vdn_id, campaign_id = self._scope(request)
            body = await self._json_object(request)
            if not body.get("fileName"):
                raise _ParameterError("02000001", "fileName is empty")
            if not isinstance(body.get("content"), str):
                raise _ParameterError("02000006", "content must be a String")
        except _ParameterError as err:
            return _coded(err.code, err.description)
        seen: set[str] = set()
        counters = {"imported": 0, "duplicates": 0, "failed": 0}
        for line in body["content"].splitlines():
            number = line.strip()
            if not number:
                continue
            if not (number.lstrip("+").isdigit() and 5 <= len(number) <= 24):
                counters["failed"] += 1
            elif number in seen:
                counters["duplicates"] += 1
            else:
                seen.add(number)
                counters["imported"] += 1
        job = self.create_job(
            {"params": {"vdn_id": vdn_id, "campaign_id": campaign_id}, "script": default_script(counters)}
        )
        job.data["fileName"] = body["fileName"]
        return _coded(SUCCESS_CODE, "success", result={"importTaskId": job.job_id})

    # ----- rendering ----------------------------------------------------------------------------
    def task_view(self, job: SimJob, step: dict[str, Any]) -> dict[str, Any]:
        """Render a scripted step as a ``DataImportTask``."""
        counters: dict[str, Any] = next((s["counters"] for s in reversed(job.script) if s.get("counters")), {})
        state = step["state"]
        terminal = state in ("succeeded", "failed")
        scale = 1.0 if terminal else int(step.get("progress", 0)) / 100
        if state != "pending":
            job.data.setdefault("beginTime", _now())
        if terminal:
            job.data.setdefault("endTime", _now())
        task = {
            "succNum": int(counters.get("imported", 0) * scale),
            "failNum": int(counters.get("failed", 0) * scale),
            "errMsg": "The file format is incorrect." if state == "failed" else "",
            "id": job.job_id,
            "beginTime": job.data.get("beginTime", ""),
            "endTime": job.data.get("endTime", "") if terminal else "",
            "repeatNum": int(counters.get("duplicates", 0) * scale),
            "status": step.get("vendor_status") or STATUS_BY_STATE[state],
        }
        task.update(step.get("fields") or {})
        return task
