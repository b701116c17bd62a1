"""The CloudWatch Logs provider: every implemented operation, and its life as a server component.

As a component it applies retention in the background (events past a group's retention are never
returned, and are deleted within ``PURGE_INTERVAL``), and owns the worker thread and the log store,
closing both when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ecslite.clock import Clock
from ecslite.providers.logs.common import DAY_MS
from ecslite.providers.logs.events import EventOps
from ecslite.providers.logs.groups import GroupOps
from ecslite.providers.logs.queries import QueryOps
from ecslite.providers.logs.streams import StreamOps
from ecslite.store import log_events
from ecslite.store.logs import LogStore

log = logging.getLogger(__name__)

PURGE_INTERVAL = 300.0  # seconds between retention sweeps


class LogsProvider(GroupOps, StreamOps, EventOps, QueryOps):
    """Amazon CloudWatch Logs, API version 2014-03-28."""

    name = "logs"

    def __init__(self, store: LogStore, clock: Clock) -> None:
        super().__init__(store, clock)
        self._purger: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.feed.bind(asyncio.get_running_loop())
        self._purger = asyncio.create_task(self._purge_forever(), name="logs-retention")

    async def stop(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
            self._purger = None
        self.cancel_queries()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.close_worker)
        await loop.run_in_executor(None, self.close_queries)
        self.store.close()

    async def reset(self) -> None:
        """``POST /_ecslite/reset``: drop every log group, stream, event and query."""
        self.cancel_queries()
        await self.run(self.store.reset)

    async def _purge_forever(self) -> None:
        while True:
            await self.clock.sleep(PURGE_INTERVAL)
            try:
                removed = await self.run(self.purge_expired)
            except Exception:
                log.exception("log retention sweep failed")
                continue
            if removed:
                log.info("log events past retention deleted", extra={"events": removed})

    def purge_expired(self) -> int:
        """Delete every event older than its group's retention, and old queries; returns how many
        events went."""
        self.purge_queries()
        now = self.now_ms()
        rows = self.store.query("SELECT gid, retention_days FROM log_groups WHERE retention_days IS NOT NULL")
        return sum(log_events.purge_before(self.store, row[0], now - row[1] * DAY_MS) for row in rows)
