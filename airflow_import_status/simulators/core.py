"""One server hosting every vendor's fake import-status API, plus a control API.

Each vendor is a :class:`VendorSimulator` mounted under ``/{vendor}``: it serves the vendor's
real paths, auth checks, bodies and errors, and renders a scripted job state into its wire
format. What is shared lives here:

- jobs with a *script*: a list of vendor-neutral steps, one consumed per status poll
  (``{"state": "running", "progress": 50, "fields": {...raw vendor fields...}}``);
- fault injection for the next N requests to a vendor (HTTP status, disconnect, delay,
  arbitrary or truncated bodies);
- a per-vendor request log, so tests count attempts;
- an optional latency on every vendor request (benchmarks).

Control API (JSON): ``POST /_sim/jobs`` (one job, or ``count`` jobs from one spec),
``GET /_sim/jobs?vendor=...`` (every job of a vendor, e.g. one per upload),
``GET /_sim/jobs/{vendor}/{job_id}``, ``POST /_sim/faults``, ``GET /_sim/requests``,
``POST /_sim/reset``, ``POST /_sim/config``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

TERMINAL_STATES = ("succeeded", "failed")

SAMPLE_JOB_ID = "1000"
"""The job id every simulator's :meth:`VendorSimulator.sample_status` is about."""


@dataclass
class SimJob:
    """One import job in a vendor simulator."""

    vendor: str
    job_id: str
    script: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    started: bool = True
    hidden_polls: int = 0
    """Status requests answered "not found" before the job becomes visible."""
    polls: int = 0
    poll_times: list[float] = field(default_factory=list)
    """When each status poll was answered (epoch seconds): what benchmarks measure lateness from."""
    data: dict[str, Any] = field(default_factory=dict)
    """Vendor-specific state (uploaded contacts, creation time, ...)."""

    def step(self) -> dict[str, Any]:
        """The step the next status answer shows (the last step repeats forever)."""
        if not self.started:
            return {"state": "pending", "progress": 0, "not_started": True}
        return self.script[min(self.polls, len(self.script) - 1)]

    def advance(self) -> None:
        if self.started:
            self.polls += 1
            self.poll_times.append(time.time())


@dataclass
class Fault:
    """A fault served instead of (or on top of) the next ``times`` requests to a vendor.

    kinds: ``status`` (HTTP ``status`` with ``body``/``headers``), ``body`` (HTTP 200 with
    ``body`` and ``content_type``), ``truncate`` (the real answer cut to ``keep`` bytes),
    ``disconnect`` (headers sent, then the connection closed), ``delay`` (sleep ``seconds``,
    then answer normally); after the request was processed (it changed the vendor's state, only
    the answer is lost): ``drop_after`` (the answer cut and the connection closed) and
    ``slow_answer`` (the answer held back ``seconds``, past a client's timeout).
    """

    vendor: str
    kind: str
    times: int = 1
    status: int = 500
    body: str = ""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    keep: int = 20
    seconds: float = 0.0
    path_contains: str = ""
    method: str = ""
    """Only requests with this method (empty: any), e.g. to spare a WSDL or token fetch."""
    skip: int = 0
    """Matching requests let through before the fault applies (e.g. fail the second upload batch)."""
    soap_action: str = ""
    """Only SOAP calls whose SOAPAction ends with this operation (e.g. ``NewImportProcess``)."""


