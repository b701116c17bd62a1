"""Services, deployments, service revisions and service deployments as documents (spec/ecs.md §4).

Pure builders shared by the provider (CreateService, UpdateService start deployments) and the
service controller (a circuit-breaker rollback starts one too), so both write the same shapes:

- a **deployment** (``service.deployments[]``, id ``ecs-svc/<19 digits>``) is what the scheduler
  runs: one configuration (:class:`DeploymentSpec`), ``PRIMARY`` or ``ACTIVE``, its rollout state
  and failure count. Counts (``runningCount``, ``pendingCount``) are never stored: views compute
  them from the task rows (§4.3).
- a **service revision** is the immutable snapshot of that configuration; its id repeats the
  deployment's digits, so one names the other.
- a **service deployment** is the history record (ListServiceDeployments) of one change from
  source revisions to a target revision, with its own status (``IN_PROGRESS`` → ``SUCCESSFUL``,
  ``STOPPED``, ``ROLLBACK_*``). A rollback is a new deployment in ``deployments[]`` but stays part
  of the failed service deployment, whose ``rollback`` member points at the revision rolled back to.

Private members start with ``_`` and never reach a client (views copy public members only).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ecslite.model.blue_green import is_blue_green
from ecslite.model.deployments import new_deployment_id
from ecslite.model.task_launch import FARGATE_PLATFORM_VERSIONS

SERVICE_LINKED_ROLE = "role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"


class ServiceStatus(StrEnum):
    ACTIVE = "ACTIVE"
    DRAINING = "DRAINING"
    INACTIVE = "INACTIVE"


class DeploymentStatus(StrEnum):
    PRIMARY = "PRIMARY"
    ACTIVE = "ACTIVE"


class RolloutState(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class ServiceDeploymentStatus(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESSFUL = "SUCCESSFUL"
    STOPPED = "STOPPED"
    STOP_REQUESTED = "STOP_REQUESTED"
    ROLLBACK_REQUESTED = "ROLLBACK_REQUESTED"
    ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
    ROLLBACK_SUCCESSFUL = "ROLLBACK_SUCCESSFUL"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"


FINISHED_SERVICE_DEPLOYMENT = frozenset(
    {
        ServiceDeploymentStatus.SUCCESSFUL,
        ServiceDeploymentStatus.STOPPED,
        ServiceDeploymentStatus.ROLLBACK_SUCCESSFUL,
        ServiceDeploymentStatus.ROLLBACK_FAILED,
    }
)

# Not yet finished (the developer guide's "Pending" and "Ongoing" stages): what a newer deployment or
# the service's deletion stops.
UNFINISHED_SERVICE_DEPLOYMENT = frozenset(set(ServiceDeploymentStatus) - FINISHED_SERVICE_DEPLOYMENT)


class MonitorStatus(StrEnum):
    """``deploymentCircuitBreaker.status`` / ``alarms.status`` of a service deployment."""

    TRIGGERED = "TRIGGERED"
    MONITORING = "MONITORING"
    MONITORING_COMPLETE = "MONITORING_COMPLETE"
    DISABLED = "DISABLED"


class SchedulingStrategy(StrEnum):
    REPLICA = "REPLICA"
    DAEMON = "DAEMON"


class ControllerType(StrEnum):
    ECS = "ECS"
    CODE_DEPLOY = "CODE_DEPLOY"
    EXTERNAL = "EXTERNAL"


# §4.3 rolloutStateReason texts.
ROLLOUT_IN_PROGRESS = "ECS deployment {id} in progress."
ROLLOUT_COMPLETED = "ECS deployment {id} completed."
ROLLOUT_BREAKER_FAILED = "ECS deployment circuit breaker: tasks failed to start."
ROLLOUT_ROLLING_BACK = "ECS deployment circuit breaker: rolling back to deploymentId {id}."
# A deployment alarm in ALARM (§4.9): the failed deployment's reason (also the service deployment's
# statusReason and the SERVICE_DEPLOYMENT_FAILED reason) and the rollback's (unverified wording).
ROLLOUT_ALARM_FAILED = "ECS deployment alarms: alarm detected."
ROLLOUT_ALARM_ROLLING_BACK = "ECS deployment alarms: rolling back to deploymentId {id}."
# StopServiceDeployment with stopType ROLLBACK (§4.11): the rollback deployment's reason (also the
# service deployment's ``rollback.reason`` and the announcement's), the stopped deployment's reason
# and the service deployment's statusReason once the stop is accepted (all three unverified wording).
ROLLOUT_STOP_ROLLING_BACK = "ECS deployment stop requested: rolling back to deploymentId {id}."
ROLLOUT_STOPPED = "ECS deployment {id} stopped: rollback requested."
ROLLBACK_REQUESTED_REASON = "Service deployment stop requested with stopType ROLLBACK."
# Service deployment statusReason of a deployment replaced by a newer one (unverified wording).
SUPERSEDED_REASON = "Stopped because a newer service deployment started."

_ID_ALPHABET = string.ascii_letters + string.digits


def service_deployment_arn(region: str, account: str, cluster: str, service: str) -> str:
    """``…:service-deployment/<cluster>/<service>/<21 letters and digits>`` (as ECS's examples show)."""
    ident = "".join(secrets.choice(_ID_ALPHABET) for _ in range(21))
    return f"arn:aws:ecs:{region}:{account}:service-deployment/{cluster}/{service}/{ident}"


def service_revision_arn(region: str, account: str, cluster: str, service: str, deployment_id: str) -> str:
    """``…:service-revision/<cluster>/<service>/<19 digits>``: the digits of the deployment it runs."""
    digits = deployment_id.rsplit("/", 1)[-1]
    return f"arn:aws:ecs:{region}:{account}:service-revision/{cluster}/{service}/{digits}"


def resolved_platform(launch_type: str | None, requested: str | None) -> str | None:
    """The platform version tasks show: Fargate's ``LATEST`` is ``1.4.0`` (§13.1); none off Fargate."""
    if launch_type != "FARGATE":
        return None
    return FARGATE_PLATFORM_VERSIONS.get(requested or "LATEST", requested)


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """What one deployment runs: the configuration a service revision freezes (§4.2 lists the
    members whose change starts a new deployment)."""

    task_definition: str
    launch_type: str | None = None
    capacity_provider_strategy: tuple[Mapping[str, Any], ...] = ()
    platform_version: str | None = None  # as requested (``LATEST``), Fargate only
    network_configuration: Mapping[str, Any] | None = None
    load_balancers: tuple[Mapping[str, Any], ...] = ()
    service_registries: tuple[Mapping[str, Any], ...] = ()
    service_connect_configuration: Mapping[str, Any] | None = None
    fargate: bool = False

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"taskDefinition": self.task_definition, "fargate": self.fargate}
        if self.launch_type:
            doc["launchType"] = self.launch_type
        if self.capacity_provider_strategy:
            doc["capacityProviderStrategy"] = [dict(i) for i in self.capacity_provider_strategy]
        if self.platform_version:
            doc["platformVersion"] = self.platform_version
        if self.network_configuration:
            doc["networkConfiguration"] = _plain(self.network_configuration)
        doc["loadBalancers"] = [dict(i) for i in self.load_balancers]
        doc["serviceRegistries"] = [dict(i) for i in self.service_registries]
        if self.service_connect_configuration:
            doc["serviceConnectConfiguration"] = _plain(self.service_connect_configuration)
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> DeploymentSpec:
        return cls(
            task_definition=str(doc["taskDefinition"]),
            launch_type=doc.get("launchType"),
            capacity_provider_strategy=tuple(doc.get("capacityProviderStrategy") or ()),
            platform_version=doc.get("platformVersion"),
            network_configuration=doc.get("networkConfiguration"),
            load_balancers=tuple(doc.get("loadBalancers") or ()),
            service_registries=tuple(doc.get("serviceRegistries") or ()),
            service_connect_configuration=doc.get("serviceConnectConfiguration"),
            fargate=bool(doc.get("fargate")),
        )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Rollback:
    """A rollback (the circuit breaker's, or one StopServiceDeployment asked for): back to
    ``deployment_id``'s revision, inside the service deployment it ends."""

    deployment_id: str
    revision_arn: str
    service_deployment_arn: str | None
    reason: str = ROLLOUT_ROLLING_BACK  # formatted with ``deployment_id``


