"""Shared hook plumbing: connection settings, sync and async transport, the flow driver.

A vendor hook is a small adapter. It supplies:

- ``parse_connection(conn)``: the Airflow connection to a frozen settings object (pure);
- ``status_flow(settings, job)``: a *sans-I/O* generator that yields requests, receives
  responses and returns an :class:`ImportResult` (pure parsing inside);
- ``check_flow(settings)``: the same for ``test_connection``.

The base class drives a flow either synchronously (``requests``, in workers) or
asynchronously (``httpx`` over one ``aiohttp`` pool per event loop and target, in the
triggerer), so both paths share one request builder and one parser, and paging, token
fetches or re-authentication are written once.
"""

from __future__ import annotations

import asyncio
import email.utils
import http.cookiejar
import re
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
import certifi
import httpx
import requests
import yarl
from airflow.sdk import BaseHook

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    ImportStatusError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorPayloadError,
    snippet,
)
from airflow_import_status.hooks.tokens import take_unmasked_tokens
from airflow_import_status.parsing import MAX_PAYLOAD_BYTES
from airflow_import_status.result import ImportResult
from airflow_import_status.version_compat import amask_secret, mask_secret

if TYPE_CHECKING:
    from airflow.sdk import Connection

T = TypeVar("T")

DEFAULT_TIMEOUT_SECONDS = 30.0
"""Per-request timeout when the connection does not set ``timeout``."""

DEFAULT_MAX_CONNECTIONS = 100
"""Connections per event loop and target when the connection does not set ``max_connections``."""


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request, as built by a vendor flow."""

    method: str
    url: str
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None


@dataclass(frozen=True)
class HttpResponse:
    """One HTTP response, header names lower-cased."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


Flow = Generator[Any, Any, T]
"""A sans-I/O vendor flow: yields requests, is sent responses, returns its result."""


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def bool_extra(extra: Mapping[str, Any], name: str, default: bool) -> bool:
    """A boolean connection extra: a JSON bool or true/false/1/0/yes/no/on/off; else a clear error."""
    value = extra.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise PermanentVendorError(f"connection extra {name!r} must be true or false, got {value!r}")


