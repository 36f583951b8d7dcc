"""All process-wide state of the provider, in one object with one documented lifetime.

What lives here, and for how long:

- **SSL contexts**, one per CA bundle, for the life of the process (building one costs ~24 ms);
- **async sessions**, one aiohttp pool per *running event loop* and target (origin + transport
  settings), closed when ``asyncio.run`` shuts that loop down: nothing crosses loops
  (``dag.test()`` and the triggerer run different ones);
- **first-poll pacing**, per event loop;
- **shared values** (bearer tokens, parsed WSDLs), per process, each until its TTL runs out or a
  flow reports it refused; one fetch in flight per key (a per-key lock in threads, one task per
  key and loop in async code, with its own deadline, cancelled when no waiter is left);
- **secrets**: every secret seen (connection secrets and the secrets shared values declare),
  known to one :class:`Scrubber` and registered with Airflow's masker once per process.

``RUNTIME`` is the process's instance; ``RUNTIME.reset()`` forgets everything (tests).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import aiohttp
import certifi

from airflow_import_status.errors import TransientVendorError
from airflow_import_status.scrubbing import MIN_SECRET_LENGTH, Scrubber
from airflow_import_status.transport import (
    Fresh,
    HttpResponse,
    Shared,
    TransportSettings,
    new_async_session,
    origin_of,
)
from airflow_import_status.version_compat import amask_secret, mask_secret

SETTINGS_KEPT = 1024
"""Distinct connections (as read) whose built settings the process keeps, shared by their hooks."""

T = TypeVar("T")

CONNECTION_REUSE_SECONDS = 30.0
"""Triggers of one event loop that start within this long of each other share one read of their
connection (Airflow's lookup costs about 0.5 ms of CPU: at a triggerer restart, 5,000 triggers of
one connection made 5,000 reads). A connection edited later reaches the triggers that start after."""

FIRST_POLL_SPACING_SECONDS = 0.002
"""Triggers starting together (a triggerer restart, many sensors deferring at once) make their
first polls at most this often per event loop (500 a second), not in one burst that stalls the
loop for every trigger (``benchmarks/triggerer_capacity.py``). A lone trigger polls at once."""


@dataclass
class _Stored:
    value: Any
    expires_at: float


class Runtime:
    """The provider's process-wide state (see the module docstring for each part's lifetime)."""

    def __init__(self) -> None:
        self.scrubber = Scrubber()
        self._masked: set[str] = set()
        self._known: set[str] = set()
        """Secrets already scrubbed and masked: a trigger start with them costs a set lookup."""
        self._ssl: dict[str | None, ssl.SSLContext] = {}
        self._sessions: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str, TransportSettings], aiohttp.ClientSession]
        ] = weakref.WeakKeyDictionary()
        self._closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = (
            weakref.WeakKeyDictionary()
        )
        """Each loop's closer, held here: an unreferenced async generator is finalized (and closes) at once."""
        self._parking: set[asyncio.Task[None]] = set()
        self._next_first_poll: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float] = weakref.WeakKeyDictionary()
        self._values: dict[Hashable, _Stored] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._inflight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _Inflight]] = (
            weakref.WeakKeyDictionary()
        )
        self._settings: dict[Hashable, Any] = {}
        self._connections: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, tuple[float, asyncio.Task[Any]]]
        ] = weakref.WeakKeyDictionary()
        self._loop_sessions: (
            tuple[weakref.ref[asyncio.AbstractEventLoop], dict[tuple[str, TransportSettings], aiohttp.ClientSession]]
            | None
        ) = None

    def reset(self) -> None:
        """Forget every value, context, session and secret (tests; sessions of running loops are left open)."""
        self.__init__()  # type: ignore[misc]

    # ----- secrets ------------------------------------------------------------------------------
    def add_secrets(self, *secrets: str) -> list[str]:
        """Know ``secrets`` in the scrubber; return the forms not yet registered with the masker."""
        fresh = [
            secret for secret in secrets if secret and len(secret) >= MIN_SECRET_LENGTH and secret not in self._known
        ]
        if not fresh:
            return []
        self._known.update(fresh)
        self.scrubber.add(*fresh)
        forms: list[str] = []
        for secret in fresh:
            for form in _masker_forms(secret):
                if form not in self._masked:
                    self._masked.add(form)
                    forms.append(form)
        return forms

    def mask(self, *secrets: str) -> None:
        """Scrub and mask ``secrets`` (each form registered with Airflow's masker once per process)."""
        for form in self.add_secrets(*secrets):
            mask_secret(form)

    async def amask(self, *secrets: str) -> None:
        """:meth:`mask` without blocking the event loop."""
        for form in self.add_secrets(*secrets):
            await amask_secret(form)

    # ----- connections and settings -----------------------------------------------------------------
    async def aconnection(self, conn_id: str, read: Callable[[str], Awaitable[T]]) -> T:
        """``read(conn_id)``, shared by the callers of this loop within ``CONNECTION_REUSE_SECONDS``.

        The read runs in a task of its own: Airflow's lookup (asgiref) leaves context variables in
        its caller's context, which a waiting trigger's task would keep for its whole wait.
        """
        loop = asyncio.get_running_loop()
        reads = self._connections.setdefault(loop, {})
        now = loop.time()
        entry = reads.get(conn_id)
        if entry is None or entry[0] <= now or (entry[1].done() and (entry[1].cancelled() or entry[1].exception())):
            entry = reads[conn_id] = (now + CONNECTION_REUSE_SECONDS, loop.create_task(read(conn_id)))  # type: ignore[arg-type]
        found: T = await asyncio.shield(entry[1])
        return found

    # ----- settings -------------------------------------------------------------------------------
    def known_settings(self, key: Hashable) -> Any:
        """The settings already built from a connection read exactly so (``key``), or ``None``.

        Its secrets were scrubbed and masked when it was built, in this process: hooks of one
        connection share one immutable settings value instead of one each per waiting trigger.
        """
        return self._settings.get(key)

    def keep_settings(self, key: Hashable, settings: T) -> T:
        if len(self._settings) >= SETTINGS_KEPT:
            del self._settings[next(iter(self._settings))]  # the oldest
        self._settings[key] = settings
        return settings

    # ----- TLS and pools --------------------------------------------------------------------------
    def ssl_context(self, ca_bundle: str | None) -> ssl.SSLContext:
        context = self._ssl.get(ca_bundle)
        if context is None:
            context = self._ssl[ca_bundle] = ssl.create_default_context(cafile=ca_bundle or certifi.where())
        return context

    def async_session(self, url: str, settings: TransportSettings) -> aiohttp.ClientSession:
        """The running loop's pooled session for ``url``'s origin and ``settings``."""
        loop = asyncio.get_running_loop()
        last = self._loop_sessions  # the loop of the previous request: no weak-key lookup per request
        if last is not None and last[0]() is loop:
            sessions = last[1]
        else:
            found = self._sessions.get(loop)
            if found is None:
                sessions = self._sessions[loop] = {}
                closer = self._closers[loop] = _close_at_shutdown(sessions)
                parking = loop.create_task(_park(closer))  # first iterated in this loop: its shutdown closes it
                self._parking.add(parking)
                parking.add_done_callback(self._parking.discard)
            else:
                sessions = found
            self._loop_sessions = (weakref.ref(loop), sessions)
        key = (origin_of(url), settings)
        session = sessions.get(key)
        if session is None or session.closed:
            verify = self.ssl_context(settings.ca_bundle) if settings.verify else False
            session = sessions[key] = new_async_session(verify, settings.max_connections)
        return session

    async def wait_for_first_poll_slot(self) -> None:
        """Wait for this event loop's next free first-poll slot (no wait when none is taken)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next_first_poll.get(loop, now))
        self._next_first_poll[loop] = slot + FIRST_POLL_SPACING_SECONDS
        if slot > now:
            await asyncio.sleep(slot - now)

    # ----- shared values ------------------------------------------------------------------------------
    def _cached(self, shared: Shared[Any]) -> Any:
        stored = self._values.get(shared.key)
        if stored is None or stored.expires_at <= time.time():
            return None
        if shared.refused is not None and stored.value == shared.refused:
            del self._values[shared.key]
            return None
        return stored.value

    def _store(self, shared: Shared[Any], fresh: Fresh[Any]) -> Any:
        expires_at = float("inf") if fresh.ttl is None else time.time() + fresh.ttl
        self._values[shared.key] = _Stored(fresh.value, expires_at)
        return fresh.value

    def shared_value(self, shared: Shared[Any], fetch: Callable[[Any], HttpResponse]) -> Any:
        """The shared value, fetched with blocking I/O by at most one thread at a time per key."""
        value = self._cached(shared)
        if value is not None:
            return value
        with self._locks_guard:
            lock = self._locks.setdefault(shared.key, threading.Lock())
        with lock:
            value = self._cached(shared)
            if value is None:
                fresh = shared.decode(fetch(shared.request))
                self.mask(*fresh.secrets)  # before any request carries them
                value = self._store(shared, fresh)
        return value

    async def ashared_value(
        self, shared: Shared[Any], fetch: Callable[[Any], Awaitable[HttpResponse]], deadline: float, vendor: str
    ) -> Any:
        """The shared value without blocking the loop: one fetch per key and loop, whoever waits for it."""
        value = self._cached(shared)
        if value is None:
            loop = asyncio.get_running_loop()
            inflight = self._inflight.setdefault(loop, {})
            entry = inflight.get(shared.key)
            if entry is None:
                entry = inflight[shared.key] = _Inflight(
                    loop.create_task(self._afetch(shared, fetch, deadline, vendor)),
                    lambda: inflight.pop(shared.key, None),
                )
            value = await entry.wait()
        return value

    async def _afetch(
        self, shared: Shared[Any], fetch: Callable[[Any], Awaitable[HttpResponse]], deadline: float, vendor: str
    ) -> Any:
        try:
            async with asyncio.timeout(deadline):
                response = await fetch(shared.request)
                fresh = await asyncio.to_thread(shared.decode, response) if shared.heavy else shared.decode(response)
        except TimeoutError:
            raise TransientVendorError(
                f"{shared.request.describe()} (shared by every job of this process) took longer than {deadline:g}s",
                vendor=vendor,
            ) from None
        await self.amask(*fresh.secrets)  # before any request carries them
        return self._store(shared, fresh)


class _Inflight:
    """One shared fetch and its waiters: cancelled when the last waiter gives up."""

    def __init__(self, task: asyncio.Task[Any], forget: Callable[[], object]) -> None:
        self.task = task
        self.waiters = 0
        task.add_done_callback(lambda _: forget())

    async def wait(self) -> Any:
        self.waiters += 1
        try:
            return await asyncio.shield(self.task)
        except asyncio.CancelledError:
            if self.waiters == 1 and not self.task.done():
                self.task.cancel()
            raise
        finally:
            self.waiters -= 1


def _masker_forms(secret: str) -> set[str]:
    """What Airflow's masker is told: the secret raw, URL-encoded and base64 (it matches text literally)."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), base64.b64encode(secret.encode()).decode()}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


async def _close_at_shutdown(sessions: dict[Any, aiohttp.ClientSession]) -> AsyncGenerator[None, None]:
    """Parked at its ``yield`` for the loop's lifetime: ``asyncio.run`` closes every async generator
    of its loop before closing the loop, which closes the loop's sessions here."""
    try:
        yield
    finally:
        for session in list(sessions.values()):
            with contextlib.suppress(Exception):
                await session.close()
        sessions.clear()


async def _park(generator: AsyncGenerator[None, None]) -> None:
    await anext(generator)


RUNTIME = Runtime()
"""This process's provider state."""
