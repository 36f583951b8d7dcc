"""What waiting triggers share through the runtime: connection reads, settings, poll policies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_import_status import runtime
from airflow_import_status.polling import PollPolicy
from airflow_import_status.runtime import RUNTIME
from airflow_import_status.vendors import get_spec


class Reads:
    """A connection lookup that counts its calls (and fails its first ``failures``)."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[str] = []
        self.failures = failures

    async def __call__(self, conn_id: str) -> dict[str, Any]:
        self.calls.append(conn_id)
        await asyncio.sleep(0.01)
        if len(self.calls) <= self.failures:
            raise LookupError(f"no connection {conn_id}")
        return {"conn_id": conn_id, "read": len(self.calls)}


def test_triggers_starting_together_read_their_connection_once(monkeypatch):
    monkeypatch.setattr(runtime, "CONNECTION_REUSE_SECONDS", 0.2)
    reads = Reads()

    async def main() -> None:
        together = await asyncio.gather(*(RUNTIME.aconnection("c", reads) for _ in range(50)))
        assert reads.calls == ["c"]
        assert all(found is together[0] for found in together)
        await RUNTIME.aconnection("other", reads)
        assert reads.calls == ["c", "other"]
        await asyncio.sleep(0.25)  # past the 0.2 s reuse window: read again
        assert (await RUNTIME.aconnection("c", reads))["read"] == 3

    asyncio.run(main())
    asyncio.run(RUNTIME.aconnection("c", reads))  # another event loop reads for itself
    assert reads.calls == ["c", "other", "c", "c"]


def test_a_failed_connection_read_is_not_kept():
    reads = Reads(failures=1)

    async def main() -> None:
        with pytest.raises(LookupError):
            await RUNTIME.aconnection("missing", reads)
        assert (await RUNTIME.aconnection("missing", reads))["read"] == 2

    asyncio.run(main())


def test_hooks_of_one_connection_share_one_settings_value(sim, monkeypatch):
    spec = get_spec("which50")
    conn_id = spec.simulator_class.conn_id
    first, second = spec.hook_class(conn_id), spec.hook_class(conn_id)
    assert first.get_settings() is second.get_settings()

    async def read_async() -> Any:
        return await spec.hook_class(conn_id).aget_settings()

    assert asyncio.run(read_async()) is first.get_settings()
    connection = spec.simulator_class.connection(sim.base_url)
    monkeypatch.setenv("AIRFLOW_CONN_WHICH50_OTHER_KEY", json.dumps({**connection, "password": "other-key"}))
    other = spec.hook_class("which50_other_key").get_settings()
    assert other is not first.get_settings()
    assert other.api_key == "other-key"


def test_triggers_of_one_policy_share_one_instance():
    policy = PollPolicy(poll_interval=30.0).to_dict()
    assert PollPolicy.from_dict(policy) is PollPolicy.from_dict(dict(policy))
    assert PollPolicy.from_dict(policy) == PollPolicy(poll_interval=30.0)
    assert PollPolicy.from_dict({**policy, "poll_interval": 31}) is not PollPolicy.from_dict(policy)


def test_hook_state_in_settings_is_not_shared(sim):
    spec = get_spec("mypreferences")
    first, second = spec.hook_class(spec.simulator_class.conn_id), spec.hook_class(spec.simulator_class.conn_id)
    assert first.get_settings().import_tokens is not second.get_settings().import_tokens
    assert first.get_settings().status_table is second.get_settings().status_table  # the rest is shared


def test_the_process_keeps_settings_of_at_most_1024_connections_dropping_the_oldest():
    assert runtime.SETTINGS_KEPT == 1024
    try:
        for number in range(runtime.SETTINGS_KEPT + 1):
            RUNTIME.keep_settings(("conn", number), {"settings": number})
        assert RUNTIME.known_settings(("conn", 0)) is None, "the oldest is dropped"
        assert RUNTIME.known_settings(("conn", 1)) == {"settings": 1}
        assert RUNTIME.known_settings(("conn", runtime.SETTINGS_KEPT)) == {"settings": runtime.SETTINGS_KEPT}
        assert len(RUNTIME._settings) == runtime.SETTINGS_KEPT
    finally:
        RUNTIME.reset()
