"""The service controller: the work queue, the reconciler and housekeeping of the service scheduler.

- Keys are service ARNs. A store change of kind ``service`` enqueues its key; a change of a task
  that belongs to a service (``tasks.service_name``) enqueues that service, so task progress, health
  and exits drive the rollout. Reconcile steps ask to look again when only time changes something
  (the 40-second health rule, the grace period, throttling, the six-hourly steady-state message).
- Task writes are coalesced: a task's progress (PROVISIONING → … → RUNNING, turning HEALTHY) wakes
  its service at most :data:`COALESCE_SECONDS` (50 ms) later, so the burst of writes of a rollout
  (five or six per task) costs one reconcile per 50 ms and not one per write. What the scheduler
  must answer at once wakes it at once: a task whose stop was asked or that stopped (replacement,
  failure accounting, the circuit breaker) and a task turning UNHEALTHY (§4.5), each the first time
  it is seen so. Either way every decision is still taken from the store by the reconcile.
- An alarm that changed (the evaluator's minute, SetAlarmState, PutMetricAlarm, DeleteAlarms) wakes
  the services that name it, so a deployment alarm fails a deployment at once (§4.9,
  ``control.service_alarms``).
- On start (also after a restart of the server) every ACTIVE or DRAINING service is enqueued; the
  runner's resync does it again every ``resync_seconds``, so a missed wake-up costs latency only.
- Housekeeping forgets the scheduler's records of tasks whose rows were purged.
- ``reset()`` (``POST /_ecslite/reset``) stops the workers and starts over empty.

:attr:`hooks` receive the announcements of service state changes (§12.1) after each step commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.control.service_events import AnnouncementHook
from ecslite.control.service_reconciler import ServiceReconciler
from ecslite.control.workqueue import Runner, WorkQueue
from ecslite.model.arns import service_arn
from ecslite.store import cloudwatch as cw_store
from ecslite.store import container_instances as ci_store
from ecslite.store import elbv2 as elb_store
from ecslite.store import services as svc_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Change, Database, dumps

log = logging.getLogger(__name__)

# The longest a service waits to see a task's progress; a stop or UNHEALTHY is seen at once.
COALESCE_SECONDS = 0.05

_CALM = (False, False, False)


class ServiceController:
    name = "services"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        *,
        workers: int = 4,
        resync_seconds: float = 30.0,
        hooks: Sequence[AnnouncementHook] = (),
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.hooks: list[AnnouncementHook] = list(hooks)
        self.queue = WorkQueue(clock)
        self.reconciler = ServiceReconciler(db, clock, settings, self.hooks)
        self.runner = Runner(
            "services",
            self.queue,
            self.reconciler.reconcile,
            clock,
            workers=workers,
            resync=lambda: svc_store.live_arns(self.db),
            resync_seconds=resync_seconds,
        )
        self.resync_seconds = resync_seconds
        self._housekeeping: asyncio.Task[None] | None = None
        # (stop asked, STOPPED, UNHEALTHY) as last seen, for live tasks with any of them true.
        self._alarms: dict[str, tuple[bool, bool, bool]] = {}
        db.subscribe(self._on_changes)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.runner.start()
        self.runner.enqueue_all()
        self._housekeeping = asyncio.create_task(self._housekeep(), name="services-housekeeping")

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        await self.runner.stop()

    async def reset(self) -> None:
        await self.stop()
        self.queue.clear()
        self._alarms.clear()
        self.reconciler.live.clear()
        await self.runner.start()
        self._housekeeping = asyncio.create_task(self._housekeep(), name="services-housekeeping")

    # -- wake-ups --------------------------------------------------------------------------------

    def _on_changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.kind == svc_store.KIND:
                self.queue.add(change.key)
            elif change.kind == task_store.KIND:
                self._task_changed(change.key)
            elif change.kind == elb_store.TARGET_KIND:
                # A target's health moved: services behind the group judge their tasks by it (§4.5).
                for arn in self._group_services(change.key):
                    self.queue.add(arn)
            elif change.kind == cw_store.ALARM_KIND:
                for arn in self._alarm_services(change.key):
                    self.queue.add(arn)
            elif change.kind == ci_store.KIND:
                # An instance joined, drained or left: DAEMON services and draining moves (§4.11, §5.5).
                for arn in self._cluster_services(change.key):
                    self.queue.add(arn)

    def _task_changed(self, task_arn: str) -> None:
        row = self.db.query_one(
            """SELECT account, region, cluster, service_name, desired_status, last_status,
                      json_extract(doc, '$.healthStatus') AS health FROM tasks WHERE arn=?""",
            (task_arn,),
        )
        if row is None or row["service_name"] is None:
            self._alarms.pop(task_arn, None)
            return
        owner = service_arn(row["region"], row["account"], row["cluster"], row["service_name"])
        alarms = (row["desired_status"] == "STOPPED", row["last_status"] == "STOPPED", row["health"] == "UNHEALTHY")
        seen = self._alarms.get(task_arn, _CALM)
        if alarms[1] or alarms == _CALM:
            self._alarms.pop(task_arn, None)
        else:
            self._alarms[task_arn] = alarms
        if any(now and not before for now, before in zip(alarms, seen, strict=True)):
            self.queue.add(owner)
        else:
            self.queue.add_within(owner, COALESCE_SECONDS)

    def _cluster_services(self, instance_arn: str) -> list[str]:
        """``arn:aws:ecs:<region>:<account>:container-instance/<cluster>/<id>`` → the cluster's live services."""
        parts = instance_arn.split(":", 5)
        if len(parts) < 6 or parts[5].count("/") != 2:
            return []
        cluster = parts[5].split("/")[1]
        rows = self.db.query(
            "SELECT arn FROM services WHERE account=? AND region=? AND cluster=? AND status IN ('ACTIVE', 'DRAINING')",
            (parts[4], parts[3], cluster),
        )
        return [str(r["arn"]) for r in rows]

    def _alarm_services(self, alarm_arn: str) -> list[str]:
        """``arn:aws:cloudwatch:<region>:<account>:alarm:<name>`` → the live services of that account
        and region whose document names the alarm (its deployment alarms, most likely; a wake-up too
        many costs one idle step)."""
        parts = alarm_arn.split(":", 6)
        if len(parts) < 7:
            return []
        rows = self.db.query(
            """SELECT arn FROM services WHERE account=? AND region=? AND status IN ('ACTIVE', 'DRAINING')
                  AND instr(doc, ?) > 0""",
            (parts[4], parts[3], dumps(parts[6])),
        )
        return [str(r["arn"]) for r in rows]

    def _group_services(self, target_group_arn: str) -> list[str]:
        rows = self.db.query(
            "SELECT arn FROM services WHERE status IN ('ACTIVE', 'DRAINING') AND instr(doc, ?) > 0",
            (target_group_arn,),
        )
        return [str(r["arn"]) for r in rows]

    # -- housekeeping ----------------------------------------------------------------------------

    async def _housekeep(self) -> None:
        while True:
            await self.clock.sleep(self.resync_seconds)
            try:
                with self.db.transaction():
                    svc_store.prune_records(self.db)
            except Exception:
                log.exception("service housekeeping failed")
