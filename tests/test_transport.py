"""The shared transport against a hostile vendor, for every vendor, on the sync and async paths.

Each test asserts the bound the transport promises, with its number: a poll ends within the
connection's ``timeout`` plus a margin, a bomb costs under 20 MiB and stalls the loop under
200 ms, a redirect reaches nothing, an echoed secret shows nowhere, a dropped connection is
one request per attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
import tracemalloc
from typing import Any

import pytest

from airflow_import_status import __version__
from airflow_import_status.errors import PermanentVendorError, TransientVendorError, VendorPayloadError
from airflow_import_status.polling import PollPolicy
from airflow_import_status.runtime import RUNTIME
from airflow_import_status.scrubbing import secret_forms
from airflow_import_status.simulators.core import SAMPLE_JOB_ID
from airflow_import_status.transport import (
    ACCEPT_ENCODING,
    AsyncTransport,
    HttpRequest,
    SyncTransport,
    TransportSettings,
)
from airflow_import_status.triggers.import_status import EventStatus, ImportStatusEvent, ImportStatusTrigger
from tests.hostile import Behaviour, HostileServer
from tests.registry import VENDOR_CASES, VendorCase, vendor_case

TIMEOUT = 1.0
"""The connection's whole-request timeout in these tests (seconds)."""
MARGIN = 1.0
"""How far past ``TIMEOUT`` a poll may end (scheduling on a shared 2-core machine)."""
MAX_RSS_GROWTH = 20 * 1024 * 1024
MAX_LOOP_STALL = 0.2
PATHS = ["sync", "async"]


@pytest.fixture(scope="module")
def hostile():
    with HostileServer() as server:
        yield server


@pytest.fixture
def vendor_hook(hostile, monkeypatch):
    """A vendor's hook whose connection points at the hostile server (timeout ``TIMEOUT``)."""
    hostile.requests.clear()
    hostile.connections = 0

    def make(vendor: str, behaviour: Behaviour) -> tuple[VendorCase, Any]:
        hostile.behaviour = behaviour
        case = vendor_case(vendor)
        conn_id = f"hostile_{vendor}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", case.connection(hostile.url, extra={"timeout": TIMEOUT}))
        return case, case.hook_class(conn_id)

    return make


def _job(case: VendorCase) -> dict[str, Any]:
    return case.job_kwargs({"job_id": SAMPLE_JOB_ID})


def _poll(case: VendorCase, hook: Any, path: str) -> Any:
    if path == "async":
        return asyncio.run(hook.apoll(_job(case)))
    return hook.poll(_job(case))


async def _with_stall_watch(coroutine: Any) -> tuple[Any, float]:
    """Run ``coroutine`` while a ticker measures the longest the event loop was blocked."""
    longest = 0.0
    done = False

    async def ticker() -> None:
        nonlocal longest
        while not done:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            longest = max(longest, time.monotonic() - before - 0.01)

    watch = asyncio.create_task(ticker())
    try:
        return await coroutine, longest
    except Exception as err:
        return err, longest
    finally:
        done = True
        await watch


# ----- bounded in time ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ["trickle_body", "trickle_headers"])
@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_a_trickling_vendor_cannot_hold_a_poll_past_the_timeout(vendor_hook, vendor, kind, path):
    """Before: timeout=2 and one byte a second held a poll for 90 s (headers: over 130 s)."""
    case, hook = vendor_hook(vendor, Behaviour(kind, interval=0.2))
    started = time.monotonic()
    with pytest.raises(TransientVendorError, match=f"timed out: no whole answer within the {TIMEOUT:g}s timeout"):
        _poll(case, hook, path)
    assert time.monotonic() - started < TIMEOUT + MARGIN