@dataclass(frozen=True, slots=True)
class DeploymentStart:
    """Everything a new deployment is built from."""

    region: str
    account: str
    cluster: str
    service: str
    service_arn: str
    cluster_arn: str
    spec: DeploymentSpec
    desired: int
    now: float
    deployment_configuration: Mapping[str, Any]
    container_images: Sequence[Mapping[str, str]] = ()
    rollback: Rollback | None = None
    deployment_id: str = field(default_factory=new_deployment_id)


@dataclass(frozen=True, slots=True)
class NewDeployment:
    deployment: dict[str, Any]
    revision: dict[str, Any] | None  # None for a rollback: it returns to an existing revision
    service_deployment: dict[str, Any] | None  # None for a rollback: it stays in the failed one


def start_deployment(start: DeploymentStart, source_revisions: Sequence[str] = ()) -> NewDeployment:
    """A new PRIMARY deployment with its service revision and service deployment (a rollback reuses
    the revision it returns to and belongs to the service deployment that failed)."""
    spec = start.spec
    rollback = start.rollback
    if rollback is None:
        revision_arn = service_revision_arn(
            start.region, start.account, start.cluster, start.service, start.deployment_id
        )
        reason = ROLLOUT_IN_PROGRESS.format(id=start.deployment_id)
    else:
        revision_arn = rollback.revision_arn
        reason = rollback.reason.format(id=rollback.deployment_id)
    deployment: dict[str, Any] = {
        "id": start.deployment_id,
        "status": DeploymentStatus.PRIMARY.value,
        "taskDefinition": spec.task_definition,
        "desiredCount": start.desired,
        "failedTasks": 0,
        "createdAt": start.now,
        "updatedAt": start.now,
        "rolloutState": RolloutState.IN_PROGRESS.value,
        "rolloutStateReason": reason,
        "_spec": spec.to_doc(),
        "_revisionArn": revision_arn,
    }
    deployment.update(_launch_members(spec))
    if spec.network_configuration:
        deployment["networkConfiguration"] = _plain(spec.network_configuration)
    if spec.service_connect_configuration:
        deployment["serviceConnectConfiguration"] = _plain(spec.service_connect_configuration)
    if rollback is None and is_blue_green(start.deployment_configuration):
        # The service controller takes it through the blue/green stages (control.service_blue_green).
        deployment["_blueGreen"] = {}
    if rollback is not None:
        deployment["_serviceDeploymentArn"] = rollback.service_deployment_arn
        deployment["_rollbackTo"] = rollback.deployment_id
        return NewDeployment(deployment, None, None)
    arn = service_deployment_arn(start.region, start.account, start.cluster, start.service)
    deployment["_serviceDeploymentArn"] = arn
    service_deployment = {
        "serviceDeploymentArn": arn,
        "serviceArn": start.service_arn,
        "clusterArn": start.cluster_arn,
        "createdAt": start.now,
        "startedAt": start.now,
        "updatedAt": start.now,
        "sourceServiceRevisions": [{"arn": a} for a in source_revisions],
        "targetServiceRevision": {"arn": revision_arn},
        "status": ServiceDeploymentStatus.IN_PROGRESS.value,
        "deploymentConfiguration": _plain(start.deployment_configuration),
        "_deploymentId": start.deployment_id,
    }
    return NewDeployment(deployment, _revision(start, revision_arn), service_deployment)


