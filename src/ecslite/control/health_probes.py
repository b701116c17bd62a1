"""Container health checks, one probe loop per running container that defines a ``healthCheck`` (§2.7).

Each loop waits as Docker does (:meth:`~ecslite.model.health.HealthTracker.next_delay`: every 5 s
while starting inside ``startPeriod``, else ``interval``, timed from the end of the previous check),
execs the check command through the runtime with its ``timeout``, and feeds the result to a
:class:`~ecslite.model.health.HealthTracker`. When a container's status changes, the loop only
enqueues the task's key; the task reconciler reads :meth:`HealthProbes.status` and writes
``healthStatus`` (it owns that field). Probes live in memory: after a restart the reconciler starts
them again and the stored status stands until the first new result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ecslite.clock import Clock
from ecslite.model.health import HealthCheckSpec, HealthTracker
from ecslite.model.tasks import HealthStatus
from ecslite.runtime.base import ContainerNotFound, Runtime, RuntimeFailure

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Probe:
    tracker: HealthTracker
    task: asyncio.Task[None]


class HealthProbes:
    def __init__(self, runtime: Runtime, clock: Clock, notify: Callable[[str], None]) -> None:
        self.runtime = runtime
        self.clock = clock
        self.notify = notify
        self._probes: dict[tuple[str, str], _Probe] = {}

    def ensure(self, key: str, task_id: str, name: str, spec: HealthCheckSpec, started_at: float) -> None:
        """Run checks for this container unless they already run."""
        ident = (task_id, name)
        probe = self._probes.get(ident)
        if probe is not None and not probe.task.done():
            return
        tracker = HealthTracker(spec, started_at)
        task = asyncio.create_task(self._loop(key, task_id, name, tracker), name=f"health-{task_id}-{name}")
        self._probes[ident] = _Probe(tracker, task)

    def status(self, task_id: str, name: str) -> HealthStatus | None:
        """The container's current health, ``None`` when no probe has run for it yet."""
        probe = self._probes.get((task_id, name))
        return probe.tracker.status if probe else None

    def tracker(self, task_id: str, name: str) -> HealthTracker | None:
        probe = self._probes.get((task_id, name))
        return probe.tracker if probe else None

    def stop(self, task_id: str, name: str) -> None:
        """Stop checking (the container exited); its last status stays readable."""
        probe = self._probes.get((task_id, name))
        if probe is not None:
            probe.task.cancel()

    def forget_task(self, task_id: str) -> None:
        for ident in [i for i in self._probes if i[0] == task_id]:
            self._probes.pop(ident).task.cancel()

    async def close(self) -> None:
        probes, self._probes = list(self._probes.values()), {}
        for probe in probes:
            probe.task.cancel()
        for probe in probes:
            with contextlib.suppress(asyncio.CancelledError):
                await probe.task

    async def _loop(self, key: str, task_id: str, name: str, tracker: HealthTracker) -> None:
        spec = tracker.spec
        while True:
            await self.clock.sleep(tracker.next_delay(self.clock.now()))
            try:
                result = await self.runtime.exec(task_id, name, self._command(spec), spec.timeout)
            except ContainerNotFound:
                return  # the container is gone; the reconciler notices the exit
            except RuntimeFailure as failure:
                passed, output, code = False, failure.reason, None
            else:
                passed, output, code = result.passed, result.output, result.exit_code
            before = tracker.status
            tracker.record(passed, self.clock.now(), output, code)
            if tracker.status != before:
                self.notify(key)

    @staticmethod
    def _command(spec: HealthCheckSpec) -> list[str]:
        """``CMD`` execs the rest; ``CMD-SHELL`` runs one string with ``/bin/sh -c`` (§2.7)."""
        command = list(spec.command)
        if command and command[0] == "CMD-SHELL":
            return ["/bin/sh", "-c", " ".join(command[1:])]
        if command and command[0] == "CMD":
            return command[1:]
        return command