def test_a_healthy_job_gets_through_while_slow_ones_hold_the_pool(hostile):
    """Before: 100 trickling polls filled the pool of 100 and a healthy job was blocked 40 s later."""
    hostile.behaviour = Behaviour("trickle_body", interval=1.0)
    settings = TransportSettings(timeout=TIMEOUT, max_connections=2)

    async def scenario() -> tuple[float, int, list[str]]:
        transport = AsyncTransport("toy", settings, lambda url: RUNTIME.async_session(url, settings))
        slow = [asyncio.create_task(transport.send(HttpRequest("GET", f"{hostile.url}/slow/{n}"))) for n in range(6)]
        await asyncio.sleep(0.1)
        started = time.monotonic()
        attempts, outcomes = 0, []
        while True:  # what the poll policy does: a bounded wait, then a retry
            attempts += 1
            try:
                await transport.send(HttpRequest("GET", f"{hostile.url}/healthy"))
                break
            except TransientVendorError as err:
                outcomes.append(str(err))
        elapsed = time.monotonic() - started
        results = await asyncio.gather(*slow, return_exceptions=True)
        assert all(isinstance(r, TransientVendorError) for r in results), "a slow request was not cut off"
        return elapsed, attempts, outcomes

    elapsed, _attempts, outcomes = asyncio.run(scenario())
    assert elapsed < 3 * TIMEOUT + MARGIN, f"the healthy job waited {elapsed:.1f}s"
    assert all("including the wait for a pooled connection" in text for text in outcomes)


# ----- bounded in memory -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("layers", [1, 2], ids=["gzip", "gzip-gzip"])
@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_a_gzip_bomb_costs_little_memory_and_no_loop_stall(vendor_hook, vendor, layers, path):
    """Before: a 1,827-byte double-gzip bomb cost +2,051 MiB and stalled the loop 4.1 s (single: +131 MiB)."""
    case, hook = vendor_hook(vendor, Behaviour("gzip_bomb", layers=layers))
    from tests.hostile import gzip_bomb

    gzip_bomb(layers)  # built before measuring
    tracemalloc.start()
    try:
        if path == "async":
            outcome, stall = asyncio.run(_with_stall_watch(hook.apoll(_job(case))))
            assert stall < MAX_LOOP_STALL, f"the event loop stalled {stall * 1000:.0f} ms"
        else:
            try:
                outcome = hook.poll(_job(case))
            except Exception as err:
                outcome = err
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(outcome, VendorPayloadError), outcome
    assert ("stacked Content-Encoding" if layers == 2 else "byte cap (decoded)") in str(outcome)
    assert peak < MAX_RSS_GROWTH, f"decoding the bomb allocated {peak / 2**20:.1f} MiB"


# ----- never redirected ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_a_redirect_reaches_nothing(vendor_hook, vendor, status, path):
    with HostileServer() as elsewhere:
        case, hook = vendor_hook(vendor, Behaviour("redirect", status=status, location=f"{elsewhere.url}/steal?k=1"))
        with pytest.raises(PermanentVendorError, match=f"HTTP {status}: .* redirected to {elsewhere.url};") as err:
            _poll(case, hook, path)
        assert "steal" not in str(err.value) and "k=1" not in str(err.value)
        assert elsewhere.connections == 0, "something was sent to the redirect's target"


# ----- never leaking -------------------------------------------------------------------------------------
def _leaks(case: VendorCase, *texts: str) -> list[str]:
    found = []
    for secret in case.secrets:
        for form in secret_forms(secret):
            found += [form for text in texts if form in text]
    return found


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("status", [401, 500, 200])
@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_an_echoed_secret_shows_in_no_error_or_log(vendor_hook, caplog, vendor, status, path):
    """Before: a 401 body echoing the key reached the exception and the trigger event verbatim."""
    caplog.set_level(logging.DEBUG)
    case, hook = vendor_hook(vendor, Behaviour("echo", status=status))
    with pytest.raises(Exception) as err:
        _poll(case, hook, path)
    assert not _leaks(case, str(err.value), caplog.text), f"{case.vendor} secret in the error or the DEBUG logs"


@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_an_echoed_secret_shows_in_no_trigger_event(vendor_hook, vendor):
    case, hook = vendor_hook(vendor, Behaviour("echo", status=401))
    event = _run_trigger(case, hook.conn_id, PollPolicy(poll_interval=0.05, max_consecutive_failures=1))
    assert event.status is EventStatus.ERROR
    assert not _leaks(case, event.message), "a secret reached the trigger event (stored in the metadata DB)"


