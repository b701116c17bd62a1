"""Task and container statuses, stop codes and the fixed texts ECS shows for them (spec/ecs.md §3).

Lifecycle order matters for tasks (a task only moves forward through ``TASK_STATUS_ORDER``), so
it is kept explicit beside the enum. Reasons that ECS words exactly are constants here, so the
provider and the controller use one spelling.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NewType

TaskArn = NewType("TaskArn", str)
TaskId = NewType("TaskId", str)


class TaskStatus(StrEnum):
    PROVISIONING = "PROVISIONING"
    PENDING = "PENDING"
    ACTIVATING = "ACTIVATING"
    RUNNING = "RUNNING"
    DEACTIVATING = "DEACTIVATING"
    STOPPING = "STOPPING"
    DEPROVISIONING = "DEPROVISIONING"
    STOPPED = "STOPPED"


TASK_STATUS_ORDER: tuple[TaskStatus, ...] = tuple(TaskStatus)
# The states between the start of the containers and their stop signals (§3.1): ACTIVATING and
# DEACTIVATING bracket RUNNING for tasks registered with load balancers or Cloud Map.
CONTAINERS_UP: tuple[TaskStatus, ...] = (TaskStatus.ACTIVATING, TaskStatus.RUNNING, TaskStatus.DEACTIVATING)


def status_rank(status: str) -> int:
    """Position of a task ``lastStatus`` in the lifecycle (§3.1); unknown texts rank first."""
    try:
        return TASK_STATUS_ORDER.index(TaskStatus(status))
    except ValueError:
        return -1


class DesiredStatus(StrEnum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


class ContainerStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


class HealthStatus(StrEnum):
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    UNKNOWN = "UNKNOWN"


class StopCode(StrEnum):
    TASK_FAILED_TO_START = "TaskFailedToStart"
    ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
    USER_INITIATED = "UserInitiated"
    SERVICE_SCHEDULER_INITIATED = "ServiceSchedulerInitiated"
    SPOT_INTERRUPTION = "SpotInterruption"
    TERMINATION_NOTICE = "TerminationNotice"
    INFRASTRUCTURE_HEALTH = "InfrastructureHealth"


class LaunchType(StrEnum):
    EC2 = "EC2"
    FARGATE = "FARGATE"
    EXTERNAL = "EXTERNAL"
    MANAGED_INSTANCES = "MANAGED_INSTANCES"


class AttachmentStatus(StrEnum):
    PRECREATED = "PRECREATED"
    ATTACHED = "ATTACHED"
    DETACHED = "DETACHED"
    DELETED = "DELETED"


ENI_ATTACHMENT_TYPE = "ElasticNetworkInterface"

# §3.5 / §3.6: texts ECS shows verbatim.
ESSENTIAL_CONTAINER_EXITED = "Essential container in task exited"
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
# §3.6 (unverified): StopTask without a reason.
DEFAULT_USER_STOP_REASON = "Task stopped by user"
# §3.6 / seed 004.
FORCED_DEREGISTRATION_REASON = "Container instance deregistration forced by user"
# §3.3 prefixes of start failures.
CANNOT_PULL = "CannotPullContainerError"
CANNOT_START = "CannotStartContainerError"
CANNOT_CREATE = "CannotCreateContainerError"
RESOURCE_INITIALIZATION = "ResourceInitializationError"
DEPENDENCY_PREFIX = f"{CANNOT_START}: dependency graph:"

# Timestamps that must stay in this order where present (§3.2).
TIMESTAMP_ORDER = (
    "createdAt",
    "pullStartedAt",
    "pullStoppedAt",
    "startedAt",
    "stoppingAt",
    "executionStoppedAt",
    "stoppedAt",
)

# Exit codes a process gets from the signals of the stop sequence (§3.4).
SIGTERM = 15
SIGKILL = 9
EXIT_SIGTERM = 128 + SIGTERM
EXIT_SIGKILL = 128 + SIGKILL

# ECS's defaults for containers (§2.4, §2.7).
DEFAULT_STOP_TIMEOUT = 30.0
DEFAULT_HEALTH_INTERVAL = 30.0
DEFAULT_HEALTH_TIMEOUT = 5.0
DEFAULT_HEALTH_RETRIES = 3
DEFAULT_HEALTH_START_PERIOD = 0.0


def protection_of(doc: dict[str, Any], now: float) -> tuple[bool, float | None]:
    """Whether the task is scale-in protected at ``now`` and until when (``None`` when it is not).

    The state is the task document's private ``_protection`` member (``{"enabled", "expiresAt"}``,
    spec/ecs.md §4.11); an expired protection reads as off, so nothing has to clear it on time.
    """
    protection = doc.get("_protection") or {}
    expires = protection.get("expiresAt")
    if protection.get("enabled") and expires is not None and now < float(expires):
        return True, float(expires)
    return False, None
