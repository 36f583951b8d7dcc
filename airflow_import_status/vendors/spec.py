"""What the package knows about one vendor, declared once: :class:`VendorSpec`.

This module and every ``vendors/<key>/spec.py`` import nothing from Airflow: Airflow reads the
provider info (built from the specs) while it is still importing itself.

Everything vendor-facing is derived from a spec: the provider info's connection type and its
``conn-fields`` / ``ui-field-behaviour``, the hook's settings parsing (from the same schema:
a field cannot be parsed without being in the form, nor the reverse), the sensor's job
parameters and ``template_fields``, the trigger's kwargs, the README tables, the test
registry, the demo and the benchmarks.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from airflow_import_status.result import ImportResult, StatusTable
from airflow_import_status.transport import DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT_SECONDS, TransportSettings

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_import_status.transport import Flow, HttpResponse


class ConnectionFieldError(ValueError):
    """A connection misses a field the vendor needs, or holds a value it cannot take."""


# ----- connection schema ------------------------------------------------------------------------------
STANDARD_FIELDS = ("host", "schema", "login", "password", "port")
"""Airflow's own connection form fields; those a vendor does not declare are hidden."""

_JSON_TYPES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


@dataclass(frozen=True)
class StandardField:
    """One of Airflow's own connection fields (host, login, password, ...) as a vendor uses it."""

    name: str
    label: str
    placeholder: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if self.name not in STANDARD_FIELDS:
            raise ValueError(f"{self.name!r} is not a standard connection field {STANDARD_FIELDS}")


@dataclass(frozen=True)
class ConnectionField:
    """One connection extra: its form widget and how it is parsed, from the same declaration."""

    name: str
    label: str
    kind: type = str
    default: Any = None
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    description: str | None = None
    required: bool = False
    validate: Callable[[Any], None] | None = None
    """Raises ``ValueError`` with a message for a value the vendor cannot take."""

    def form_entry(self) -> dict[str, Any]:
        """The provider info's ``conn-fields`` entry for this field."""
        json_type = _JSON_TYPES[self.kind]
        schema: dict[str, Any] = {"type": json_type if self.required else [json_type, "null"]}
        if self.choices:
            schema["enum"] = [*self.choices, *(() if self.required else (None,))]
        if self.default is not None:
            schema["default"] = self.default
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.secret:
            schema["format"] = "password"
        entry: dict[str, Any] = {"label": self.label, "schema": schema}
        if self.description:
            entry["description"] = self.description
        return entry

    def parse(self, raw: Any, conn_id: str) -> Any:
        """The typed value of this extra (its default when unset); a clear error otherwise."""
        if raw is None or raw == "":
            if self.required:
                raise ConnectionFieldError(f"connection {conn_id!r} needs the extra {self.name!r} ({self.label})")
            return self.default
        try:
            value = self._coerce(raw)
            if self.choices and value not in self.choices:
                raise ValueError(f"must be one of {', '.join(self.choices)}")
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be at least {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"must be at most {self.maximum:g}")
            if self.validate is not None:
                self.validate(value)
        except (TypeError, ValueError) as err:
            shown = "***" if self.secret else repr(raw)
            raise ConnectionFieldError(f"connection {conn_id!r}: extra {self.name!r} = {shown}: {err}") from None
        return value

    def _coerce(self, raw: Any) -> Any:
        if self.kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text not in _TRUE + _FALSE:
                raise ValueError("must be true or false")
            return text in _TRUE
        if self.kind is int:
            if isinstance(raw, bool) or not str(raw).strip().lstrip("-").isdigit():
                raise ValueError("must be a whole number")
            return int(str(raw).strip())
        if self.kind is float:
            if isinstance(raw, bool):
                raise ValueError("must be a number")
            return float(raw)
        if isinstance(raw, (dict, list)):
            raise ValueError("must be text")
        return str(raw).strip() if not self.secret else str(raw)


def _positive(value: float) -> None:
    if value <= 0:
        raise ValueError("must be positive")


TRANSPORT_FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "timeout",
        "Request timeout (seconds, whole request)",
        float,
        DEFAULT_TIMEOUT_SECONDS,
        validate=_positive,
        description="Bounds each whole request: waiting for a pooled connection, connecting, headers and body.",
    ),
    ConnectionField("verify_ssl", "Verify TLS certificates", bool, True),
    ConnectionField("ca_bundle", "CA bundle path (private CAs)"),
    ConnectionField(
        "max_connections",
        "Connections per triggerer event loop to this host",
        int,
        DEFAULT_MAX_CONNECTIONS,
        minimum=1,
    ),
)
"""Fields every connection type has: how the shared transport reaches the vendor."""


