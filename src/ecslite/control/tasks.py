"""The task controller: wiring of the work queue, the reconciler, health probes and housekeeping.

- Store changes of kind ``task`` and runtime exit events only enqueue the task's ARN.
- On start (also after a restart of the server) every task not yet STOPPED is enqueued, so each
  one is reconciled against what the runtime still has; sandboxes the runtime holds for tasks the
  store no longer knows as live are destroyed.
- Housekeeping runs every ``resync_seconds``: enqueue every live task (a missed wake-up costs
  latency, never correctness), purge STOPPED tasks older than the retention
  (``settings.stopped_task_retention_seconds``, ECS keeps them at least an hour, §3.1), and
  remove orphan sandboxes.
- ``reset()`` (``POST /_ecslite/reset``) stops the workers, empties the runtime (spare sandboxes
  included) and starts again, before the server empties the store.

Every asyncio task created here is kept and cancelled in :meth:`TaskController.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.control.health_probes import HealthProbes
from ecslite.control.task_logs import LogStreams
from ecslite.control.task_reconciler import TaskReconciler
from ecslite.control.workqueue import Runner, WorkQueue
from ecslite.runtime.base import Runtime
from ecslite.store import tasks as task_store
from ecslite.store.db import Change, Database

log = logging.getLogger(__name__)

# §3.1 local model: the retention is configurable but never below ECS's hour.
MIN_RETENTION_SECONDS = 3600.0


@runtime_checkable
class SparePool(Protocol):
    """A runtime that keeps spare sandboxes (the process runtime): a reset removes them too."""

    async def drain_pool(self) -> None: ...


class TaskController:
    name = "tasks"

    def __init__(
        self,
        db: Database,
        runtime: Runtime,
        clock: Clock,
        settings: Settings,
        *,
        workers: int = 8,
        resync_seconds: float = 30.0,
        logs: LogStreams | None = None,
    ) -> None:
        self.db = db
        self.runtime = runtime
        self.clock = clock
        self.settings = settings
        self.resync_seconds = resync_seconds
        self.queue = WorkQueue(clock)
        self.probes = HealthProbes(runtime, clock, self.queue.add)
        self.reconciler = TaskReconciler(db, runtime, clock, self.probes, logs)
        self.runner = Runner("tasks", self.queue, self.reconciler.reconcile, clock, workers=workers, resync=None)
        self._housekeeping: asyncio.Task[None] | None = None
        db.subscribe(self._on_changes)
        runtime.on_exit(self._on_exit)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.runner.start()
        await self._remove_orphans()
        self._enqueue_live()
        self._housekeeping = asyncio.create_task(self._housekeep(), name="tasks-housekeeping")

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        await self.runner.stop()
        await self.probes.close()

    async def reset(self) -> None:
        """Forget every task: stop work in flight, remove every sandbox, start over empty."""
        await self.stop()
        self.queue.clear()
        for task_id in await self.runtime.sandboxes():
            await self.runtime.destroy_sandbox(task_id)
        if isinstance(self.runtime, SparePool):
            await self.runtime.drain_pool()
        await self.runner.start()
        self._housekeeping = asyncio.create_task(self._housekeep(), name="tasks-housekeeping")

    # -- wake-ups --------------------------------------------------------------------------------

    def _on_changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.kind == task_store.KIND:
                self.queue.add(change.key)

    def _on_exit(self, task_id: str, container: str) -> None:
        arn = task_store.arn_of(self.db, task_id)
        if arn is not None:
            self.queue.add(arn)

    def _enqueue_live(self) -> None:
        for arn in task_store.live_arns(self.db):
            self.queue.add(arn)

    # -- housekeeping ----------------------------------------------------------------------------

    async def _housekeep(self) -> None:
        while True:
            await self.clock.sleep(self.resync_seconds)
            try:
                self._enqueue_live()
                self.purge_expired()
                await self._remove_orphans()
            except Exception:
                log.exception("task housekeeping failed")

    def purge_expired(self) -> int:
        """Delete STOPPED tasks past the retention; returns how many went."""
        retention = max(self.settings.stopped_task_retention_seconds, MIN_RETENTION_SECONDS)
        cutoff = self.clock.now() - retention
        arns = task_store.expired(self.db, cutoff)
        if arns:
            with self.db.transaction():
                for arn in arns:
                    task_store.delete(self.db, arn)
        return len(arns)

    async def _remove_orphans(self) -> None:
        live = task_store.live_ids(self.db)
        for task_id in await self.runtime.sandboxes():
            if task_id not in live and not self._in_flight(task_id):
                log.info("removing orphan sandbox", extra={"task_id": task_id})
                await self.runtime.destroy_sandbox(task_id)

    def _in_flight(self, task_id: str) -> bool:
        arn = task_store.arn_of(self.db, task_id)
        return arn is not None and self.queue.is_processing(arn)