@dataclass(frozen=True)
class TransportSettings:
    """How to reach a vendor: per-request timeout and TLS verification (on by default)."""

    timeout: float = DEFAULT_TIMEOUT_SECONDS
    verify: bool = True
    ca_bundle: str | None = None
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    """Connections one event loop keeps open to this target (extra ``max_connections``)."""

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> TransportSettings:
        try:
            timeout = float(extra.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
        except (TypeError, ValueError):
            raise PermanentVendorError(
                f"connection extra 'timeout' is not a number: {extra.get('timeout')!r}"
            ) from None
        if timeout <= 0:
            raise PermanentVendorError(f"connection extra 'timeout' must be positive, got {timeout}")
        max_connections = extra.get("max_connections") or DEFAULT_MAX_CONNECTIONS
        if not str(max_connections).isdigit() or int(max_connections) < 1:
            raise PermanentVendorError(
                f"connection extra 'max_connections' must be a positive integer, got {max_connections!r}"
            )
        return cls(
            timeout=timeout,
            verify=bool_extra(extra, "verify_ssl", True),
            ca_bundle=extra.get("ca_bundle") or None,
            max_connections=int(max_connections),
        )


class VendorSettings(Protocol):
    """What every vendor's settings object offers the shared plumbing."""

    transport: TransportSettings

    def secret_values(self) -> tuple[str, ...]: ...


SettingsT = TypeVar("SettingsT", bound=VendorSettings)


def connection_extra(conn: Connection, conn_type: str) -> dict[str, Any]:
    """The connection's extras, accepting both ``name`` and legacy ``extra__{type}__name`` keys."""
    extra = dict(conn.extra_dejson or {})
    prefix = f"extra__{conn_type}__"
    for key in list(extra):
        if key.startswith(prefix):
            extra.setdefault(key[len(prefix) :], extra[key])
    return extra


def base_url_of(conn: Connection, default_scheme: str = "https") -> str:
    """``scheme://host[:port][/path]`` from a connection whose host may already hold a URL."""
    host = (conn.host or "").strip()
    if not host:
        raise PermanentVendorError(f"connection {conn.conn_id!r} has no host / base URL")
    if "://" not in host:
        scheme = conn.schema if conn.schema in ("http", "https") else default_scheme
        host = f"{scheme}://{host}"
    if conn.port and host.count(":") < 2:
        scheme, _, rest = host.partition("://")
        netloc, slash, path = rest.partition("/")
        host = f"{scheme}://{netloc}:{conn.port}{slash}{path}"
    return host.rstrip("/")


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, from delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def raise_for_http_status(vendor: str, response: HttpResponse, what: str, secrets: tuple[str, ...] = ()) -> None:
    """The generic HTTP status mapping every REST vendor starts from.

    ``what`` names the thing asked for (e.g. "import job 12 of list 3") for 404 messages.
    Vendors handle their own error bodies first and call this for everything else.
    """
    status = response.status
    if 200 <= status < 300:
        return
    quoted = snippet(response.body, secrets)
    if 300 <= status < 400:
        location = response.headers.get("location", "?").split("?")[0]
        raise PermanentVendorError(
            f"HTTP {status}: redirected to {location}; check the connection's base URL", vendor=vendor
        )
    if status in (401, 403):
        raise AuthenticationError(f"HTTP {status}: the vendor refused the credentials: {quoted!r}", vendor=vendor)
    if status == 404:
        raise JobNotFoundError(f"HTTP 404: {what} was not found: {quoted!r}", vendor=vendor)
    if status in (400, 422):
        raise BadRequestError(f"HTTP {status}: the vendor refused the request: {quoted!r}", vendor=vendor)
    if status in (408, 429) or status >= 500:
        raise TransientVendorError(
            f"HTTP {status} from the vendor: {quoted!r}",
            vendor=vendor,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    raise PermanentVendorError(f"unexpected HTTP {status}: {quoted!r}", vendor=vendor)


_SSL_CONTEXTS: dict[str | None, ssl.SSLContext] = {}


def shared_ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """One SSL context per CA bundle per process (building one costs ~24 ms of CPU)."""
    context = _SSL_CONTEXTS.get(ca_bundle)
    if context is None:
        context = ssl.create_default_context(cafile=ca_bundle or certifi.where())
        _SSL_CONTEXTS[ca_bundle] = context
    return context


def _verify_option(transport: TransportSettings) -> ssl.SSLContext | bool:
    return shared_ssl_context(transport.ca_bundle) if transport.verify else False


class _AiohttpStream(httpx.AsyncByteStream):
    """An aiohttp response body as an httpx stream; closing it hands the connection back."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(64 * 1024):
                yield chunk
        except TimeoutError as err:
            raise httpx.ReadTimeout(f"reading the response timed out: {err}") from err
        except aiohttp.ClientError as err:
            raise httpx.ReadError(f"{type(err).__name__}: {err}") from err

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's client API over aiohttp's connection pool.

    httpcore's pool assigns queued requests to connections in O(requests x connections) per
    event: with a thousand triggers polling through one client it is CPU-bound and requests
    end in ``PoolTimeout`` (``benchmarks/transports.py``). aiohttp's connector queues waiters
    in O(1), so one pool per event loop and target serves thousands of triggers. Redirects,
    decompression and headers stay httpx's; errors become httpx's, so callers (zeep included)
    see one client type.
    """

    def __init__(self, verify: ssl.SSLContext | bool, max_connections: int) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=verify, limit=max_connections),
            cookie_jar=aiohttp.DummyCookieJar(),  # a shared pool must not carry one job's session to another
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        try:
            response = await self._session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=await request.aread() or None,
                allow_redirects=False,
                # waiting for a free pooled connection is not a connect timeout (httpx's "pool")
                timeout=aiohttp.ClientTimeout(sock_connect=timeout.get("connect"), sock_read=timeout.get("read")),
            )
        except aiohttp.ConnectionTimeoutError as err:
            raise httpx.ConnectTimeout(f"connecting timed out: {err}") from err
        except TimeoutError as err:
            raise httpx.ReadTimeout(f"waiting for the response timed out: {err}") from err
        except aiohttp.ClientError as err:
            raise httpx.ConnectError(f"{type(err).__name__}: {err}") from err
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_AiohttpStream(response),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        await self._session.close()


_NO_COOKIES = http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
"""Shared clients keep no cookies: vendor sessions (e.g. Luminate's JSESSIONID) never mix."""

ClientKey = tuple[str | None, TransportSettings]
"""What one shared client serves: a target origin (``scheme://host:port``) and its transport settings."""

