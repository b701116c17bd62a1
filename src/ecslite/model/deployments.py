"""The pure rules of ECS service deployments (spec/ecs.md §4.4–§4.10).

Nothing here reads the store or the clock: the service reconciler describes the service's live
tasks as :class:`ServiceTask` values and gets back what to do. The rules:

- Bounds (§4.4): ``maxTasks = floor(D × maximumPercent / 100)`` caps the live tasks of every
  deployment together; ``minHealthy = ceil(D × minimumHealthyPercent / 100)`` is the floor of
  healthy tasks. Integer arithmetic, so 3 × 125 % is 3, never 3.75 rounded by a float.
- One rolling step (:func:`rollout_step`): launch before stop. PRIMARY tasks are launched up to
  ``D`` while the total stays within ``maxTasks``; old tasks that do not serve (not yet RUNNING, or
  unhealthy) go first (they never count towards the floor); a running old task is stopped only
  when the healthy tasks exceed ``D`` (a healthy new task released it) or, when the ceiling leaves
  no room for the launches the PRIMARY still needs, down to ``minHealthy`` to make room (old tasks
  not yet counted healthy first). Unhealthy PRIMARY tasks are replaced the same way: the
  replacement starts first when there is room, else they go one at a time.
- Healthy (§4.5, no load balancer yet): the task's ``healthStatus`` when an essential container has
  a health check, else :data:`HEALTHY_AFTER_RUNNING_SECONDS` after it reached RUNNING. Failing
  checks do not get a task replaced before ``healthCheckGracePeriodSeconds`` (§4.8).
- Circuit breaker (§4.9): threshold ``min(200, max(3, ceil(0.5 × D)))``; which stopped tasks count.
- Launch throttling (§4.10): consecutive failures to start space out launches, doubling from
  :data:`THROTTLE_BASE_SECONDS` to a configurable maximum.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ecslite.model.tasks import StopCode

# §4.5: without a health check (and without a load balancer) a task counts as healthy this long
# after it reached RUNNING.
HEALTHY_AFTER_RUNNING_SECONDS = 40.0
# §4.9 / §15: the lower bound is 3 in the current API reference (10 in older guides and seed 004).
BREAKER_MIN_THRESHOLD = 3
BREAKER_MAX_THRESHOLD = 200
# The model's ThresholdConfiguration default (BOUNDED_PERCENT, 50) is the documented formula.
BREAKER_DEFAULT_TYPE = "BOUNDED_PERCENT"
BREAKER_DEFAULT_PERCENT = 50
# §4.10 local model: the first delay after a failed start, doubling up to the maximum (15 minutes
# by default; a newer text says 27, so the maximum is a setting).
THROTTLE_BASE_SECONDS = 10.0
THROTTLE_MAX_SECONDS = 900.0
# §4.6: ECS repeats "has reached a steady state." roughly every six hours while a service stays steady.
STEADY_REPEAT_SECONDS = 6 * 3600.0

DEPLOYMENT_ID_PREFIX = "ecs-svc/"


def new_deployment_id() -> str:
    """``ecs-svc/`` and 19 digits (§1.5)."""
    return f"{DEPLOYMENT_ID_PREFIX}{secrets.randbelow(9 * 10**18) + 10**18}"


def max_tasks(desired: int, maximum_percent: int) -> int:
    return desired * maximum_percent // 100


def min_healthy(desired: int, minimum_percent: int) -> int:
    return -(-desired * minimum_percent // 100)


# -- circuit breaker ---------------------------------------------------------------------------


def breaker_threshold(desired: int, config: Mapping[str, Any] | None = None) -> int:
    """Failures that trip the breaker for a deployment of ``desired`` tasks (§4.9).

    ``config`` is the breaker's ``thresholdConfiguration`` (``{type, value}``), which newer models
    carry: BOUNDED_PERCENT (the default, 50) keeps ECS's bounds of 3 and 200; UNBOUNDED_PERCENT
    drops them (at least 1); COUNT is the value itself. The two newer types are unverified.
    """
    kind = str((config or {}).get("type") or BREAKER_DEFAULT_TYPE)
    value = (config or {}).get("value")
    value = BREAKER_DEFAULT_PERCENT if value is None else int(value)
    if kind == "COUNT":
        return max(1, value)
    share = -(-desired * value // 100)
    if kind == "UNBOUNDED_PERCENT":
        return max(1, share)
    return min(BREAKER_MAX_THRESHOLD, max(BREAKER_MIN_THRESHOLD, share))


class StopOutcome(StrEnum):
    """How a service task ended, as the breaker and the throttle see it."""

    FAILED_TO_START = "FAILED_TO_START"  # stopped on its own before it reached RUNNING
    CRASHED = "CRASHED"  # reached RUNNING, stopped on its own before it was ever healthy
    HEALTH_FAILURE = "HEALTH_FAILURE"  # stopped by the scheduler for failing health checks
    ENDED = "ENDED"  # anything else: a healthy task exiting, scale-in, StopTask, Spot, lost


# Stop codes of a task that ended on its own; the others were decided by someone (the scheduler,
# the user, Fargate) and say nothing about whether the deployment's tasks can run.
_OWN_STOPS = frozenset({StopCode.TASK_FAILED_TO_START, StopCode.ESSENTIAL_CONTAINER_EXITED})


def classify_stop(stop_code: str | None, *, reached_running: bool, ever_healthy: bool, for_health: bool) -> StopOutcome:
    """§4.9: stage 1 counts tasks that stop before RUNNING, stage 2 tasks stopped for failed health
    checks; ecslite also counts a task that stops on its own before it was ever healthy, so a crash
    loop trips the breaker (the spec's choice where ECS is unverified)."""
    if for_health:
        return StopOutcome.HEALTH_FAILURE
    if stop_code not in _OWN_STOPS:
        return StopOutcome.ENDED
    if not reached_running:
        return StopOutcome.FAILED_TO_START
    return StopOutcome.ENDED if ever_healthy else StopOutcome.CRASHED


def counts_for_breaker(outcome: StopOutcome) -> bool:
    return outcome is not StopOutcome.ENDED


def counts_for_throttle(outcome: StopOutcome) -> bool:
    """§4.10: only tasks that go to STOPPED without reaching RUNNING slow the launches down."""
    return outcome is StopOutcome.FAILED_TO_START


def throttle_delay(consecutive_failures: int, maximum: float = THROTTLE_MAX_SECONDS) -> float:
    """Seconds between launches after ``consecutive_failures`` failed starts in a row."""
    if consecutive_failures <= 0:
        return 0.0
    return min(maximum, THROTTLE_BASE_SECONDS * 2.0 ** min(consecutive_failures - 1, 30))


# -- task health -------------------------------------------------------------------------------


class TaskPhase(StrEnum):
    """Where a live service task stands for the scheduler."""

    PENDING = "PENDING"  # not yet RUNNING
    STARTING = "STARTING"  # RUNNING, not yet counted healthy (or failing inside the grace period)
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"  # failing health checks after the grace period: to be replaced


@dataclass(frozen=True, slots=True)
class PhaseAt:
    phase: TaskPhase
    recheck_at: float | None = None  # when the phase may change without any store change


def has_essential_health_check(containers: Sequence[Mapping[str, Any]]) -> bool:
    return any(
        c.get("essential", True) is not False and (c.get("healthCheck") or {}).get("command") for c in containers
    )


def task_phase(
    *,
    last_status: str,
    started_at: float | None,
    health_status: str | None,
    has_health_check: bool,
    grace_seconds: float,
    now: float,
) -> PhaseAt:
    """§4.5 and §4.8 for a live task of a service without load balancers."""
    if last_status != "RUNNING" or started_at is None:
        return PhaseAt(TaskPhase.PENDING)
    if not has_health_check:
        healthy_at = started_at + HEALTHY_AFTER_RUNNING_SECONDS
        if now >= healthy_at:
            return PhaseAt(TaskPhase.HEALTHY)
        return PhaseAt(TaskPhase.STARTING, healthy_at)
    if health_status == "HEALTHY":
        return PhaseAt(TaskPhase.HEALTHY)
    if health_status == "UNHEALTHY":
        grace_ends = started_at + grace_seconds
        if now >= grace_ends:
            return PhaseAt(TaskPhase.UNHEALTHY)
        return PhaseAt(TaskPhase.STARTING, grace_ends)
    return PhaseAt(TaskPhase.STARTING)


# -- one rolling step --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceTask:
    """A live task of the service (desired RUNNING) as the scheduler sees it."""

    arn: str
    deployment_id: str
    phase: TaskPhase
    created_at: float = 0.0
    zone: str | None = None
    protected: bool = False  # scale-in protection (§4.11): kept by scale-in and deployments


class StopWhy(StrEnum):
    ROLLOUT = "ROLLOUT"  # old deployment, or scale-in of the PRIMARY
    UNHEALTHY = "UNHEALTHY"  # failed health checks, to be replaced


@dataclass(frozen=True, slots=True)
class StopOrder:
    arn: str
    why: StopWhy


# Picks ``count`` tasks to stop among the given ones (the placement strategies' choice, §5.3).
VictimChooser = Callable[[Sequence[ServiceTask], int], list[ServiceTask]]


@dataclass(frozen=True, slots=True)
class RolloutInput:
    desired: int
    minimum_percent: int
    maximum_percent: int
    primary_id: str
    tasks: Sequence[ServiceTask]
    can_launch: bool = True  # False while the PRIMARY failed (breaker) or its launches are throttled
    victims: VictimChooser | None = None  # default: scale_in_victims


@dataclass(frozen=True, slots=True)
class RolloutStep:
    launch: int
    stops: tuple[StopOrder, ...]
    stuck: bool  # the percentages allow no movement although the rollout is not done (§4.4 step 4)
    protected_block: bool = False  # protected tasks keep the service above its desired count (§4.11)


def rollout_step(given: RolloutInput) -> RolloutStep:
    desired = given.desired
    ceiling = max_tasks(desired, given.maximum_percent)
    floor = min_healthy(desired, given.minimum_percent)
    primary = [t for t in given.tasks if t.deployment_id == given.primary_id]
    old = [t for t in given.tasks if t.deployment_id != given.primary_id]
    choose = given.victims or scale_in_victims
    stops: list[StopOrder] = []
    # Old tasks that are not serving (not yet RUNNING, or failing their checks) never count towards
    # the floor: they go first, freeing room. Old tasks that run but are not yet counted healthy are
    # kept like healthy ones, and are the first to go when old tasks must make way.
    serving = (TaskPhase.HEALTHY, TaskPhase.STARTING)
    old_serving = [t for t in old if t.phase in serving]
    old_starting = [t for t in old_serving if t.phase is TaskPhase.STARTING]
    stops += [StopOrder(t.arn, StopWhy.ROLLOUT) for t in old if t.phase not in serving]
    # A PRIMARY above the desired count is scaled in, the least useful tasks first; protected tasks
    # are skipped (§4.11), so too many of them leave the service above its desired count.
    excess = len(primary) - desired
    scalable = [t for t in primary if not t.protected]
    victims = choose(scalable, min(excess, len(scalable))) if excess > 0 else []
    blocked = excess > len(victims)
    stops += [StopOrder(t.arn, StopWhy.ROLLOUT) for t in victims]
    gone = {t.arn for t in victims}
    primary = [t for t in primary if t.arn not in gone]
    unhealthy = [t for t in primary if t.phase is TaskPhase.UNHEALTHY]
    useful = len(primary) - len(unhealthy)
    live = len(old_serving) + len(primary)
    need = max(0, desired - useful)
    room = max(0, ceiling - live)
    launch = min(need, room) if given.can_launch else 0
    # §4.7: an unhealthy task goes once its replacement exists (or starts now); without room for a
    # replacement, one at a time so that the next step can start one.
    replaced = max(0, useful + launch + len(unhealthy) - desired)
    if given.can_launch and launch < need and room == 0:
        replaced = max(replaced, 1)
    stops += [StopOrder(t.arn, StopWhy.UNHEALTHY) for t in unhealthy[: min(len(unhealthy), replaced)]]
    healthy = sum(1 for t in primary if t.phase is TaskPhase.HEALTHY) + len(old_serving) - len(old_starting)
    surplus = max(0, healthy - desired)
    shortfall = need - launch if given.can_launch else 0
    droppable = len(old_starting) + max(0, healthy - floor)
    wanted = min(len(old_serving), max(surplus, min(droppable, shortfall)))
    # A protected old task stays until its protection ends or is removed (§4.11).
    releasable = [t for t in old_serving if not t.protected]
    release = min(wanted, len(releasable))
    stops += [StopOrder(t.arn, StopWhy.ROLLOUT) for t in choose(releasable, release)] if release > 0 else []
    blocked = blocked or wanted > release
    in_flight = any(t.phase is not TaskPhase.HEALTHY for t in given.tasks)
    unfinished = bool(old) or useful < desired
    stuck = given.can_launch and unfinished and not in_flight and launch == 0 and not stops and not blocked
    return RolloutStep(launch=launch, stops=tuple(stops), stuck=stuck, protected_block=blocked)


_VICTIM_ORDER = {TaskPhase.UNHEALTHY: 0, TaskPhase.PENDING: 1, TaskPhase.STARTING: 2, TaskPhase.HEALTHY: 3}


VICTIM_RANK = _VICTIM_ORDER


def scale_in_victims(tasks: Sequence[ServiceTask], count: int) -> list[ServiceTask]:
    """Which ``count`` tasks to stop (§4.4): unhealthy, then not yet RUNNING, then not yet healthy,
    then healthy; within each, from the zone holding the most tasks (keeping zones balanced, the
    default spread), newest first. Services on container instances pass a chooser that follows
    their placement strategies instead (``RolloutInput.victims``, ``control.service_placement``)."""
    chosen: list[ServiceTask] = []
    remaining = list(tasks)
    zones = Counter(t.zone for t in remaining)
    for _ in range(max(0, min(count, len(remaining)))):
        victim = min(remaining, key=lambda t: (_VICTIM_ORDER[t.phase], -zones[t.zone], -t.created_at, t.arn))
        remaining.remove(victim)
        zones[victim.zone] -= 1
        chosen.append(victim)
    return chosen


def is_steady(desired: int, primary_id: str, tasks: Sequence[ServiceTask]) -> bool:
    """§4.6: the PRIMARY has exactly ``desired`` tasks, all healthy, and no other deployment has any."""
    if any(t.deployment_id != primary_id for t in tasks):
        return False
    primary = [t for t in tasks if t.deployment_id == primary_id]
    return len(primary) == desired and all(t.phase is TaskPhase.HEALTHY for t in primary)
