"""Which async HTTP transport should the triggerer use? Raw transports, no Airflow.

C concurrent pollers in one event loop each make R back-to-back HTTPS requests to the Which50
simulator (one process, TLS, configurable latency). Compared: httpx with one client per loop
(default pool of 100 connections; a pool of 1000; a pool gated by a semaphore), httpx with a
client per poller (shared SSL context), aiohttp with one session per loop (pools of 100 and
1000; ``aiohttp-loop`` is the raw baseline), the package's own
:class:`~airflow_import_status.transport.AsyncTransport` (one aiohttp pool per loop and origin
with the shared rules: whole-request deadline, streamed size cap, no redirects, no re-sends;
no parsing), and ``requests`` in ``asyncio.to_thread``. Prints requests/s, CPU ms per request,
its ratio to ``aiohttp-loop`` in the same run, and the longest loop stall.

    .venv/bin/python benchmarks/transports.py --concurrency 1000 5000 --latency 0.02 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import requests
from bench_support import LoopWatchdog, SimulatorProcess, make_certificate

Poll = Callable[[], Awaitable[int]]
HEADERS = {"X-Api-Key": "which50-sim-key", "Accept": "application/json"}


async def _gated(semaphore: asyncio.Semaphore, poll: Poll) -> int:
    async with semaphore:
        return await poll()


@contextlib.asynccontextmanager
async def httpx_design(name: str, url: str, context: ssl.SSLContext, concurrency: int):
    """One ``poll()`` factory per poller for an httpx design."""
    if name == "httpx-per-poller":
        clients: list[httpx.AsyncClient] = []

        def factory() -> Poll:
            client = httpx.AsyncClient(verify=context)
            clients.append(client)

            async def poll() -> int:
                return (await client.get(url, headers=HEADERS)).status_code

            return poll

        yield factory
        for client in clients:
            await client.aclose()
        return
    limits = {
        "httpx-loop": httpx.Limits(max_connections=100, max_keepalive_connections=20),
        "httpx-loop-pool1000": httpx.Limits(max_connections=1000, max_keepalive_connections=1000),
        "httpx-loop-gated": httpx.Limits(max_connections=100, max_keepalive_connections=100),
    }[name]
    semaphore = asyncio.Semaphore(100)
    async with httpx.AsyncClient(verify=context, limits=limits) as client:

        async def poll() -> int:
            return (await client.get(url, headers=HEADERS)).status_code

        yield (lambda: lambda: _gated(semaphore, poll)) if name == "httpx-loop-gated" else (lambda: poll)


@contextlib.asynccontextmanager
async def aiohttp_design(url: str, context: ssl.SSLContext, limit: int):
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=limit)) as session:

        async def poll() -> int:
            async with session.get(url, headers=HEADERS) as response:
                await response.read()
                return response.status

        yield lambda: poll


@contextlib.asynccontextmanager
async def package_design(url: str, cafile: str):
    """The shipped async transport, as the hooks drive it (the runtime's per-loop pooled session)."""
    from airflow_import_status.runtime import RUNTIME
    from airflow_import_status.transport import AsyncTransport, HttpRequest, TransportSettings

    settings = TransportSettings(timeout=60, ca_bundle=cafile)
    transport = AsyncTransport("which50", settings, lambda target: RUNTIME.async_session(target, settings))
    request = HttpRequest("GET", url, headers=HEADERS)

    async def poll() -> int:
        return (await transport.send(request)).status

    yield lambda: poll


@contextlib.asynccontextmanager
async def thread_design(url: str, cafile: str):
    def factory() -> Poll:
        session = requests.Session()

        def get() -> int:
            return session.get(url, headers=HEADERS, timeout=60, verify=cafile).status_code

        return lambda: asyncio.to_thread(get)

    yield factory


async def measure(factory: Callable[[], Poll], concurrency: int, rounds: int) -> dict[str, float]:
    watchdog = LoopWatchdog()
    watchdog.start()
    failures = 0

    async def poller(poll: Poll) -> None:
        nonlocal failures
        for _ in range(rounds):
            try:
                failures += await poll() != 200
            except Exception:  # e.g. httpx.PoolTimeout: counted, as a trigger would retry it
                failures += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(poller(factory()) for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await watchdog.stop()
    requests_made = concurrency * rounds
    return {
        "req_per_s": requests_made / wall,
        "cpu_ms_per_req": 1000 * cpu / requests_made,
        "stall_ms": 1000 * watchdog.longest_stall,
        "wall_s": wall,
        "failures": failures,
    }


async def run_design(name: str, url: str, cafile: str, concurrency: int, rounds: int) -> dict[str, float]:
    context = ssl.create_default_context(cafile=cafile)
    if name.startswith("aiohttp"):
        design = aiohttp_design(url, context, limit=100 if name == "aiohttp-loop" else 1000)
    elif name == "requests-thread":
        design = thread_design(url, cafile)
    elif name == "package-transport":
        design = package_design(url, cafile)
    else:
        design = httpx_design(name, url, context, concurrency)
    async with design as factory:
        return await measure(factory, concurrency, rounds)


DESIGNS = (
    "httpx-loop",
    "httpx-loop-pool1000",
    "httpx-loop-gated",
    "httpx-per-poller",
    "aiohttp-loop",
    "aiohttp-loop-pool1000",
    "package-transport",
    "requests-thread",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.02, 0.2])
    parser.add_argument("--rounds", type=int, default=3, help="requests per poller")
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=DESIGNS)
    args = parser.parse_args()
    designs = list(args.designs)
    with tempfile.TemporaryDirectory() as tmp:
        certfile, keyfile = make_certificate(Path(tmp))
        simulator = SimulatorProcess(certfile, keyfile).wait_ready()
        try:
            job = simulator.post(
                "jobs", {"vendor": "which50", "params": {"contact_list_id": 1}, "script": [{"state": "running"}]}
            )
            url = f"{simulator.url}/which50/Which50API/contactLists/1/import/{job['job_id']}"
            header = (
                f"{'design':<22} {'C':>5} {'latency':>7} {'req/s':>8} {'CPU ms/req':>10} {'x raw':>6} "
                f"{'stall ms':>8} {'wall s':>7}"
            )
            print(header + "\n" + "-" * len(header), flush=True)
            for latency in args.latency:
                simulator.post("config", {"latency": latency})
                for concurrency in args.concurrency:
                    raw = asyncio.run(run_design("aiohttp-loop", url, str(certfile), concurrency, args.rounds))
                    for name in designs:
                        result = asyncio.run(run_design(name, url, str(certfile), concurrency, args.rounds))
                        ratio = result["cpu_ms_per_req"] / raw["cpu_ms_per_req"]
                        print(
                            f"{name:<22} {concurrency:>5} {latency * 1000:>5.0f}ms {result['req_per_s']:>8.0f} "
                            f"{result['cpu_ms_per_req']:>10.2f} {ratio:>6.1f} "
                            f"{result['stall_ms']:>8.0f} {result['wall_s']:>7.1f}"
                            + (f"  ({result['failures']:.0f} failed)" if result["failures"] else ""),
                            flush=True,
                        )
        finally:
            simulator.stop()


if __name__ == "__main__":
    main()
