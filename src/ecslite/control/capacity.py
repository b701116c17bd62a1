"""The capacity controller (spec/ecs.md §5.6, §13.1): Spot interruptions and managed scaling.

- **Spot interruption**: a FARGATE_SPOT task whose warning (``store.capacity``) has run out is
  stopped through the normal stop request with ``stopCode SpotInterruption`` and ECS's reason; its
  containers get SIGTERM and their stop timeout as in any stop (§3.4), and a service replaces it
  like any task that ended (§4.7).
- **Managed scaling** of Auto Scaling group providers: one pass of ``control.capacity_scaling``
  each time, when the server gives one, then one pass of ``control.capacity_wait``: tasks waiting
  in PROVISIONING for the group's capacity are placed on the room it has (or time out).
"""

from __future__ import annotations

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.control.capacity_scaling import ManagedScaling
from ecslite.control.capacity_wait import WaitingPlacer
from ecslite.model.tasks import StopCode
from ecslite.periodic import Periodic
from ecslite.store import capacity as capacity_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Database
from ecslite.store.tasks import StopRequest

SPOT_REASON = "Your Spot Task was interrupted."  # §3.6 (unverified)
PASS_SECONDS = 0.5


class CapacityController(Periodic):
    name = "capacity"
    failure = "capacity pass failed"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        *,
        interval: float = PASS_SECONDS,
        scaling: ManagedScaling | None = None,
    ) -> None:
        super().__init__(clock, interval)
        self.db = db
        self.scaling = scaling
        self.settings = settings
        self.waiting = WaitingPlacer(db, clock, settings.capacity_wait_timeout_seconds)

    async def reset(self) -> None:
        await self.restart()

    async def run_pass(self) -> None:
        self.step()

    def step(self) -> None:
        self.interrupt_due()
        if self.scaling is not None:
            self.scaling.step()
            self.waiting.step()

    def interrupt_due(self) -> list[str]:
        """Stop the Spot tasks whose warning has run out; returns their ARNs."""
        now = round(self.clock.now(), 3)
        stopped = []
        with self.db.transaction():
            for due in capacity_store.due(self.db, now):
                task_store.request_stop(
                    self.db, due.task_arn, StopRequest(StopCode.SPOT_INTERRUPTION.value, SPOT_REASON, now)
                )
                capacity_store.remove(self.db, due.task_arn)
                stopped.append(due.task_arn)
        return stopped
