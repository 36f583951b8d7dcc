"""Live status of a waiting import: one sync poll in a bounded thread pool, cached per job.

The API server's event loop never runs a poll: polls go to a small thread pool, concurrent
requests for the same job share one poll, and its answer is reused for ``ttl`` seconds. A vendor
error becomes a message, never a server error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from airflow_import_status.errors import ImportStatusError
from airflow_import_status.plugins.sources import WaitingImport, hook_for

log = logging.getLogger(__name__)

CACHE_SECONDS = 10.0
"""How long one poll's answer is reused for the same job."""
MAX_CONCURRENT_POLLS = 4
"""Threads polling vendors at once, for the whole API server process."""
WAIT_SECONDS = 5.0
"""How long a request waits for a poll; a slower poll keeps running and fills the cache."""


@dataclass
class _Entry:
    expires: float
    future: asyncio.Future[dict[str, Any]]


class LiveStatus:
    """Per-job cache of one-shot polls through the vendor's sync hook."""

    def __init__(
        self,
        *,
        ttl: float = CACHE_SECONDS,
        max_workers: int = MAX_CONCURRENT_POLLS,
        wait: float = WAIT_SECONDS,
    ) -> None:
        self.ttl = ttl
        self.wait = wait
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="import-status-live")
        self._cache: dict[tuple[str, str, str], _Entry] = {}

    async def get(self, waiting: WaitingImport) -> dict[str, Any]:
        """``{"result": normalized dict or None, "error": message or None, "polled_at": ISO, "console_url": ...}``."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        self._cache = {key: entry for key, entry in self._cache.items() if entry.expires > now}
        key = (waiting.vendor, waiting.conn_id, json.dumps(waiting.job, sort_keys=True, default=str))
        entry = self._cache.get(key)
        if entry is None or entry.future.get_loop() is not loop:
            future = asyncio.wrap_future(self._pool.submit(_poll, waiting), loop=loop)
            entry = self._cache[key] = _Entry(now + self.ttl, future)
        try:
            return await asyncio.wait_for(asyncio.shield(entry.future), timeout=self.wait)
        except TimeoutError:
            return {
                "result": None,
                "error": f"the vendor did not answer within {self.wait:g}s; still asking",
                "polled_at": None,
            }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _poll(waiting: WaitingImport) -> dict[str, Any]:
    """One poll in a pool thread; every failure becomes a message."""
    from airflow_import_status.plugins.queries import result_fields

    polled_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    try:
        hook = hook_for(waiting.vendor, waiting.conn_id)
        result = hook.poll(waiting.job)
    except ImportStatusError as err:  # typed vendor errors carry no secret (the hooks scrub them)
        return {"result": None, "error": str(err), "polled_at": polled_at}
    except Exception as err:
        log.warning("Live status of %s job %s failed", waiting.vendor, waiting.job_label, exc_info=True)
        error = f"could not poll {waiting.vendor}: {type(err).__name__}"
        return {"result": None, "error": error, "polled_at": polled_at}
    try:
        console_url = hook.console_url(waiting.job)
    except ImportStatusError:
        console_url = None
    return {"result": result_fields(result), "error": None, "polled_at": polled_at, "console_url": console_url}
