"""The hook every vendor hook is: a :class:`VendorSpec` bound to an Airflow connection.

A vendor hook module is one class statement (``class Which50Hook(ImportStatusHook): spec =
SPEC``); the Airflow hook attributes come from the spec. The hook reads the connection through
the spec's schema, drives the vendor's sans-I/O flows through the shared transport
(:class:`SyncTransport` in workers, :class:`AsyncTransport` in the triggerer), and enforces
the two boundaries every vendor shares:

- **secrets**: connection secrets and the tokens flows create are scrubbed from every error
  and registered with Airflow's masker (once per process);
- **our bugs are not vendor faults**: only the vendor's typed errors (raised by the transport
  and the pure parsers) leave a flow as such; any other exception is a bug and propagates
  with its traceback.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from airflow.sdk import BaseHook

from airflow_import_status.errors import (
    ImportStatusError,
    PermanentVendorError,
    TransientVendorError,
    UnsafeToRetryError,
)
from airflow_import_status.hooks.connection_form import attach_connection_form
from airflow_import_status.result import ImportResult
from airflow_import_status.runtime import RUNTIME
from airflow_import_status.transport import AsyncTransport, Flow, HttpRequest, HttpResponse, Shared, SyncTransport
from airflow_import_status.vendors.spec import ConnectionFieldError, ConnectionValues, ImportJob, VendorSpec
from airflow_import_status.version_compat import AIRFLOW_V_3_2_PLUS

if TYPE_CHECKING:
    from types import TracebackType

    from airflow.sdk import Connection

T = TypeVar("T")
SettingsT = TypeVar("SettingsT")
JobT = TypeVar("JobT", bound=ImportJob)


class ImportStatusHook(BaseHook, Generic[SettingsT, JobT]):
    """Base of every vendor hook; a subclass sets ``spec`` and nothing else is required."""

    spec: ClassVar[VendorSpec[Any, Any]]
    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            cls.conn_name_attr = spec.conn_id_param
            cls.default_conn_name = spec.default_conn_id
            cls.conn_type = spec.conn_type
            cls.hook_name = spec.display_name
            if not AIRFLOW_V_3_2_PLUS:  # the UI reads the form from the hook class itself
                attach_connection_form(cls, spec.connection)

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        named = kwargs.pop(self.conn_name_attr, None)
        super().__init__(**kwargs)
        self.conn_id = conn_id or named or self.default_conn_name
        setattr(self, self.conn_name_attr, self.conn_id)
        self._settings: SettingsT | None = None
        self._sync: SyncTransport | None = None

    @property
    def vendor(self) -> str:
        return self.spec.key

    # ----- settings -----------------------------------------------------------------------------
    def _values(self, conn: Connection) -> ConnectionValues:
        try:
            return self.spec.connection.parse(conn, self.conn_type)
        except ConnectionFieldError as err:
            raise PermanentVendorError(str(err), vendor=self.vendor) from None

    def _build_settings(self, values: ConnectionValues) -> SettingsT:
        try:
            return self.spec.codec.settings(values)  # type: ignore[no-any-return]
        except ConnectionFieldError as err:
            raise PermanentVendorError(RUNTIME.scrubber(str(err)), vendor=self.vendor) from None

    def _own_settings(self, shared: SettingsT) -> SettingsT:
        """This hook's settings from the shared value (a vendor whose settings hold per-hook state copies it)."""
        return shared

    def _settings_variant(self) -> Hashable:
        """What else than the connection a subclass builds its settings from (its ``_build_settings``)."""
        return None

    def _connection_key(self, conn: Connection) -> tuple[Any, ...]:
        """Everything settings are built from: hooks of one connection, as read, share one settings value."""
        return (
            self._settings_variant(),
            self.vendor,
            self.conn_type,
            conn.conn_id,
            conn.host,
            conn.schema,
            conn.login,
            conn.password,
            conn.port,
            conn.extra,
        )

    def get_settings(self) -> SettingsT:
        """Settings from the connection (read once per hook); its secrets go to the masker."""
        if self._settings is None:
            conn = self.get_connection(self.conn_id)
            key = self._connection_key(conn)
            settings = RUNTIME.known_settings(key)
            if settings is None:
                values = self._values(conn)
                RUNTIME.mask(*values.secrets)
                settings = RUNTIME.keep_settings(key, self._build_settings(values))
            self._settings = self._own_settings(settings)
        return self._settings

    async def aget_settings(self) -> SettingsT:
        """Settings from the connection, resolved and masked without blocking the event loop."""
        if self._settings is None:
            conn = await RUNTIME.aconnection(self.conn_id, self.aget_connection)
            key = self._connection_key(conn)
            settings = RUNTIME.known_settings(key)
            if settings is None:
                values = self._values(conn)
                await RUNTIME.amask(*values.secrets)
                settings = RUNTIME.keep_settings(key, self._build_settings(values))
            self._settings = self._own_settings(settings)
        return self._settings

    # ----- driving flows ----------------------------------------------------------------------------
    def _send_sync(self, request: HttpRequest, settings: SettingsT) -> HttpResponse:
        if self._sync is None:
            self._sync = SyncTransport(self.vendor, self.spec.codec.transport(settings))
        with _retry_guard(request):
            return self._sync.send(request)

    def run_flow(self, flow: Flow[T], settings: SettingsT) -> T:
        """Drive a flow to its result with blocking I/O."""

        def send(request: HttpRequest) -> HttpResponse:
            return self._send_sync(request, settings)

        with _Driving(flow) as driving:
            for request in driving:
                driving.answer = RUNTIME.shared_value(request, send) if isinstance(request, Shared) else send(request)
        return driving.result

    async def arun_flow(self, flow: Flow[T], settings: SettingsT) -> T:
        """Drive a flow to its result with async I/O, never blocking the event loop."""
        transport_settings = self.spec.codec.transport(settings)
        transport = AsyncTransport(
            self.vendor, transport_settings, lambda url: RUNTIME.async_session(url, transport_settings)
        )

        async def send(request: HttpRequest) -> HttpResponse:
            with _retry_guard(request):
                return await transport.send(request)

        # a shared value's own deadline: the fetch (itself bounded by the timeout) plus decoding it
        deadline = 2 * transport_settings.timeout
        with _Driving(flow) as driving:
            for request in driving:
                if isinstance(request, Shared):
                    driving.answer = await RUNTIME.ashared_value(request, send, deadline, self.vendor)
                else:
                    driving.answer = await send(request)
        return driving.result

    # ----- the public API -------------------------------------------------------------------------
    def make_job(self, job: Mapping[str, Any] | ImportJob) -> JobT:
        return job if isinstance(job, ImportJob) else self.spec.job(job)  # type: ignore[return-value]

    @classmethod
    def job_label(cls, job: Mapping[str, Any] | ImportJob) -> str:
        """How logs and errors name one import job."""
        if isinstance(job, ImportJob):
            return job.describe()
        try:
            label: str = cls.spec.job(job).describe()
            return label
        except ValueError:
            return ", ".join(f"{key}={value}" for key, value in job.items())

    def poll(self, job: Mapping[str, Any] | ImportJob) -> ImportResult:
        """Read one import job's normalized status (sync)."""
        settings = self.get_settings()
        return self.run_flow(self.spec.codec.status_flow(settings, self.make_job(job)), settings)

    async def apoll(self, job: Mapping[str, Any] | ImportJob) -> ImportResult:
        """Read one import job's normalized status (async, for the triggerer)."""
        settings = await self.aget_settings()
        return await self.arun_flow(self.spec.codec.status_flow(settings, self.make_job(job)), settings)

    def _job_from_args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> JobT:
        names = self.spec.job_type.field_names()
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} jobs take at most {len(names)} positional fields {names}")
        return self.make_job({**dict(zip(names, args, strict=False)), **kwargs})

    def get_import_status(self, *args: Any, **kwargs: Any) -> ImportResult:
        """The normalized status of one import job (sync), its job fields positional or by name."""
        return self.poll(self._job_from_args(args, kwargs))

    async def aget_import_status(self, *args: Any, **kwargs: Any) -> ImportResult:
        """The normalized status of one import job (async), its job fields positional or by name."""
        return await self.apoll(self._job_from_args(args, kwargs))

    def console_url(self, job: Mapping[str, Any] | ImportJob) -> str | None:
        """A link to the job in the vendor's web console, where one is known."""
        url: str | None = self.spec.codec.console_url(self.get_settings(), self.make_job(job))
        return url

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's connection test: reach the vendor with the stored credentials."""
        try:
            settings = self.get_settings()
            return True, self.run_flow(self.spec.codec.check_flow(settings), settings)
        except ImportStatusError as err:
            return False, str(err)


class _Driving(Generic[T]):
    """A flow as either I/O path drives it: iterate its requests, set each one's ``answer``, read ``result``.

    As a context: the flow is closed however driving ends, and its typed errors leave scrubbed of secrets.
    """

    def __init__(self, flow: Flow[T]) -> None:
        self.flow = flow
        self.answer: Any = None
        self.result: T

    def __iter__(self) -> Iterator[HttpRequest | Shared[Any]]:
        while True:
            try:
                request = self.flow.send(self.answer)
            except StopIteration as stop:
                self.result = stop.value
                return
            yield request

    def __enter__(self) -> _Driving[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.flow.close()
        if isinstance(error, ImportStatusError):
            raise error.redacted(RUNTIME.scrubber) from None


@contextmanager
def _retry_guard(request: HttpRequest) -> Iterator[None]:
    """A transient fault of a request that creates or adds data is not retried: it may have reached the vendor."""
    try:
        yield
    except TransientVendorError as err:
        if request.idempotent:
            raise
        raise UnsafeToRetryError(
            f"{err}; {request.describe()} creates or adds data, so it is not retried automatically "
            "(it may have reached the vendor)",
            vendor=err.vendor,
        ) from None