def status_fields(vendor_label: str) -> tuple[ConnectionField, ...]:
    """The extras that add vendor statuses to a configurable :class:`StatusTable`."""
    return tuple(
        ConnectionField(
            f"{state}_statuses",
            f"Extra {state} statuses (comma-separated)",
            description=f"{vendor_label} statuses counted as {state}, case-insensitive.",
        )
        for state in ("pending", "running", "success", "failure")
    )


class ConnectionValues:
    """A connection's declared fields, typed; reading an undeclared name is a bug (``KeyError``)."""

    def __init__(self, conn_id: str, values: Mapping[str, Any], secrets: tuple[str, ...]) -> None:
        self.conn_id = conn_id
        self._values = dict(values)
        self.secrets = secrets
        self.read: set[str] = set()
        """The names a settings builder read (tests check it reads every declared field)."""

    def __getitem__(self, name: str) -> Any:
        value = self._values[name]
        self.read.add(name)
        return value

    def require(self, name: str, what: str) -> Any:
        """A standard field the vendor cannot work without."""
        value = self[name]
        if value in (None, ""):
            raise ConnectionFieldError(f"connection {self.conn_id!r} has no {what} (the {name} field)")
        return value

    def transport(self) -> TransportSettings:
        return TransportSettings(
            timeout=self["timeout"],
            verify=self["verify_ssl"],
            ca_bundle=self["ca_bundle"] or None,
            max_connections=self["max_connections"],
        )

    def status_table(self, table: StatusTable) -> StatusTable:
        return table.configured({name: self[name] for name in self._values if name.endswith("_statuses")})


@dataclass(frozen=True)
class ConnectionSchema:
    """A connection type's form and parsing: the standard fields it uses and its extras."""

    standard: tuple[StandardField, ...]
    extras: tuple[ConnectionField, ...] = ()

    def __post_init__(self) -> None:
        names = [f.name for f in self.standard] + [f.name for f in self.all_extras]
        duplicates = {name for name in names if names.count(name) > 1}
        if duplicates:
            raise ValueError(f"connection fields declared twice: {sorted(duplicates)}")

    @property
    def all_extras(self) -> tuple[ConnectionField, ...]:
        return (*self.extras, *TRANSPORT_FIELDS)

    def conn_fields(self) -> dict[str, Any]:
        return {f.name: f.form_entry() for f in self.all_extras}

    def ui_field_behaviour(self) -> dict[str, Any]:
        used = {f.name for f in self.standard}
        behaviour: dict[str, Any] = {
            "hidden-fields": [name for name in STANDARD_FIELDS if name not in used] + ["extra"],
            "relabeling": {f.name: f.label for f in self.standard},
        }
        placeholders = {f.name: f.placeholder for f in self.standard if f.placeholder}
        if placeholders:
            behaviour["placeholders"] = placeholders
        return behaviour

    def parse(self, conn: Connection, conn_type: str) -> ConnectionValues:
        """The connection's declared fields, typed and validated (legacy ``extra__{type}__`` keys accepted)."""
        extra = dict(conn.extra_dejson or {})
        prefix = f"extra__{conn_type}__"
        for key in list(extra):
            if key.startswith(prefix):
                extra.setdefault(key[len(prefix) :], extra[key])
        values: dict[str, Any] = {name: getattr(conn, name, None) for name in STANDARD_FIELDS}
        values["port"] = conn.port
        conn_id = conn.conn_id or conn_type
        for standard in self.standard:
            if standard.required and values[standard.name] in (None, ""):
                raise ConnectionFieldError(
                    f"connection {conn_id!r} has no {standard.label} (the {standard.name} field)"
                )
        for extra_field in self.all_extras:
            values[extra_field.name] = extra_field.parse(extra.get(extra_field.name), conn_id)
        secrets = tuple(
            str(values[name])
            for name in ("password", *(f.name for f in self.all_extras if f.secret))
            if values.get(name)
        )
        return ConnectionValues(conn_id, values, secrets)