class SimulatorState:
    """All mutable state of one simulator server (accessed from its event loop only)."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, SimJob]] = defaultdict(dict)
        self.faults: list[Fault] = []
        self.requests: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.latency: float = 0.0
        self._ids = itertools.count(1000)

    def next_id(self) -> str:
        return str(next(self._ids))

    def add_job(self, job: SimJob) -> SimJob:
        self.jobs[job.vendor][job.job_id] = job
        return job

    def take_fault(self, vendor: str, method: str, path: str, soap_action: str = "") -> Fault | None:
        for fault in self.faults:
            if (
                fault.vendor == vendor
                and fault.times > 0
                and fault.path_contains in path
                and fault.method in ("", method)
                and soap_action.endswith(fault.soap_action)
            ):
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None


def default_script(
    counters: dict[str, Any] | None = None, *, polls: int = 3, fail: bool = False
) -> list[dict[str, Any]]:
    """pending -> running ... -> succeeded/failed, finishing on poll number ``polls``."""
    final = {"state": "failed" if fail else "succeeded", "progress": 100, "counters": counters or {}}
    if polls <= 1:
        return [final]
    running = polls - 2
    steps: list[dict[str, Any]] = [{"state": "pending", "progress": 0}]
    steps += [{"state": "running", "progress": int(100 * (i + 1) / (running + 1))} for i in range(running)]
    steps.append(final)
    return steps


class VendorSimulator:
    """Base of one vendor's fake API. Subclasses set ``name`` and implement the hooks."""

    name: ClassVar[str]
    conn_id: ClassVar[str]
    """The hook's default connection id, which the demo and tests point at this simulator."""

    # What the cross-vendor suites (fault matrix, fuzzing, secret scan) need to know, declared
    # beside the fake API it describes:
    secrets: ClassVar[tuple[str, ...]] = ()
    """The credentials :meth:`connection` carries (must never show in a log, event or XCom)."""
    bad_credentials: ClassVar[dict[str, Any]] = {}
    """Connection fields (top level, ``extra`` merged) this vendor refuses, its own way."""
    job_params: ClassVar[dict[str, Any]] = {}
    """``params`` of a scripted job (what it belongs to, e.g. its list), also sensor job fields."""
    status_request: ClassVar[dict[str, str]] = {}
    upload_request: ClassVar[dict[str, str]] = {}
    """Fault selectors (``method``, ``path_contains``, ``soap_action``) of an operator's upload requests."""
    start_request: ClassVar[dict[str, str]] = {}
    """Fault selectors of the call that starts the import once every batch is in (run, start, Execute)."""
    """``method`` / ``path_contains`` singling out status polls (not token or WSDL fetches)."""
    not_found_requests: ClassVar[int] = 1
    """Status requests before "not found" is certain (a 401 may first mean an expired token)."""
    contact_mapping: ClassVar[dict[str, str]] = {}
    """For a vendor with a start-import operator: the ``field_mapping`` from the generated contacts'
    columns (:data:`~airflow_import_status.simulators.contacts.CONTACT_COLUMNS`, those of
    ``example_dags/contacts.csv``) to the fields its operator sends (operator suites, upload benchmark)."""

    @classmethod
    def sample_status(cls) -> bytes:
        """A valid status answer (the fuzzing seed), about job ``SAMPLE_JOB_ID``."""
        raise NotImplementedError

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        """The Airflow connection (JSON form) that reaches this simulator at ``base_url``."""
        raise NotImplementedError

    def routes(self) -> list[BaseRoute]:
        """The vendor's real paths, relative to ``/{name}``."""
        raise NotImplementedError

    def create_job(self, spec: dict[str, Any]) -> SimJob:
        """A job from the control API's spec (``job_id``, ``params``, ``script``, ...)."""
        job = SimJob(
            vendor=self.name,
            job_id=str(spec.get("job_id") or self.state.next_id()),
            script=spec.get("script")
            or default_script(spec.get("counters"), polls=int(spec.get("polls", 3)), fail=bool(spec.get("fail"))),
            params=dict(spec.get("params") or {}),
            started=bool(spec.get("started", True)),
            hidden_polls=int(spec.get("hidden_polls", 0)),
        )
        return self.state.add_job(job)

    def find_job(self, job_id: str) -> SimJob | None:
        return self.state.jobs[self.name].get(str(job_id))

    def poll_job(self, job_id: str) -> tuple[SimJob | None, dict[str, Any]]:
        """Look a job up for a status request: the step to show, advancing the script.

        Returns ``(None, {})`` when the job does not exist or is still hidden.
        """
        job = self.find_job(job_id)
        if job is None:
            return None, {}
        if job.hidden_polls > 0:
            job.hidden_polls -= 1
            return None, {}
        step = job.step()
        job.advance()
        return job, step