# ----- never resent behind your back -------------------------------------------------------------------------
def _run_trigger(case: VendorCase, conn_id: str, policy: PollPolicy) -> ImportStatusEvent:
    trigger = ImportStatusTrigger(
        vendor=case.vendor,
        conn_id=conn_id,
        job=_job(case),
        policy={**policy.to_dict(), "backoff_initial": 0.01, "backoff_max": 0.05, "not_found_grace": 0},
        deadline=time.time() + 30,
        waiting_since=time.time(),
    )

    async def first() -> ImportStatusEvent:
        async for event in trigger.run():
            return ImportStatusEvent.from_payload(event.payload)
        raise AssertionError("no event")

    return asyncio.run(first())


@pytest.mark.parametrize("vendor", VENDOR_CASES)
def test_a_dropped_connection_is_one_request_per_attempt(vendor_hook, hostile, vendor):
    """Before: aiohttp silently re-sent each request once (6 requests for max_consecutive_failures=3)."""
    case, hook = vendor_hook(vendor, Behaviour("drop"))
    event = _run_trigger(case, hook.conn_id, PollPolicy(poll_interval=0.05, max_consecutive_failures=3))
    assert event.status is EventStatus.ERROR and event.retryable
    assert len(hostile.requests) == 3, hostile.requests
    hostile.requests.clear()
    with pytest.raises(TransientVendorError):
        hook.poll(_job(case))
    assert len(hostile.requests) == 1, "the sync path re-sent a dropped request"


def test_a_request_that_creates_data_is_never_retried(hostile):
    from airflow_import_status.errors import UnsafeToRetryError
    from tests.toy_vendor import ToyHook

    hostile.behaviour = Behaviour("drop")
    hostile.requests.clear()
    hook = ToyHook()

    def upload() -> Any:
        yield HttpRequest("POST", f"{hostile.url}/upload", content=b"rows", idempotent=False)

    settings = type("S", (), {"transport": TransportSettings(timeout=TIMEOUT)})()
    with pytest.raises(UnsafeToRetryError, match="creates or adds data, so it is not retried"):
        hook.run_flow(upload(), settings)
    assert len(hostile.requests) == 1


# ----- what goes on the wire ------------------------------------------------------------------------
def _sent_head(hostile: HostileServer, request: HttpRequest, path: str) -> dict[str, str]:
    """The header lines the echo server received for ``request`` on ``path``, names lower-cased."""
    hostile.behaviour = Behaviour("echo")
    settings = TransportSettings(timeout=TIMEOUT)
    if path == "async":

        async def send() -> Any:
            return await AsyncTransport("toy", settings, lambda url: RUNTIME.async_session(url, settings)).send(request)

        response = asyncio.run(send())
    else:
        transport = SyncTransport("toy", settings)
        response = transport.send(request)
        transport.close()
    head = response.body.decode("latin-1").partition("\r\n\r\n")[0].split("\r\n")[1:]
    return {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in head)}


@pytest.mark.parametrize("path", PATHS)
def test_both_paths_name_the_package_and_label_no_body_on_their_own(hostile, path):
    """The same User-Agent on both paths (aiohttp's and requests' own were dropped), no invented Content-Type."""
    url = f"{hostile.url}/status"
    plain = _sent_head(hostile, HttpRequest("GET", url), path)
    assert plain["user-agent"] == f"airflow-import-status/{__version__}"
    assert plain["accept-encoding"] == ACCEPT_ENCODING
    unlabelled = _sent_head(hostile, HttpRequest("POST", url, content=b"rows", idempotent=False), path)
    assert "content-type" not in unlabelled, unlabelled
    labelled = _sent_head(
        hostile, HttpRequest("POST", url, headers={"Content-Type": "text/xml"}, content=b"<a/>"), path
    )
    assert labelled["content-type"] == "text/xml"
    own = _sent_head(hostile, HttpRequest("GET", url, headers={"User-Agent": "vendor-asks-for-this"}), path)
    assert own["user-agent"] == "vendor-asks-for-this"