def base_url(values: ConnectionValues, default: str | None = None, default_scheme: str = "https") -> str:
    """``scheme://host[:port][/path]`` from the host field (which may hold a whole URL) and port."""
    host = (values["host"] or "").strip() or (default or "")
    if not host:
        raise ConnectionFieldError(f"connection {values.conn_id!r} has no host / base URL")
    if "://" not in host:
        scheme = values["schema"] if values["schema"] in ("http", "https") else default_scheme
        host = f"{scheme}://{host}"
    port = values["port"]
    if port and host.count(":") < 2:
        scheme, _, rest = host.partition("://")
        netloc, slash, path = rest.partition("/")
        host = f"{scheme}://{netloc}:{port}{slash}{path}"
    if not host.startswith(("https://", "http://")):
        raise ConnectionFieldError(f"connection {values.conn_id!r}: the host must be an http(s) URL, got {host!r}")
    return host.rstrip("/")


# ----- the job ------------------------------------------------------------------------------------------
def job_field(*, label: str, kind: type = str, job_id: bool = False, optional: bool = False) -> Any:
    """Declare one field of a vendor's :class:`ImportJob` (``kind`` is what it is coerced to)."""
    return field(
        default=None if optional else dataclasses.MISSING,
        metadata={"label": label, "kind": kind, "job_id": job_id, "optional": optional},
    )


class JobFieldError(ValueError):
    """A job parameter is missing, unknown or of the wrong type (a DAG author's mistake)."""


