"""What the cross-vendor tests (fault matrix, fuzzing, secret scan) need to know per vendor.

Derived from the vendor registry: each vendor's spec (job type, status table, codec) and its
simulator's declarations (secrets, bad credentials, job params, a sample status answer).
A vendor registered with :func:`airflow_import_status.vendors.register` (the tests' toy
vendor) joins every suite without editing this file. A vendor with a start-import operator
(named by its spec's ``VendorClasses.operator``) joins
the operator suites the same way (:data:`OPERATOR_VENDORS`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import Connection

from airflow_import_status.operators.base import ImportStartOperator
from airflow_import_status.result import ImportResult
from airflow_import_status.sensors.base import ImportStatusSensor


@dataclass(frozen=True)
class VendorCase:
    vendor: str
    sensor_class: type[ImportStatusSensor]
    job_params: dict[str, Any]
    """``params`` of the simulator job (what the job belongs to, e.g. its list)."""
    job_kwargs: Callable[[dict[str, Any]], dict[str, Any]]
    """Sensor/hook job parameters for a simulator job (the ``create_job`` answer)."""
    bad_credentials: dict[str, Any]
    """Connection fields (top level, ``extra`` merged) that the vendor refuses."""
    secrets: tuple[str, ...]
    parse: Callable[[bytes], ImportResult]
    """The pure parser, bytes in."""
    sample: bytes
    success_statuses: frozenset[str] = field(default_factory=frozenset)
    """Raw statuses that may yield ``succeeded`` (case-insensitive)."""
    not_found_requests: int = 1
    """Status requests before "not found" is certain (a 401 may first mean an expired token)."""
    id_field: str = "import_job_id"
    """The job parameter that names the import job."""
    status_request: dict[str, str] = field(default_factory=dict)
    """``method`` / ``path_contains`` singling out status polls (not token or WSDL fetches)."""
    expected_job_id: str | None = None
    """The job :attr:`parse` asks about: a success must be about it."""
    operator_class: type[Any] | None = None
    """The vendor's start-import operator, if it has one."""
    contact_mapping: dict[str, str] = field(default_factory=dict)
    """``field_mapping`` from the generated contacts' columns to the operator's fields."""
    upload_request: dict[str, str] = field(default_factory=dict)
    """Fault selectors of the operator's upload requests (one per batch)."""
    start_request: dict[str, str] = field(default_factory=dict)
    """Fault selectors of the operator's start call (after every batch)."""

    @property
    def sample_is_json(self) -> bool:
        return self.sample.lstrip()[:1] in (b"{", b"[")

    def vendor_said_success(self, result: ImportResult) -> bool:
        """Whether a ``succeeded`` result rests on a status the vendor uses for success."""
        status = (result.vendor_status or "").strip().casefold()
        if status in {s.casefold() for s in self.success_statuses}:
            return True
        return self.vendor == "which50" and result.finished_at is not None and result.progress_percent == 100

    def is_status_request(self, entry: dict[str, Any]) -> bool:
        return (
            self.status_request.get("method", entry["method"]) == entry["method"]
            and self.status_request.get("path_contains", "") in entry["path"]
        )

    @property
    def hook_class(self) -> type[Any]:
        return self.sensor_class.hook_class

    def unknown_job_kwargs(self, job: dict[str, Any]) -> dict[str, Any]:
        kwargs = self.job_kwargs(job)
        id_field = self.id_field
        kwargs[id_field] = type(kwargs[id_field])(987654) if isinstance(kwargs[id_field], int) else "987654"
        return kwargs

    def operator_kwargs(self, source: Any, **kwargs: Any) -> dict[str, Any]:
        """The operator's arguments for the simulator: what the job belongs to, ``source`` mapped, ``kwargs``."""
        assert self.operator_class is not None, f"{self.vendor} has no start-import operator"
        assert self.contact_mapping, (
            f"{self.vendor}'s simulator declares no contact_mapping (the generated contacts' columns -> "
            "the operator's fields): the operator suites need it"
        )
        start = {k: v for k, v in self.job_kwargs({"job_id": "0"}).items() if k != self.id_field}
        return {**start, "source": source, "field_mapping": dict(self.contact_mapping), **kwargs}

    def connection(self, base_url: str, **overrides: Any) -> str:
        """The simulator connection as ``AIRFLOW_CONN_*`` JSON, with ``overrides`` merged."""
        conn = _simulator_connection(self.vendor, base_url)
        extra = conn.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra)
        conn = {**conn, **{k: v for k, v in overrides.items() if k != "extra"}}
        conn["extra"] = {**extra, **overrides.get("extra", {})}
        return json.dumps(conn)


