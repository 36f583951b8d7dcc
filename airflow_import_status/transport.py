"""The one transport every vendor goes through, with one set of rules on both paths.

Vendor flows are sans-I/O generators (the h11 way): they yield :class:`HttpRequest` (or a
:class:`Shared` value such as a token or a WSDL) and are sent the answer. Two drivers send the
requests, with the same rules written once here:

- :class:`SyncTransport` on ``requests`` (workers: poke/reschedule, operators, the UI);
- :class:`AsyncTransport` on one ``aiohttp`` pool per event loop and target (the triggerer).

The rules:

- **bounded in time**: the connection's ``timeout`` bounds a whole request (waiting for a
  pooled connection, connecting, headers and body), not each read;
- **bounded in memory**: the body cap applies to the *decoded* bytes; decoding streams and
  stops at the cap; a stacked or unknown ``Content-Encoding`` is refused;
- **never redirected**: a 3xx is a permanent error naming the ``Location``'s origin only;
- **never resent behind your back**: no library retries (aiohttp's silent re-send on a
  dropped keep-alive connection is off); every retry is the poll policy's decision, and a
  request with ``idempotent=False`` (an upload) is never retried by it either;
- **no cookies** on either path: a vendor session never leaks from one job to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.cookiejar
import json as jsonlib
import socket
import threading
import time
import zlib
from collections.abc import Callable, Generator, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode, urlsplit

import aiohttp
import requests
import urllib3
import yarl
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from airflow_import_status import __version__
from airflow_import_status.errors import PermanentVendorError, TransientVendorError, VendorPayloadError

T = TypeVar("T")
V = TypeVar("V")

MAX_BODY_BYTES = 5 * 1024 * 1024
"""The most a vendor answer may hold, after decoding (5 MiB)."""

CHUNK_BYTES = 64 * 1024

DEFAULT_TIMEOUT_SECONDS = 30.0
"""Whole-request bound when the connection does not set ``timeout``."""

DEFAULT_MAX_CONNECTIONS = 100
"""Connections per event loop and target when the connection does not set ``max_connections``."""

ACCEPT_ENCODING = "gzip, deflate"
"""What both paths advertise: the encodings :class:`BodyDecoder` reads, one layer deep."""

USER_AGENT = f"airflow-import-status/{__version__}"
"""How both paths name themselves to a vendor (a request's own ``User-Agent`` header wins)."""

_SKIP_CONTENT_TYPE = frozenset({"Content-Type"})


@dataclass(frozen=True)
class TransportSettings:
    """How to reach a vendor: whole-request timeout, TLS verification (on by default), pool size."""

    timeout: float = DEFAULT_TIMEOUT_SECONDS
    verify: bool = True
    ca_bundle: str | None = None
    max_connections: int = DEFAULT_MAX_CONNECTIONS


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request, as a vendor flow builds it: the body is the exact bytes sent."""

    method: str
    url: str
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    idempotent: bool = True
    """False for requests that create or add (uploads, job creation): never retried."""

    @classmethod
    def with_json(cls, method: str, url: str, body: Any, **kwargs: Any) -> HttpRequest:
        """A request whose body is ``body`` serialised once (signers sign exactly these bytes)."""
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        content = jsonlib.dumps(body, separators=(",", ":")).encode()
        return cls(method, url, headers=headers, content=content, **kwargs)

    @classmethod
    def with_form(cls, method: str, url: str, form: Mapping[str, str], **kwargs: Any) -> HttpRequest:
        """A request with an ``application/x-www-form-urlencoded`` body (credentials stay out of URLs)."""
        headers = {"Content-Type": "application/x-www-form-urlencoded", **kwargs.pop("headers", {})}
        return cls(method, url, headers=headers, content=urlencode(form).encode(), **kwargs)

    @property
    def full_url(self) -> str:
        return f"{self.url}?{urlencode(self.params)}" if self.params else self.url

    def describe(self) -> str:
        """How errors name the request: method and URL without its query."""
        return f"{self.method} {self.url.split('?')[0]}"


@dataclass(frozen=True)
class HttpResponse:
    """One HTTP response, header names lower-cased, body decoded and capped."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class Fresh(Generic[V]):
    """A shared value and how long it stays good (``None``: until a flow says it was refused)."""

    value: V
    ttl: float | None = None
    secrets: tuple[str, ...] = ()
    """Strings in ``value`` to scrub and mask (a token), registered before any request carries them."""


@dataclass(frozen=True, eq=False)
class Shared(Generic[V]):
    """A value many flows of a process share (a bearer token, a parsed WSDL).

    The drivers fetch it once per ``key`` (one request in flight per key, whoever asks), keep
    it until its ``ttl`` runs out, and send the flow the value. ``refused`` is the value the
    vendor just rejected: it is fetched anew unless another flow already replaced it.
    """

    key: Hashable
    request: HttpRequest
    decode: Callable[[HttpResponse], Fresh[V]]
    refused: V | None = None
    heavy: bool = False
    """Decode in a worker thread on the async path (e.g. parsing a WSDL)."""


Request = HttpRequest | Shared[Any]
Flow = Generator[Request, Any, T]
"""A sans-I/O vendor flow: yields requests, is sent answers, returns its result."""


@functools.lru_cache(maxsize=4096)
def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@functools.lru_cache(maxsize=8192)
def _yarl_url(url: str) -> yarl.URL:
    """A request's URL as aiohttp takes it (immutable, so one per URL: a job's status URL is parsed once)."""
    return yarl.URL(url, encoded=False)


# ----- the rules, written once ---------------------------------------------------------------------
class BodyDecoder:
    """Streams a body through its ``Content-Encoding`` (one layer at most) under a cap on decoded bytes."""

    def __init__(self, vendor: str, content_encoding: str | None, cap: int = MAX_BODY_BYTES) -> None:
        self.vendor = vendor
        self.cap = cap
        self._body = bytearray()
        self._raw = 0
        self._inflater: Any = None
        if not content_encoding:
            return
        encodings = [name.strip().lower() for name in content_encoding.split(",")]
        encodings = [name for name in encodings if name and name != "identity"]
        if len(encodings) > 1:
            raise VendorPayloadError(
                f"refused a body with stacked Content-Encoding {content_encoding!r} (one layer at most)", vendor=vendor
            )
        if encodings:
            name = encodings[0]
            if name in ("gzip", "x-gzip"):
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            elif name == "deflate":
                self._inflater = zlib.decompressobj()
            else:
                raise VendorPayloadError(f"refused a body with unknown Content-Encoding {name!r}", vendor=vendor)

    def _too_large(self) -> VendorPayloadError:
        return VendorPayloadError(f"response exceeds the {self.cap}-byte cap (decoded)", vendor=self.vendor)

    def feed(self, chunk: bytes) -> None:
        self._raw += len(chunk)
        if self._raw > self.cap:
            raise self._too_large()
        if self._inflater is None:
            self._body += chunk
        else:
            pending = chunk
            while pending:
                try:  # never more output than one byte past the cap (max_length 0 would mean "all")
                    out = self._inflater.decompress(pending, self.cap - len(self._body) + 1)
                except zlib.error as err:
                    raise VendorPayloadError(
                        f"the compressed body does not inflate: {err}", vendor=self.vendor
                    ) from None
                self._body += out
                if len(self._body) > self.cap:
                    raise self._too_large()
                pending = self._inflater.unconsumed_tail
                if self._inflater.eof:
                    break
        if len(self._body) > self.cap:
            raise self._too_large()

    def finish(self) -> bytes:
        if self._inflater is not None and not self._inflater.eof and self._raw:
            raise VendorPayloadError("the compressed body ends before its end marker", vendor=self.vendor)
        return bytes(self._body)


REDIRECT_STATUSES = frozenset({300, 301, 302, 303, 305, 307, 308})


def refuse_redirect(vendor: str, request: HttpRequest, status: int, location: str | None) -> None:
    """A redirect is never followed: credentials would go wherever it points."""
    if status in REDIRECT_STATUSES:
        target = origin_of(location) if location and "://" in location else "a path on the same host"
        raise PermanentVendorError(
            f"HTTP {status}: {request.describe()} was redirected to {target}; nothing was sent there "
            "(redirects are never followed: check the connection's host)",
            vendor=vendor,
        )


def _timed_out(vendor: str, request: HttpRequest, timeout: float, what: str = "") -> TransientVendorError:
    return TransientVendorError(
        f"{request.describe()} timed out: no whole answer within the {timeout:g}s timeout{what}", vendor=vendor
    )


def _failed(vendor: str, request: HttpRequest, err: BaseException) -> TransientVendorError:
    # The library's text may quote the URL: keep only the exception type and the first words.
    detail = str(err).split("?")[0][:160]
    return TransientVendorError(f"{request.describe()} failed: {type(err).__name__}: {detail}", vendor=vendor)


# ----- sync: requests, with a watchdog bounding the whole request ---------------------------------
class _Deadline:
    """Shuts the request's socket when the whole-request timeout runs out (reads alone are per-read)."""

    def __init__(self, seconds: float) -> None:
        self.fired = threading.Event()
        self.connection: HTTPConnection | None = None
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired.set()
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        _CURRENT.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        _CURRENT.deadline = None


class _Current(threading.local):
    deadline: _Deadline | None = None


_CURRENT = _Current()


def _watch(connection: HTTPConnection) -> None:
    deadline = _CURRENT.deadline
    if deadline is not None:
        deadline.connection = connection
        if deadline.fired.is_set():
            raise urllib3.exceptions.TimeoutError("the whole-request timeout ran out while connecting")


class _WatchedHTTPConnection(HTTPConnection):
    """Tells the request's deadline which socket to shut."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """No retries at all (urllib3 ``Retry(0)``, reads included), pools whose sockets a deadline can shut."""

    def __init__(self) -> None:
        super().__init__(max_retries=urllib3.Retry(total=0, read=False, redirect=False, raise_on_redirect=False))

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


_NO_COOKIES = http.cookiejar.DefaultCookiePolicy(allowed_domains=[])


class SyncTransport:
    """Blocking requests for workers, by the shared rules. One per hook (it keeps a session)."""

    def __init__(self, vendor: str, settings: TransportSettings) -> None:
        self.vendor = vendor
        self.settings = settings
        self._session = requests.Session()
        self._session.cookies.set_policy(_NO_COOKIES)
        self._session.trust_env = False  # no .netrc credentials or proxies behind the connection's back
        self._session.headers["User-Agent"] = USER_AGENT
        adapter = _WatchedAdapter()
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def send(self, request: HttpRequest) -> HttpResponse:
        timeout = self.settings.timeout
        deadline = time.monotonic() + timeout
        with _Deadline(timeout) as watchdog:
            try:
                with self._session.request(
                    request.method,
                    request.url,
                    params=request.params,
                    headers={"Accept-Encoding": ACCEPT_ENCODING, **request.headers},
                    data=request.content,
                    timeout=(timeout, timeout),
                    verify=(self.settings.ca_bundle or True) if self.settings.verify else False,
                    stream=True,
                    allow_redirects=False,
                ) as response:
                    refuse_redirect(self.vendor, request, response.status_code, response.headers.get("location"))
                    decoder = BodyDecoder(self.vendor, response.headers.get("content-encoding"))
                    for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):
                        decoder.feed(chunk)
                        if time.monotonic() > deadline:
                            raise _timed_out(self.vendor, request, timeout)
                    return HttpResponse(
                        response.status_code,
                        {key.lower(): value for key, value in response.headers.items()},
                        decoder.finish(),
                        request.url,
                    )
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
                if watchdog.fired.is_set() or isinstance(err, requests.Timeout) or time.monotonic() > deadline:
                    raise _timed_out(self.vendor, request, timeout) from None
                raise _failed(self.vendor, request, err) from None

    def close(self) -> None:
        self._session.close()


# ----- async: one aiohttp pool per event loop and target ------------------------------------------
def new_async_session(verify: Any, max_connections: int) -> aiohttp.ClientSession:
    """A pooled session by the shared rules: no cookies, no decompression, no silent re-sends."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=verify, limit=max_connections),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=None),
        trust_env=False,
    )
    # aiohttp re-sends an idempotent request once when a reused connection drops (RFC 9112 9.3.1);
    # every retry here is the poll policy's decision, counted and backed off.
    session._retry_connection = False
    return session


