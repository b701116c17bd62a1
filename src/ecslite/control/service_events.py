"""Service events (spec/ecs.md §4.10) and the announcements of service state changes (§12.1).

Every event message starts with ``(service <name>)``; the texts after it are ECS's (the ones the
spec marks unverified are kept verbatim here, one constant each). Events are written in the
reconcile step's transaction (store.services keeps the newest 100); an event identical to the
service's newest one within :data:`REPEAT_SECONDS` is not written again, as ECS suppresses
repeats (§4.10), so a placement failure retried every few seconds shows once.

Announcements are the hook the events/EventBridge milestone attaches to: the reconciler collects
:class:`Announcement` values (``ECS Service Action`` / ``ECS Deployment State Change`` details)
during a step and hands them to every registered :class:`AnnouncementHook` after the step's
transaction committed, so a rolled-back step never announces anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ecslite.store import services as svc_store
from ecslite.store.db import Database

REPEAT_SECONDS = 6 * 3600.0
# ECS names at most ten tasks in one "has started"/"has stopped" event; a larger batch takes several.
TASKS_PER_EVENT = 10
TROUBLESHOOTING = "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."

STARTED = "has started {count} tasks: {tasks}."
STOPPED = "has stopped {count} running tasks: {tasks}."
REPLACED_UNHEALTHY = " Amazon ECS replaced {count} tasks due to an unhealthy status."
STEADY = "has reached a steady state."
DEPLOYMENT_COMPLETED = "(deployment {id}) deployment completed."
DEPLOYMENT_FAILED = "(deployment {id}) deployment failed: tasks failed to start."
# StopServiceDeployment (stopType ROLLBACK) stopped the deployment (unverified wording).
DEPLOYMENT_STOPPED = "(deployment {id}) deployment stopped: rollback requested."
CONTAINER_UNHEALTHY = "(task {task}) failed container health checks."
STUCK = (
    "was unable to stop or start tasks during a deployment because of the service deployment configuration. "
    "Update the minimumHealthyPercent or maximumPercent value and try again."
)
PROTECTED_BLOCK = (
    "was unable to reach steady state because task set ({id}) was unable to scale in. "
    "Reason: The number of protected tasks are more than the desired count of tasks."
)
THROTTLED = f"is unable to consistently start tasks successfully. {TROUBLESHOOTING}"
NO_INSTANCES = (
    "was unable to place a task because no container instance met all of its requirements. "
    f"Reason: No Container Instances were found in your cluster. {TROUBLESHOOTING}"
)
CLOSEST_INSTANCE = (
    "was unable to place a task because no container instance met all of its requirements. "
    "The closest matching (container-instance {instance}) {problem} {troubleshooting} {detail}"
)
CLOSEST_PROBLEMS = {
    "RESOURCE:MEMORY": "has insufficient memory available.",
    "RESOURCE:CPU": "has insufficient CPU units available.",
    "RESOURCE:PORTS": "is already using a port required by your task.",
    "RESOURCE:PORTS_UDP": "is already using a port required by your task.",
}
LAUNCH_FAILED = "failed to launch a task with (error {error})."
# ecslite's own notes (§1.3 "Beyond ECS"), written once, saying what a later milestone brings.
DAEMON_NOT_SCHEDULED = (
    "uses the DAEMON scheduling strategy, which ecslite accepts but does not schedule yet: placing one task on "
    "each container instance comes with the placement engine, so the service has no tasks."
)
# §7.4: ACTIVATING and DEACTIVATING of a task behind target groups.
TARGETS_REGISTERED = "registered {count} targets in (target-group {arn})"
TARGETS_DEREGISTERED = "deregistered {count} targets in (target-group {arn})"
DRAINING_CONNECTIONS = "has begun draining connections on {count} tasks."
SERVICE_CONNECT_NOT_SERVED = (
    "has a Service Connect configuration, which ecslite stores but does not serve yet: no proxy is added to its tasks."
)
# §4.9 deployment alarms (control.service_alarms). The failure event is the one ECS writes; the
# two notes are ecslite's own, saying why a deployment's alarms do not watch it.
DEPLOYMENT_ALARM_FAILED = "(deployment {id}) deployment failed: alarm detected."
ALARMS_IN_ALARM_AT_START = (
    "(deployment {id}) is not monitored by its deployment alarms: {names} already in ALARM when it started."
)
ALARMS_MISSING = "(deployment {id}) deployment alarms {names} do not exist: they cannot fail the deployment."


def message(service: str, text: str) -> str:
    return f"(service {service}) {text}"


def batches(task_arns: Sequence[str]) -> list[Sequence[str]]:
    return [task_arns[i : i + TASKS_PER_EVENT] for i in range(0, len(task_arns), TASKS_PER_EVENT)]


def task_list(task_arns: Sequence[str]) -> str:
    return " ".join(f"(task {arn.rsplit('/', 1)[-1]})" for arn in task_arns)


def record(db: Database, service_arn: str, text: str, now: float) -> bool:
    """Write an event unless the newest one says the same and is recent; True when written."""
    newest = svc_store.latest_event(db, service_arn)
    if newest is not None and newest["message"] == text and now - float(newest["createdAt"]) < REPEAT_SECONDS:
        return False
    svc_store.add_event(db, service_arn, text, now)
    return True


class AnnouncementKind(StrEnum):
    SERVICE_ACTION = "ECS Service Action"
    DEPLOYMENT_STATE_CHANGE = "ECS Deployment State Change"


@dataclass(frozen=True, slots=True)
class Announcement:
    """One state change worth announcing (the ``detail`` of §12.1's service events)."""

    kind: AnnouncementKind
    event_type: str  # INFO | WARN | ERROR
    event_name: str  # SERVICE_STEADY_STATE, SERVICE_DEPLOYMENT_COMPLETED, ...
    service_arn: str
    cluster_arn: str
    at: float
    deployment_id: str | None = None
    reason: str | None = None


class AnnouncementHook(Protocol):
    def __call__(self, announcement: Announcement) -> None: ...
