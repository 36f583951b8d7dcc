"""The live-status cache on its own: one poll per job per window, bounded threads, the event loop never blocked."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from airflow_import_status.errors import TransientVendorError
from airflow_import_status.plugins import live as live_module
from airflow_import_status.plugins.live import LiveStatus
from airflow_import_status.plugins.sources import WaitingImport
from tests.plugins.seed import result


class _SlowHook:
    """Sleeps in ``poll`` (a blocking vendor call) and records how many polls run at once."""

    lock = threading.Lock()
    running = 0
    most = 0
    polls: list[str] = []

    def __init__(self, vendor_ref: str, conn_id: str) -> None:
        self.conn_id = conn_id

    def poll(self, job: dict[str, Any]) -> Any:
        from airflow_import_status.result import ImportResult

        with self.lock:
            type(self).running += 1
            type(self).most = max(self.most, self.running)
            self.polls.append(job["id"])
        time.sleep(0.2)
        with self.lock:
            type(self).running -= 1
        if job["id"] == "broken":
            raise TransientVendorError("HTTP 502 from the vendor", vendor="which50")
        return ImportResult.from_dict(result("which50", job["id"], "running", progress_percent=50))

    def console_url(self, job: dict[str, Any]) -> str:
        return "https://console.example/"


@pytest.fixture
def slow_hook(monkeypatch) -> type[_SlowHook]:
    _SlowHook.running, _SlowHook.most, _SlowHook.polls = 0, 0, []
    monkeypatch.setattr(live_module, "hook_for", _SlowHook)
    return _SlowHook


def _waiting(job_id: str) -> WaitingImport:
    return WaitingImport("which50", "which50_default", {"id": job_id}, None, None)


def test_polls_are_cached_per_job_and_expire(slow_hook):
    async def scenario() -> list[dict[str, Any]]:
        live = LiveStatus(ttl=0.5)
        try:
            first, second = await asyncio.gather(live.get(_waiting("a")), live.get(_waiting("a")))
            third = await live.get(_waiting("a"))
            await asyncio.sleep(0.6)
            return [first, second, third, await live.get(_waiting("a"))]
        finally:
            live.close()

    answers = asyncio.run(scenario())
    assert slow_hook.polls == ["a", "a"], "one poll within the window, a new one after it"
    assert answers[0] is answers[1] is answers[2]
    assert answers[0]["result"]["progress_percent"] == 50
    assert answers[0]["console_url"] == "https://console.example/"


def test_polls_run_in_a_bounded_pool_and_never_block_the_loop(slow_hook):
    async def scenario() -> int:
        live = LiveStatus(max_workers=2)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick = asyncio.create_task(ticker())
        try:
            await asyncio.gather(*(live.get(_waiting(str(n))) for n in range(6)))
        finally:
            tick.cancel()
            live.close()
        return ticks

    ticks = asyncio.run(scenario())
    assert sorted(slow_hook.polls) == [str(n) for n in range(6)]
    assert slow_hook.most == 2
    assert ticks >= 30, "the loop kept running while three rounds of 0.2 s polls ran in threads"


def test_a_vendor_error_or_a_slow_vendor_is_a_message(slow_hook):
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        live = LiveStatus(wait=0.05)
        patient = LiveStatus()
        try:
            return await live.get(_waiting("slow")), await patient.get(_waiting("broken"))
        finally:
            live.close()
            patient.close()

    slow, broken = asyncio.run(scenario())
    assert slow == {"result": None, "error": "the vendor did not answer within 0.05s; still asking", "polled_at": None}
    assert broken["result"] is None and "HTTP 502 from the vendor" in broken["error"]