@dataclass(frozen=True)
class ImportJob:
    """Base of a vendor's job: a frozen dataclass of typed fields, one of them the job id."""

    label_format: ClassVar[str]
    """How logs name the job, e.g. ``"{import_job_id} of contact list {contact_list_id}"``."""

    @classmethod
    def job_fields(cls) -> tuple[dataclasses.Field[Any], ...]:
        return dataclasses.fields(cls)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls.job_fields())

    @classmethod
    def required_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls.job_fields() if not f.metadata["optional"])

    @classmethod
    def id_field(cls) -> str:
        [name] = [f.name for f in cls.job_fields() if f.metadata["job_id"]]
        return name

    @classmethod
    def check_params(cls, params: Mapping[str, Any], owner: str) -> None:
        """At DAG parse time: every required field given, no unknown one (values may still be templates)."""
        missing = [name for name in cls.required_names() if params.get(name) is None]
        if missing:
            raise JobFieldError(f"{owner} needs the job parameter(s) {', '.join(missing)}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ImportJob:
        """The job from rendered parameters, each coerced to its declared kind; errors name the field."""
        unknown = set(params) - set(cls.field_names())
        if unknown:
            raise JobFieldError(f"unknown job parameter(s) {', '.join(sorted(unknown))} for {cls.__name__}")
        values: dict[str, Any] = {}
        for job_field_ in cls.job_fields():
            raw = params.get(job_field_.name)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if job_field_.metadata["optional"]:
                    values[job_field_.name] = None
                    continue
                raise JobFieldError(f"job parameter {job_field_.name!r} ({job_field_.metadata['label']}) is missing")
            values[job_field_.name] = _coerce_job_value(job_field_, raw)
        return cls(**values)

    def to_params(self) -> dict[str, Any]:
        """JSON-safe parameters (trigger kwargs, XCom)."""
        return dataclasses.asdict(self)

    @property
    def job_id(self) -> str:
        return str(getattr(self, self.id_field()))

    def describe(self) -> str:
        return self.label_format.format(**self.to_params())


def _coerce_job_value(job_field_: dataclasses.Field[Any], raw: Any) -> Any:
    kind = job_field_.metadata["kind"]
    if kind is bool:
        text = str(raw).strip().lower()
        if not isinstance(raw, bool) and text not in _TRUE + _FALSE:
            raise JobFieldError(f"job parameter {job_field_.name!r} must be true or false, got {raw!r}")
        return raw if isinstance(raw, bool) else text in _TRUE
    if kind is int:
        text = str(raw).strip()
        if isinstance(raw, bool) or not text.isdigit():
            raise JobFieldError(f"job parameter {job_field_.name!r} must be a whole number, got {raw!r}")
        return int(text)
    if isinstance(raw, (dict, list, set, tuple)):
        raise JobFieldError(f"job parameter {job_field_.name!r} must be text, got {type(raw).__name__}")
    return str(raw).strip()


# ----- lineage ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListDataset:
    """The vendor's list (or campaign) an import writes into, as OpenLineage names it (docs/lineage.md).

    Namespace ``{vendor key}://{host[:port]}``: the connection's host (only the host and port of
    it, never a user or password it may carry), or ``default_host`` when the connection names
    none. Name: the first of ``names`` whose fields are all known, filled from the job fields and
    the connection's non-secret extras (a job field wins).
    """

    names: tuple[str, ...]
    """Format strings, e.g. ``"list/{list_id}"``; only job fields and non-secret extras can fill them."""
    default_host: str = ""


# ----- the vendor -------------------------------------------------------------------------------------------
SettingsT = TypeVar("SettingsT")
JobT = TypeVar("JobT", bound=ImportJob)
JobT_contra = TypeVar("JobT_contra", bound=ImportJob, contravariant=True)


class VendorCodec(Protocol[SettingsT, JobT_contra]):
    """A vendor's sans-I/O requests and pure parsers (nothing here performs I/O)."""

    def settings(self, values: ConnectionValues) -> SettingsT:
        """The vendor's settings from the connection's declared fields."""

    def status_flow(self, settings: SettingsT, job: JobT_contra) -> Flow[ImportResult]:
        """Read one job's status; return the normalized result."""

    def check_flow(self, settings: SettingsT) -> Flow[str]:
        """Prove the connection works; return a message for the UI."""

    def decode_status(self, response: HttpResponse, settings: SettingsT, job: JobT_contra) -> ImportResult:
        """Pure parser of one status answer (shared by both paths, fuzzed)."""

    def console_url(self, settings: SettingsT, job: JobT_contra) -> str | None:
        """A link to the job in the vendor's web console, where one is known."""

    def transport(self, settings: SettingsT) -> TransportSettings:
        """How to reach the vendor."""


@dataclass(frozen=True)
class VendorClasses:
    """Where a vendor's parts live, each named by its dotted path (``module.attribute``).

    Imported on first use: the hook, sensor, operator and simulator are higher layers than the spec
    (they import it), and Airflow reads the provider info without importing them.
    """

    codec: str
    """The codec instance (``CODEC`` in ``vendors/<key>/codec.py``)."""
    hook: str
    sensor: str
    simulator: str
    operator: str | None = None
    """The start-import operator, for a vendor whose start call is public."""


@dataclass(frozen=True)
class VendorSpec(Generic[SettingsT, JobT]):
    """Everything the package needs to know about one vendor."""

    key: str
    display_name: str
    api: str
    """The API waited on, as the README names it."""
    connection: ConnectionSchema
    job_type: type[JobT]
    status_table: StatusTable
    classes: VendorClasses
    doc_url: str = ""
    """The vendor's public API documentation (the provider info's ``external-doc-url``)."""
    docs: Mapping[str, str] = field(default_factory=dict)
    """README/docs facts: ``mapping`` (how each result key is filled), ``connection`` (prose)."""
    dataset: ListDataset | None = None
    """The list an import writes into, for OpenLineage; ``None`` where the job names none."""

    @property
    def conn_type(self) -> str:
        return self.key

    @property
    def default_conn_id(self) -> str:
        return f"{self.key}_default"

    @property
    def conn_id_param(self) -> str:
        """The sensor's / hook's connection-id parameter, Airflow style (e.g. ``which50_conn_id``)."""
        return f"{self.key}_conn_id"

    @property
    def hook_class_name(self) -> str:
        return self.classes.hook

    @property
    def sensor_class_name(self) -> str:
        return self.classes.sensor

    @property
    def operator_class_name(self) -> str | None:
        return self.classes.operator

    @cached_property
    def codec(self) -> VendorCodec[SettingsT, JobT]:
        codec: VendorCodec[SettingsT, JobT] = load(self.classes.codec)
        return codec

    @cached_property
    def hook_class(self) -> type[Any]:
        return load_class(self.classes.hook)

    @cached_property
    def sensor_class(self) -> type[Any]:
        return load_class(self.classes.sensor)

    @cached_property
    def operator_class(self) -> type[Any] | None:
        return load_class(self.classes.operator) if self.classes.operator else None

    @cached_property
    def simulator_class(self) -> type[Any]:
        return load_class(self.classes.simulator)

    def job(self, params: Mapping[str, Any]) -> JobT:
        return self.job_type.from_params(params)  # type: ignore[return-value]

    def connection_type(self) -> dict[str, Any]:
        """The provider info's ``connection-types`` entry."""
        return {
            "hook-class-name": self.hook_class_name,
            "hook-name": self.display_name,
            "connection-type": self.conn_type,
            "conn-fields": self.connection.conn_fields(),
            "ui-field-behaviour": self.connection.ui_field_behaviour(),
        }


def load(path: str) -> Any:
    """The object at dotted ``path`` (``module.attribute``), its module imported on first use."""
    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def load_class(path: str) -> type[Any]:
    """The class at dotted ``path``; a ``TypeError`` if ``path`` names something else."""
    found = load(path)
    if not isinstance(found, type):
        raise TypeError(f"{path} is not a class")
    return found