class FaultMiddleware:
    """Applies latency, injected faults and request logging to every vendor request."""

    def __init__(self, app: Any, state: SimulatorState, vendors: list[str]) -> None:
        self.app = app
        self.state = state
        self.vendors = set(vendors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        vendor = path.strip("/").split("/", 1)[0]
        if scope["type"] != "http" or vendor not in self.vendors:
            await self.app(scope, receive, send)
            return
        if self.state.latency:
            await asyncio.sleep(self.state.latency)
        soap_action = dict(scope.get("headers") or []).get(b"soapaction", b"").decode("latin-1").strip('"')
        fault = self.state.take_fault(vendor, scope["method"], path, soap_action)
        entry = {
            "method": scope["method"],
            "path": path,
            "query": scope.get("query_string", b"").decode("latin-1"),
            "fault": fault.kind if fault else None,
        }
        if soap_action:  # a SOAP service's operation (all of them share one path)
            entry["soap_action"] = soap_action
        self.state.requests[vendor].append(entry)
        if fault is None:
            return await self._logged(scope, receive, send, entry)
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            return await self._logged(scope, receive, send, entry)
        if fault.kind == "status":
            headers = {"content-type": fault.content_type, **fault.headers}
            return await Response(fault.body, status_code=fault.status, headers=headers)(scope, receive, send)
        if fault.kind == "body":
            return await Response(fault.body, status_code=200, media_type=fault.content_type)(scope, receive, send)
        if fault.kind == "disconnect":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"Id": ', "more_body": True})
            return None  # the server closes the connection: the response is incomplete
        if fault.kind == "truncate":
            return await self._truncated(scope, receive, send, fault.keep)
        if fault.kind in ("drop_after", "slow_answer"):
            return await self._processed(scope, receive, send, entry, fault)
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    async def _logged(self, scope: Scope, receive: Receive, send: Send, entry: dict[str, Any]) -> None:
        async def record(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, record)

    async def _processed(self, scope: Scope, receive: Receive, send: Send, entry: dict[str, Any], fault: Fault) -> None:
        """The request is processed in full (the vendor's state changes); only its answer is lost or late."""
        messages: list[dict[str, Any]] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            messages.append(message)

        await self.app(scope, receive, capture)
        if fault.kind == "slow_answer":
            await asyncio.sleep(fault.seconds)
            for message in messages:
                await send(message)
            return
        start = next(message for message in messages if message["type"] == "http.response.start")
        body = b"".join(message.get("body", b"") for message in messages if message["type"] == "http.response.body")
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body) + 1000).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        # returning now closes the connection with the promised length unsent: the answer is lost

    async def _truncated(self, scope: Scope, receive: Receive, send: Send, keep: int) -> None:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)[:keep]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _job_view(job: SimJob) -> dict[str, Any]:
    return {
        "vendor": job.vendor,
        "job_id": job.job_id,
        "params": job.params,
        "polls": job.polls,
        "poll_times": job.poll_times,
        "started": job.started,
        "data": {k: v for k, v in job.data.items() if k != "contacts"},
    }


def build_app(simulator_classes: list[type[VendorSimulator]], state: SimulatorState | None = None) -> Any:
    """The ASGI app: every vendor under ``/{name}``, the control API under ``/_sim``."""
    state = state or SimulatorState()
    vendors = {cls.name: cls(state) for cls in simulator_classes}

    async def create_job(request: Request) -> JSONResponse:
        spec = await request.json()
        vendor = vendors.get(spec.get("vendor"))
        if vendor is None:
            return JSONResponse({"error": f"unknown vendor {spec.get('vendor')!r}"}, status_code=400)
        if "count" in spec:  # many jobs from one spec (benchmarks): ids are generated
            jobs = [vendor.create_job({**spec, "job_id": None}) for _ in range(int(spec["count"]))]
            return JSONResponse({"jobs": [_job_view(job) for job in jobs]}, status_code=201)
        return JSONResponse(_job_view(vendor.create_job(spec)), status_code=201)

    async def list_jobs(request: Request) -> JSONResponse:
        vendor = request.query_params.get("vendor", "")
        return JSONResponse({"jobs": [_job_view(job) for job in state.jobs.get(vendor, {}).values()]})

    async def get_job(request: Request) -> JSONResponse:
        job = state.jobs[request.path_params["vendor"]].get(request.path_params["job_id"])
        if job is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        return JSONResponse(_job_view(job))

    async def add_fault(request: Request) -> JSONResponse:
        spec = await request.json()
        if spec.get("vendor") not in vendors:
            return JSONResponse({"error": f"unknown vendor {spec.get('vendor')!r}"}, status_code=400)
        state.faults.append(Fault(**spec))
        return JSONResponse({"queued": len(state.faults)}, status_code=201)

    async def list_requests(request: Request) -> JSONResponse:
        vendor = request.query_params.get("vendor")
        data = {vendor: state.requests.get(vendor, [])} if vendor else dict(state.requests)
        return JSONResponse(data)

    async def reset(request: Request) -> JSONResponse:
        state.jobs.clear()
        state.faults.clear()
        state.requests.clear()
        state.latency = 0.0
        return JSONResponse({"reset": True})

    async def configure(request: Request) -> JSONResponse:
        spec = await request.json()
        state.latency = float(spec.get("latency", state.latency))
        return JSONResponse({"latency": state.latency})

    routes: list[BaseRoute] = [
        Route("/_sim/jobs", create_job, methods=["POST"]),
        Route("/_sim/jobs", list_jobs, methods=["GET"]),
        Route("/_sim/jobs/{vendor}/{job_id}", get_job, methods=["GET"]),
        Route("/_sim/faults", add_fault, methods=["POST"]),
        Route("/_sim/requests", list_requests, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/config", configure, methods=["POST"]),
    ]
    routes += [Mount(f"/{name}", routes=sim.routes()) for name, sim in vendors.items()]
    app = Starlette(routes=routes)
    app.state.simulator = state
    return FaultMiddleware(app, state, list(vendors))