_LOOP_CLIENTS: dict[asyncio.AbstractEventLoop, dict[ClientKey, httpx.AsyncClient]] = {}
_LOOP_CLOSERS: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
_PARKING: set[asyncio.Task[None]] = set()


async def _close_clients_at_shutdown(loop: asyncio.AbstractEventLoop) -> AsyncGenerator[None, None]:
    """Parked at its ``yield`` for the loop's lifetime: ``asyncio.run`` closes every async
    generator of its loop before closing the loop, which closes the loop's clients in it."""
    try:
        yield
    finally:
        _LOOP_CLOSERS.pop(loop, None)
        for client in _LOOP_CLIENTS.pop(loop, {}).values():
            await client.aclose()


async def _park(generator: AsyncGenerator[None, None]) -> None:
    await anext(generator)


def shared_async_client(transport: TransportSettings, url: str | None = None) -> httpx.AsyncClient:
    """One ``httpx.AsyncClient`` per running event loop and target (``url``'s origin + transport).

    All triggers of a triggerer reaching one vendor share its connection pool (aiohttp's, see
    :class:`AiohttpTransport`) and the process's SSL context. Nothing crosses event loops
    (``dag.test()`` and the triggerer run different loops): the clients of a loop are closed
    and forgotten when ``asyncio.run`` shuts the loop down.
    """
    loop = asyncio.get_running_loop()
    clients = _LOOP_CLIENTS.get(loop)
    if clients is None:
        clients = _LOOP_CLIENTS[loop] = {}
        closer = _LOOP_CLOSERS[loop] = _close_clients_at_shutdown(loop)
        parking = loop.create_task(_park(closer))  # first iterated in this loop: its shutdown closes it
        _PARKING.add(parking)
        parking.add_done_callback(_PARKING.discard)
    key = (_origin(url), transport)
    client = clients.get(key)
    if client is None or client.is_closed:
        client = clients[key] = httpx.AsyncClient(
            transport=AiohttpTransport(_verify_option(transport), transport.max_connections),
            timeout=transport.timeout,
            cookies=http.cookiejar.CookieJar(policy=_NO_COOKIES),
        )
    return client


