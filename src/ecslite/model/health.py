"""Container health checks as ECS evaluates them (spec/ecs.md §2.7).

- ``UNKNOWN`` until the first result; ``HEALTHY`` after a pass; ``UNHEALTHY`` after ``retries``
  consecutive failures.
- Failures inside ``startPeriod`` do not count; a pass inside it makes the container HEALTHY at
  once and ends the start period (Docker's rule, which ECS uses).
- When checks run (:meth:`HealthTracker.next_delay`) follows Docker Engine 25, the engine
  of the current ECS-optimized AMIs: while a container is still starting inside its ``startPeriod``
  the checks run every 5 s (Docker's default start interval; ECS has no field to change it), so a
  container that comes up quickly turns HEALTHY after seconds, not after one ``interval``. Without
  a start period the first check runs one ``interval`` after the start, as before Docker 25.
- Task health looks at essential containers only: any UNHEALTHY → UNHEALTHY, else any UNKNOWN →
  UNKNOWN, else HEALTHY. An essential container without a check keeps the task UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ecslite.model.tasks import (
    DEFAULT_HEALTH_INTERVAL,
    DEFAULT_HEALTH_RETRIES,
    DEFAULT_HEALTH_START_PERIOD,
    DEFAULT_HEALTH_TIMEOUT,
    HealthStatus,
)

# Docker's defaultStartInterval: the gap between checks during the start period while starting.
DOCKER_START_INTERVAL = 5.0


@dataclass(frozen=True, slots=True)
class HealthCheckSpec:
    command: tuple[str, ...]
    interval: float = DEFAULT_HEALTH_INTERVAL
    timeout: float = DEFAULT_HEALTH_TIMEOUT
    retries: int = DEFAULT_HEALTH_RETRIES
    start_period: float = DEFAULT_HEALTH_START_PERIOD

    @classmethod
    def from_definition(cls, check: Mapping[str, Any] | None) -> HealthCheckSpec | None:
        """The check of a container definition with ECS's defaults; ``None`` without one."""
        if not check or not check.get("command"):
            return None
        return cls(
            command=tuple(str(part) for part in check["command"]),
            interval=float(check.get("interval") or DEFAULT_HEALTH_INTERVAL),
            timeout=float(check.get("timeout") or DEFAULT_HEALTH_TIMEOUT),
            retries=int(check.get("retries") or DEFAULT_HEALTH_RETRIES),
            start_period=float(check.get("startPeriod") or DEFAULT_HEALTH_START_PERIOD),
        )


class HealthTracker:
    """The health of one running container, fed one check result at a time."""

    def __init__(self, spec: HealthCheckSpec, started_at: float) -> None:
        self.spec = spec
        self.started_at = started_at
        self.status = HealthStatus.UNKNOWN
        self.consecutive_failures = 0
        self._passed_once = False
        self.last_output = ""
        self.last_exit_code: int | None = None

    def in_start_period(self, at: float) -> bool:
        return not self._passed_once and at < self.started_at + self.spec.start_period

    def next_delay(self, at: float) -> float:
        """Seconds from ``at`` (the end of the previous check, or the start) to the next check.

        Docker 25's rule (the engine of the ECS-optimized AMIs): inside the start period and still
        starting (no pass yet), the 5 s start interval; otherwise ``interval``. (Later engines also
        cut a wait at the end of the start period; ECS's hosts do not run them yet.)
        """
        if at - self.started_at < self.spec.start_period and self.status == HealthStatus.UNKNOWN:
            return DOCKER_START_INTERVAL
        return self.spec.interval

    def record(self, passed: bool, at: float, output: str = "", exit_code: int | None = None) -> HealthStatus:
        self.last_output, self.last_exit_code = output, exit_code
        if passed:
            self._passed_once = True
            self.consecutive_failures = 0
            self.status = HealthStatus.HEALTHY
        elif not self.in_start_period(at):
            self.consecutive_failures += 1
            if self.consecutive_failures >= self.spec.retries:
                self.status = HealthStatus.UNHEALTHY
        return self.status


def task_health(essential_statuses: Iterable[str]) -> HealthStatus:
    statuses = list(essential_statuses)
    if HealthStatus.UNHEALTHY in statuses:
        return HealthStatus.UNHEALTHY
    if not statuses or HealthStatus.UNKNOWN in statuses:
        return HealthStatus.UNKNOWN
    return HealthStatus.HEALTHY