def _launch_members(spec: DeploymentSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.capacity_provider_strategy:
        out["capacityProviderStrategy"] = [dict(i) for i in spec.capacity_provider_strategy]
    elif spec.launch_type:
        out["launchType"] = spec.launch_type
    if spec.fargate:
        out["platformVersion"] = resolved_platform("FARGATE", spec.platform_version)
        out["platformFamily"] = "Linux"
    return out


def _revision(start: DeploymentStart, arn: str) -> dict[str, Any]:
    spec = start.spec
    revision: dict[str, Any] = {
        "serviceRevisionArn": arn,
        "serviceArn": start.service_arn,
        "clusterArn": start.cluster_arn,
        "taskDefinition": spec.task_definition,
        "loadBalancers": [dict(i) for i in spec.load_balancers],
        "serviceRegistries": [dict(i) for i in spec.service_registries],
        "containerImages": [dict(i) for i in start.container_images],
        "guardDutyEnabled": False,
        "serviceConnectConfiguration": _plain(spec.service_connect_configuration or {"enabled": False}),
        "createdAt": start.now,
    }
    revision.update(_launch_members(spec))
    if spec.network_configuration:
        revision["networkConfiguration"] = _plain(spec.network_configuration)
    return revision


_SPEC_MEMBERS = (
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "platformFamily",
    "loadBalancers",
    "serviceRegistries",
    "networkConfiguration",
    "_serviceConnectConfiguration",
)


def apply_spec(service: dict[str, Any], spec: DeploymentSpec) -> None:
    """Make the service's own members show what its PRIMARY deployment runs (a new deployment or a
    rollback): launch type or strategy, ``platformVersion`` as requested (``LATEST`` by default),
    load balancers, registries, network and Service Connect configuration."""
    for key in _SPEC_MEMBERS:
        service.pop(key, None)
    service["taskDefinition"] = spec.task_definition
    if spec.capacity_provider_strategy:
        service["capacityProviderStrategy"] = [dict(i) for i in spec.capacity_provider_strategy]
    elif spec.launch_type:
        service["launchType"] = spec.launch_type
    if spec.fargate:
        service["platformVersion"] = spec.platform_version or "LATEST"
        service["platformFamily"] = "Linux"
    service["loadBalancers"] = [dict(i) for i in spec.load_balancers]
    service["serviceRegistries"] = [dict(i) for i in spec.service_registries]
    if spec.network_configuration:
        service["networkConfiguration"] = _plain(spec.network_configuration)
    if spec.service_connect_configuration:
        service["_serviceConnectConfiguration"] = _plain(spec.service_connect_configuration)


def container_images(definition: Mapping[str, Any]) -> list[dict[str, str]]:
    """``containerImages`` of a revision before any task resolved a digest."""
    return [
        {"containerName": str(c["name"]), "image": str(c.get("image", ""))}
        for c in definition.get("containerDefinitions") or ()
    ]


def public(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The members a client may see (private ones start with ``_``)."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}