def _has_content_type(request: HttpRequest) -> bool:
    return any(name.lower() == "content-type" for name in request.headers)


class AsyncTransport:
    """Non-blocking requests for the triggerer, by the shared rules, over the loop's shared pool."""

    def __init__(self, vendor: str, settings: TransportSettings, session_for: Callable[[str], aiohttp.ClientSession]):
        self.vendor = vendor
        self.settings = settings
        self._session_for = session_for

    async def send(self, request: HttpRequest) -> HttpResponse:
        timeout = self.settings.timeout
        session = self._session_for(request.url)
        try:
            async with asyncio.timeout(timeout):
                async with session.request(
                    request.method,
                    _yarl_url(request.full_url),
                    headers={"Accept-Encoding": ACCEPT_ENCODING, "User-Agent": USER_AGENT, **request.headers},
                    data=request.content,
                    allow_redirects=False,
                    # aiohttp labels a POST without a Content-Type as octet-stream; asking it not to costs a header
                    # table per request, so only a request without one asks (polls always name theirs)
                    skip_auto_headers=None if _has_content_type(request) else _SKIP_CONTENT_TYPE,
                ) as response:
                    refuse_redirect(self.vendor, request, response.status, response.headers.get("location"))
                    decoder = BodyDecoder(self.vendor, response.headers.get("content-encoding"))
                    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                        decoder.feed(chunk)
                    return HttpResponse(
                        response.status,
                        {key.lower(): value for key, value in response.headers.items()},
                        decoder.finish(),
                        request.url,
                    )
        except TimeoutError:
            raise _timed_out(self.vendor, request, timeout, " (including the wait for a pooled connection)") from None
        except (aiohttp.ClientError, OSError) as err:
            raise _failed(self.vendor, request, err) from None