def _origin(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _too_large(vendor: str) -> VendorPayloadError:
    return VendorPayloadError(f"response exceeds the {MAX_PAYLOAD_BYTES}-byte cap", vendor=vendor)


_QUERY_STRING = re.compile(r"\?[^\s'\"()]*")
"""A URL's query string inside an error text (requests quotes the URL, query and all)."""


def _network_error(vendor: str, request: HttpRequest, err: Exception) -> TransientVendorError:
    kind = "timed out" if isinstance(err, (requests.Timeout, httpx.TimeoutException)) else "failed"
    detail = _QUERY_STRING.sub("?...", str(err))
    return TransientVendorError(
        f"{request.method} {request.url.split('?')[0]} {kind}: {type(err).__name__}: {snippet(detail)}",
        vendor=vendor,
    )


class ImportStatusHook(BaseHook, Generic[SettingsT]):
    """Base of every vendor hook. Subclasses set the class attributes and the three adapters."""

    vendor: ClassVar[str]
    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name
        self._settings: SettingsT | None = None
        self._session: requests.Session | None = None

    # ----- the vendor adapter -------------------------------------------------------------
    @classmethod
    def parse_connection(cls, conn: Connection) -> SettingsT:
        """Turn the Airflow connection into the vendor's settings (pure; raise on bad input)."""
        raise NotImplementedError

    def status_flow(self, settings: SettingsT, job: Mapping[str, Any]) -> Flow[ImportResult]:
        """Yield the requests that read one import job's status; return the normalized result."""
        raise NotImplementedError

    def check_flow(self, settings: SettingsT) -> Flow[str]:
        """Yield the requests that prove the connection works; return a message for the UI."""
        raise NotImplementedError

    @classmethod
    def job_label(cls, job: Mapping[str, Any]) -> str:
        """How logs and errors name one import job."""
        return ", ".join(f"{key}={value}" for key, value in job.items())

    def console_url(self, job: Mapping[str, Any]) -> str | None:
        """A link to the job in the vendor's web console, where one is known."""
        return None

    # ----- settings -----------------------------------------------------------------------
    def get_settings(self) -> SettingsT:
        """Settings from the connection (read once per hook); secrets go to the masker."""
        if self._settings is None:
            settings = self.parse_connection(self.get_connection(self.conn_id))
            for secret in (*settings.secret_values(), *take_unmasked_tokens()):
                if secret:
                    mask_secret(secret)
            self._settings = settings
        return self._settings

    async def aget_settings(self) -> SettingsT:
        """Settings from the connection, resolved and masked without blocking the event loop."""
        if self._settings is None:
            settings = self.parse_connection(await self.aget_connection(self.conn_id))
            for secret in (*settings.secret_values(), *take_unmasked_tokens()):
                if secret:
                    await amask_secret(secret)
            self._settings = settings
        return self._settings

    # ----- transport ----------------------------------------------------------------------
    def send(self, request: Any, settings: SettingsT) -> Any:
        """Perform one request of a flow synchronously (HTTP by default)."""
        if self._session is None:
            self._session = requests.Session()
        transport = settings.transport
        try:
            with self._session.request(
                request.method,
                request.url,
                params=request.params,
                headers=dict(request.headers),
                json=request.json,
                data=request.content,
                timeout=transport.timeout,
                verify=(transport.ca_bundle or True) if transport.verify else False,
                stream=True,
                allow_redirects=False,  # like httpx: a redirect is the answer, never followed with the key
            ) as response:
                body = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > MAX_PAYLOAD_BYTES:
                        raise _too_large(self.vendor)
                return HttpResponse(
                    response.status_code,
                    {k.lower(): v for k, v in response.headers.items()},
                    bytes(body),
                    response.url,
                )
        except requests.RequestException as err:
            raise _network_error(self.vendor, request, err) from None

    async def asend(self, request: Any, settings: SettingsT) -> Any:
        """Perform one request of a flow with real async I/O (HTTP by default)."""
        client = shared_async_client(settings.transport, request.url)
        try:
            async with client.stream(
                request.method,
                request.url,
                params=request.params,
                headers=dict(request.headers),
                json=request.json,
                content=request.content,
            ) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_PAYLOAD_BYTES:
                        raise _too_large(self.vendor)
                return HttpResponse(
                    response.status_code,
                    {k.lower(): v for k, v in response.headers.items()},
                    bytes(body),
                    str(response.url),
                )
        except httpx.HTTPError as err:
            raise _network_error(self.vendor, request, err) from None

    # ----- driving flows ------------------------------------------------------------------
    def _unexpected(self, err: Exception) -> VendorPayloadError:
        """A library error no parser foresaw: typed and short in the message, the traceback in debug logs."""
        self.log.debug("Unexpected error in the %s flow", self.vendor, exc_info=err)
        return VendorPayloadError(
            f"unexpected {type(err).__name__} while reading the vendor's answer: {snippet(str(err))}",
            vendor=self.vendor,
        )

    def run_flow(self, flow: Flow[T], settings: SettingsT) -> T:
        """Drive a flow to its result with blocking I/O."""
        try:
            request = next(flow)
            while True:
                for token in take_unmasked_tokens():  # before the request that carries it
                    mask_secret(token)
                request = flow.send(self.send(request, settings))
        except StopIteration as stop:
            return stop.value
        except ImportStatusError:
            raise
        except Exception as err:
            raise self._unexpected(err) from None
        finally:
            flow.close()

    async def arun_flow(self, flow: Flow[T], settings: SettingsT) -> T:
        """Drive a flow to its result with async I/O, never blocking the event loop."""
        try:
            request = next(flow)
            while True:
                for token in take_unmasked_tokens():  # before the request that carries it
                    await amask_secret(token)
                request = flow.send(await self.asend(request, settings))
        except StopIteration as stop:
            return stop.value
        except ImportStatusError:
            raise
        except Exception as err:
            raise self._unexpected(err) from None
        finally:
            flow.close()

    # ----- the public API -----------------------------------------------------------------
    def poll(self, job: Mapping[str, Any]) -> ImportResult:
        """Read one import job's normalized status (sync)."""
        settings = self.get_settings()
        return self.run_flow(self.status_flow(settings, job), settings)

    async def apoll(self, job: Mapping[str, Any]) -> ImportResult:
        """Read one import job's normalized status (async, for the triggerer)."""
        settings = await self.aget_settings()
        return await self.arun_flow(self.status_flow(settings, job), settings)

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's connection test: reach the vendor with the stored credentials."""
        try:
            settings = self.get_settings()
            return True, self.run_flow(self.check_flow(settings), settings)
        except ImportStatusError as err:
            return False, str(err)
