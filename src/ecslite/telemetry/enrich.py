"""ECS enrichment: which task owns a listener, and the resource attributes its telemetry gets (§2.1).

The task controller tells telemetry about tasks through :class:`TaskOwners` (one call per change:
:meth:`TaskOwners.update` when a task's sandbox exists and :meth:`TaskOwners.remove` when it
stops); the pipeline never reads the state store. A listener belongs to one task, so the task is
known; the sending container is the one whose ``OTEL_SERVICE_NAME`` (else whose name) equals the
resource's ``service.name``, else stays unset (§0).

Precedence: ecslite fills only missing keys, so SDK values win (an SDK's ECS detector reads the
same metadata and agrees); ``override=True`` (``--telemetry-override-resource``) reverses it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ecslite.telemetry.model import AttrValue, Resource

log = logging.getLogger(__name__)

# Images whose container is the task's collector (design.md "Built-in images"): the implicit
# receivers stay off in such a task so they never compete for its ports.
COLLECTOR_IMAGES = ("aws-for-fluent-bit", "fluent-bit", "aws-otel-collector", "aws-xray-daemon")


@dataclass(frozen=True, slots=True)
class ContainerOwner:
    name: str
    container_id: str  # the metadata endpoint's DockerId
    container_arn: str = ""
    image: str = ""
    otel_service_name: str | None = None
    log_group: str | None = None
    log_stream: str | None = None

    def attributes(self) -> dict[str, AttrValue]:
        image, _, tag = self.image.rpartition(":") if ":" in self.image.rsplit("/", 1)[-1] else (self.image, "", "")
        attrs: dict[str, AttrValue] = {
            "container.name": self.name,
            "container.id": self.container_id,
            "container.image.name": image or self.image,
        }
        if tag:
            attrs["container.image.tags"] = [tag]
        if self.container_arn:
            attrs["aws.ecs.container.arn"] = self.container_arn
        if self.log_group:
            attrs["aws.log.group.names"] = [self.log_group]
        if self.log_stream:
            attrs["aws.log.stream.names"] = [self.log_stream]
        return attrs


@dataclass(frozen=True, slots=True)
class TaskOwner:
    task_arn: str
    cluster_arn: str
    family: str
    revision: int
    launch_type: str
    region: str
    account: str
    availability_zone: str | None = None
    service_name: str | None = None
    host_name: str | None = None
    ipv4: str | None = None
    netns_path: str | None = None
    containers: tuple[ContainerOwner, ...] = ()
    declared_ports: frozenset[int] = field(default_factory=frozenset)

    @property
    def task_id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]

    @property
    def has_collector(self) -> bool:
        return any(any(name in c.image for name in COLLECTOR_IMAGES) for c in self.containers)

    def attributes(self) -> dict[str, AttrValue]:
        attrs: dict[str, AttrValue] = {
            "cloud.provider": "aws",
            "cloud.platform": "aws_ecs",
            "cloud.region": self.region,
            "cloud.account.id": self.account,
            "aws.ecs.cluster.arn": self.cluster_arn,
            "aws.ecs.task.arn": self.task_arn,
            "aws.ecs.task.id": self.task_id,
            "aws.ecs.task.family": self.family,
            "aws.ecs.task.revision": str(self.revision),
            "aws.ecs.launchtype": self.launch_type.lower(),
        }
        if self.availability_zone:
            attrs["cloud.availability_zone"] = self.availability_zone
        if self.service_name:
            attrs["aws.ecs.service.name"] = self.service_name
        if self.host_name:
            attrs["host.name"] = self.host_name
        return attrs

    def container_for(self, service_name: str | None) -> ContainerOwner | None:
        if not service_name:
            return None
        for container in self.containers:
            if container.otel_service_name == service_name:
                return container
        for container in self.containers:
            if container.name == service_name:
                return container
        return None


def enrich(resource: Resource, owner: TaskOwner | None, *, override: bool = False) -> Resource:
    """``resource`` with the owning task's attributes added (§2.1); unchanged without an owner."""
    if owner is None:
        return resource
    given = resource.attributes
    named = given.get("service.name")
    # The SDK's default (``unknown_service`` or ``unknown_service:python``) counts as no name.
    service = named if isinstance(named, str) and named and not named.startswith("unknown_service") else None
    container = owner.container_for(service)
    if container is None and service is None and len(owner.containers) == 1:
        container = owner.containers[0]  # every process in the namespace belongs to the only container
    added = owner.attributes()
    if container is not None:
        added.update(container.attributes())
        added["service.instance.id"] = f"{owner.task_id}/{container.name}"
    merged = {**given, **added} if override else {**added, **given}
    if service is None and container is not None:
        merged["service.name"] = container.otel_service_name or container.name
    return Resource(merged, resource.dropped_attributes_count)


Listener = Callable[[str, "TaskOwner | None"], None]


class TaskOwners:
    """The tasks telemetry knows about, by task ARN; thread-safe. Listeners hear every change."""

    def __init__(self) -> None:
        self._owners: dict[str, TaskOwner] = {}
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def update(self, owner: TaskOwner) -> None:
        with self._lock:
            if self._owners.get(owner.task_arn) == owner:
                return
            self._owners[owner.task_arn] = owner
        self._notify(owner.task_arn, owner)

    def remove(self, task_arn: str) -> None:
        with self._lock:
            if self._owners.pop(task_arn, None) is None:
                return
        self._notify(task_arn, None)

    def get(self, task_arn: str) -> TaskOwner | None:
        with self._lock:
            return self._owners.get(task_arn)

    def all(self) -> Mapping[str, TaskOwner]:
        with self._lock:
            return dict(self._owners)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _notify(self, task_arn: str, owner: TaskOwner | None) -> None:
        for listener in self._listeners:
            try:
                listener(task_arn, owner)
            except Exception:
                log.exception("task owner listener failed", extra={"task_arn": task_arn})
