"""A service task's health as its target groups see it (spec/ecs.md §4.5, §4.7, §4.8, §7.4).

A task started with ``loadBalancers`` that name target groups counts healthy for deployments only
when its target is ``healthy`` in every one of them (and, with an essential container health check,
when the task is HEALTHY as well). A target ``unhealthy`` in any group, once the service's
``healthCheckGracePeriodSeconds`` from the task's start has passed, makes the task UNHEALTHY: the
scheduler stops it with ``Task failed ELB health checks in (target-group <arn>)`` and replaces it.
In between (``initial``, no target row yet, unhealthy inside the grace) the task is STARTING.

The targets are the ones frozen when the task entered ACTIVATING (``task_activation``), so a later
UpdateService does not change which groups judge a running task. Target states come from the store
(``store.elbv2``), written by the health checker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecslite.control.task_activation import Target, activation_of, targets_of
from ecslite.model.deployments import PhaseAt, TaskPhase
from ecslite.store import elbv2 as elb_store
from ecslite.store.db import Database

ELB_UNHEALTHY_REASON = "Task failed ELB health checks in (target-group {arn})"  # §3.6, §7.4
# §4.10; the event's format is unverified.
ELB_UNHEALTHY_EVENT = "(task {task}) (port {port}) is unhealthy in (target-group {arn}) due to (reason {reason})."
# Beyond ECS (§7.5): the last check's outcome, after ECS's text.
LAST_CHECK_STATUS = " The last health check got HTTP {status} in {latency:.0f} ms."
LAST_CHECK_ERROR = " The last health check failed ({error}) after {latency:.0f} ms."


@dataclass(frozen=True, slots=True)
class TargetsHealth:
    """``healthy`` in every group; the first target found ``unhealthy`` and why."""

    healthy: bool
    unhealthy: Target | None = None
    description: str | None = None


def targets_health(db: Database, task: Mapping[str, Any]) -> TargetsHealth | None:
    """None for a task without target groups (the other rows of §4.5 apply)."""
    attachments = activation_of(task)
    if attachments is None or not any(lb.get("targetGroupArn") for lb in attachments.load_balancers):
        return None
    targets = targets_of(db, task, attachments)
    if not targets:
        return TargetsHealth(False)
    healthy = True
    for target in targets:
        row = elb_store.get_target(db, target.target_group_arn, target.id, target.port)
        state = row.state if row is not None else None
        if state == "unhealthy":
            return TargetsHealth(False, target, (row.description if row is not None else None) or "")
        healthy = healthy and state == "healthy"
    return TargetsHealth(healthy)


def with_targets(
    base: PhaseAt,
    health: TargetsHealth | None,
    *,
    started_at: float | None,
    has_health_check: bool,
    grace_seconds: float,
    now: float,
) -> PhaseAt:
    """§4.5 for a task behind target groups, from the phase its containers alone would give."""
    if health is None or base.phase is TaskPhase.PENDING or started_at is None:
        return base
    if health.unhealthy is not None:
        grace_ends = started_at + grace_seconds
        return PhaseAt(TaskPhase.UNHEALTHY) if now >= grace_ends else PhaseAt(TaskPhase.STARTING, grace_ends)
    if has_health_check and base.phase is not TaskPhase.HEALTHY:
        return base
    # Without a container health check the target, not the 40-second rule, says when it is healthy.
    return PhaseAt(TaskPhase.HEALTHY) if health.healthy else PhaseAt(TaskPhase.STARTING)


def unhealthy_stop(db: Database, task: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(stoppedReason, event text)`` when the task is to stop for a failing target, else None."""
    health = targets_health(db, task)
    if health is None or health.unhealthy is None:
        return None
    target = health.unhealthy
    task_id = str(task["taskArn"]).rsplit("/", 1)[-1]
    event = ELB_UNHEALTHY_EVENT.format(
        task=task_id, port=target.port, arn=target.target_group_arn, reason=health.description or "unknown"
    )
    row = elb_store.get_target(db, target.target_group_arn, target.id, target.port)
    return ELB_UNHEALTHY_REASON.format(arn=target.target_group_arn), event + last_check_text(
        row.last_check if row is not None else None
    )


def last_check_text(check: Mapping[str, Any] | None) -> str:
    """The sentence after ECS's event text: the last check's status or error and latency ("" before any)."""
    if not check:
        return ""
    latency = float(check.get("latencyMs") or 0.0)
    if check.get("status") is not None:
        return LAST_CHECK_STATUS.format(status=check["status"], latency=latency)
    return LAST_CHECK_ERROR.format(error=check.get("error") or "no answer", latency=latency)