def _simulator_connection(vendor: str, base_url: str) -> dict[str, Any]:
    from airflow_import_status.simulators import simulator_classes

    [simulator] = [cls for cls in simulator_classes() if cls.name == vendor]
    return simulator.connection(base_url)


def case_from_spec(vendor: str) -> VendorCase:
    """A vendor's case, all from its spec and its simulator's declarations."""
    from airflow_import_status.simulators.core import SAMPLE_JOB_ID
    from airflow_import_status.transport import HttpResponse
    from airflow_import_status.vendors import get_spec

    spec = get_spec(vendor)
    simulator = spec.simulator_class
    id_field = spec.job_type.id_field()
    conn = _simulator_connection(vendor, "http://127.0.0.1:9")
    extra = conn.get("extra") or {}
    values = spec.connection.parse(
        Connection(
            conn_id=f"{vendor}_case", **{**conn, "extra": json.dumps(extra) if isinstance(extra, dict) else extra}
        ),
        spec.conn_type,
    )
    settings = spec.codec.settings(values)
    sample_job = spec.job({**simulator.job_params, id_field: SAMPLE_JOB_ID})

    def parse(body: bytes) -> ImportResult:
        response = HttpResponse(200, {"content-type": "application/json"}, body, "http://127.0.0.1:9/")
        return spec.codec.decode_status(response, settings, sample_job)

    return VendorCase(
        vendor=vendor,
        sensor_class=spec.sensor_class,
        job_params=dict(simulator.job_params),
        job_kwargs=lambda job: spec.job({**simulator.job_params, id_field: job["job_id"]}).to_params(),
        bad_credentials=dict(simulator.bad_credentials),
        secrets=simulator.secrets,
        parse=parse,
        sample=simulator.sample_status(),
        success_statuses=spec.status_table.succeeded,
        not_found_requests=simulator.not_found_requests,
        id_field=id_field,
        status_request=dict(simulator.status_request),
        expected_job_id=SAMPLE_JOB_ID,
        operator_class=spec.operator_class,
        contact_mapping=dict(simulator.contact_mapping),
        upload_request=dict(simulator.upload_request),
        start_request=dict(simulator.start_request),
    )


def _operator_path(vendor: str) -> str | None:
    """The vendor's operator class path, if its module exists (nothing imported)."""
    from airflow_import_status.vendors import get_spec

    return get_spec(vendor).operator_class_name


def _vendor_keys() -> list[str]:
    import tests.toy_vendor  # noqa: F401  (registers the toy vendor through the registry alone)
    from airflow_import_status.vendors import all_specs

    return [spec.key for spec in all_specs()]


VENDOR_CASES: list[str] = _vendor_keys()
"""Every vendor the cross-vendor suites run over: the shipped ones and the tests' toy vendor."""


OPERATOR_VENDORS: list[str] = [key for key in VENDOR_CASES if _operator_path(key)]
"""Every vendor with a start-import operator (its spec names one; no list kept by hand)."""


def vendor_case(vendor: str) -> VendorCase:
    return case_from_spec(vendor)


def operator_class(case: VendorCase) -> type[ImportStartOperator]:
    """The case's start-import operator (the vendor must have one: see :data:`OPERATOR_VENDORS`)."""
    assert case.operator_class is not None, f"{case.vendor} has no start-import operator"
    return case.operator_class
