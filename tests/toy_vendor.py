"""A test-only toy vendor, registered through the registry alone (never shipped).

It proves the claim of the vendor spec: a vendor is one spec, one codec, one simulator and
two short classes (the sensor declares its job fields and connection id as keyword parameters);
registering it makes it join every cross-vendor suite (sensor modes, trigger round trip, fault
matrix, fuzzing, secret scan) without editing a shared list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from airflow_import_status.errors import VendorPayloadError
from airflow_import_status.hooks.base import ImportStatusHook
from airflow_import_status.parsing import load_json_object, optional_int
from airflow_import_status.responses import raise_for_http_status
from airflow_import_status.result import ImportResult, StatusTable
from airflow_import_status.sensors.base import ImportStatusSensor
from airflow_import_status.simulators.core import SAMPLE_JOB_ID, VendorSimulator
from airflow_import_status.transport import Flow, HttpRequest, HttpResponse, TransportSettings
from airflow_import_status.vendors import register
from airflow_import_status.vendors.spec import (
    ConnectionSchema,
    ConnectionValues,
    ImportJob,
    StandardField,
    VendorClasses,
    VendorSpec,
    base_url,
    job_field,
)

API_KEY = "toy-sim-api-key-123"
STATUS_TABLE = StatusTable(
    pending=frozenset({"queued"}),
    running=frozenset({"working"}),
    succeeded=frozenset({"done"}),
    failed=frozenset({"broken"}),
)
STATUS_BY_STATE = {"pending": "queued", "running": "working", "succeeded": "done", "failed": "broken"}


@dataclass(frozen=True)
class ToyJob(ImportJob):
    job_ref: str = job_field(label="toy job", job_id=True)

    label_format = "{job_ref}"


@dataclass(frozen=True)
class ToySettings:
    base_url: str
    api_key: str
    transport: TransportSettings


class ToyCodec:
    def settings(self, values: ConnectionValues) -> ToySettings:
        return ToySettings(base_url(values), values.require("password", "API key"), values.transport())

    def transport(self, settings: ToySettings) -> TransportSettings:
        return settings.transport

    def status_flow(self, settings: ToySettings, job: ToyJob) -> Flow[ImportResult]:
        response = yield HttpRequest(
            "GET", f"{settings.base_url}/jobs/{job.job_ref}", headers={"X-Toy-Key": settings.api_key}
        )
        return self.decode_status(response, settings, job)

    def decode_status(self, response: HttpResponse, settings: ToySettings, job: ToyJob) -> ImportResult:
        raise_for_http_status("toy", response, f"toy job {job.job_ref}")
        fields = load_json_object("toy", response.body)
        if str(fields.get("id")) != job.job_ref:
            raise VendorPayloadError(f"answer about job {fields.get('id')!r}, not {job.job_ref}", vendor="toy")
        status = fields.get("status") if isinstance(fields.get("status"), str) else None
        state = STATUS_TABLE.classify(status)
        return ImportResult(
            vendor="toy",
            job_id=job.job_ref,
            state=state or "pending",
            vendor_status=status,
            total=optional_int("toy", fields, "total"),
            imported=optional_int("toy", fields, "ok"),
            invalid=optional_int("toy", fields, "bad"),
            warnings=[] if state else [f"unrecognized toy status {status!r}"],
        )

    def check_flow(self, settings: ToySettings) -> Flow[str]:
        response = yield HttpRequest("GET", f"{settings.base_url}/jobs", headers={"X-Toy-Key": settings.api_key})
        raise_for_http_status("toy", response, "the toy jobs")
        return "Connected to the toy vendor"

    def console_url(self, settings: ToySettings, job: ToyJob) -> str | None:
        return None


CODEC = ToyCodec()


class ToySimulator(VendorSimulator):
    name = "toy"
    conn_id = "toy_default"
    secrets = (API_KEY,)
    bad_credentials = {"password": "wrong-toy-key-456"}
    status_request = {"method": "GET", "path_contains": "/jobs/"}

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        return {"conn_type": "toy", "host": f"{base_url}/toy", "password": API_KEY}

    @classmethod
    def sample_status(cls) -> bytes:
        return b'{"id": "%s", "status": "done", "total": 3, "ok": 2, "bad": 1}' % SAMPLE_JOB_ID.encode()

    def routes(self) -> list[BaseRoute]:
        return [Route("/jobs", self.jobs), Route("/jobs/{job_id}", self.job)]

    async def jobs(self, request: Request) -> Response:
        if request.headers.get("x-toy-key") != API_KEY:
            return JSONResponse({"error": "bad key"}, status_code=401)
        return JSONResponse([])

    async def job(self, request: Request) -> Response:
        if request.headers.get("x-toy-key") != API_KEY:
            return JSONResponse({"error": "bad key"}, status_code=401)
        job, step = self.poll_job(request.path_params["job_id"])
        if job is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        counters = step.get("counters") or {}
        return JSONResponse(
            {
                "id": job.job_id,
                "status": STATUS_BY_STATE[step["state"]],
                "total": counters.get("total", 0),
                "ok": counters.get("imported", 0),
                "bad": counters.get("invalid", 0),
            }
        )


SPEC: VendorSpec[ToySettings, ToyJob] = register(
    VendorSpec(
        key="toy",
        display_name="Toy",
        api="a test-only vendor",
        connection=ConnectionSchema(standard=(StandardField("host", "Base URL"), StandardField("password", "API key"))),
        job_type=ToyJob,
        status_table=STATUS_TABLE,
        classes=VendorClasses(
            codec="tests.toy_vendor.CODEC",
            hook="tests.toy_vendor.ToyHook",
            sensor="tests.toy_vendor.ToyImportSensor",
            simulator="tests.toy_vendor.ToySimulator",
        ),
    )
)


class ToyHook(ImportStatusHook[ToySettings, ToyJob]):
    spec = SPEC


class ToyImportSensor(ImportStatusSensor):
    spec = SPEC

    def __init__(self, *, job_ref: str, toy_conn_id: str = "toy_default", **kwargs: Any) -> None:
        super().__init__(job_params={"job_ref": job_ref, "toy_conn_id": toy_conn_id}, **kwargs)
