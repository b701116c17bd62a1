"""The work of ACTIVATING and DEACTIVATING (spec/ecs.md §3.1, §3.4, §7.4, §8.2): a service task with
load balancers, Cloud Map registries or Service Connect is registered after its containers started
and before it is RUNNING, and deregistered after its stop was asked and before any container gets
its stop signal.

- Which tasks: service tasks whose configuration lists ``loadBalancers`` or ``serviceRegistries``
  or enables Service Connect, that configuration being the one of the deployment or task set that
  started the task (not the service's current one). Standalone RunTask tasks and service tasks
  without any of these go PENDING → RUNNING and RUNNING → STOPPING directly, as on ECS.
- What the task keeps: entering ACTIVATING, its attachments are frozen in ``_run.activation``
  (:class:`Attachments`); DEACTIVATING undoes exactly those, even when the service or its
  deployment is gone by then. A task stopped before ACTIVATING has nothing to undo and skips
  DEACTIVATING.
- Cloud Map: :func:`ecslite.control.service_registry.sync_task` registers the task's instances in
  ACTIVATING and deregisters them in DEACTIVATING (a task desired STOPPED wants none).
- Load balancers: each entry with a ``targetGroupArn`` is one target, ``{Id: task address, Port:
  containerPort}`` for awsvpc tasks (``ip`` targets) or ``{Id: EC2 instance id, Port: hostPort}``
  otherwise (``instance`` targets), handed to a :class:`TargetGroups`. Deregistering answers how long
  the targets drain (the longest deregistration delay, 300 s by default, §7.2); the task stays
  DEACTIVATING until then. The service's events say so, per group, in ECS's words: ``registered N
  targets in (target-group <arn>)``; ``has begun draining connections on 1 tasks.`` then
  ``deregistered N targets in (target-group <arn>)``. The server hands in
  ``control.target_groups.ElbTargetGroups``; without one (some unit tests) nothing is registered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ecslite.control import service_events, service_registry
from ecslite.model.arns import service_arn
from ecslite.store import container_instances as instance_store
from ecslite.store import services as svc_store
from ecslite.store.db import Database

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Target:
    """One ELBv2 target of a task: ``Id`` and ``Port`` as RegisterTargets takes them (§7.4)."""

    target_group_arn: str
    id: str
    port: int


class TargetGroups(Protocol):
    """ELBv2's side of the registration: the target groups' RegisterTargets/DeregisterTargets."""

    def register(self, targets: Sequence[Target], now: float) -> None: ...

    def deregister(self, targets: Sequence[Target], now: float) -> float:
        """Deregister ``targets`` (they start draining); the seconds until the last one is done."""
        ...


@dataclass(frozen=True, slots=True)
class Attachments:
    """What a task is registered with while it serves (stored as ``_run.activation``)."""

    load_balancers: tuple[Mapping[str, Any], ...] = ()
    service_registries: tuple[Mapping[str, Any], ...] = ()
    service_connect: bool = False

    def to_doc(self) -> dict[str, Any]:
        return {
            "loadBalancers": [dict(i) for i in self.load_balancers],
            "serviceRegistries": [dict(i) for i in self.service_registries],
            "serviceConnect": self.service_connect,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Attachments:
        return cls(
            load_balancers=tuple(doc.get("loadBalancers") or ()),
            service_registries=tuple(doc.get("serviceRegistries") or ()),
            service_connect=bool(doc.get("serviceConnect")),
        )


def attachments_of(db: Database, task: Mapping[str, Any]) -> Attachments | None:
    """The attachments a task must be registered with before RUNNING; None when it has none."""
    spec = task["_spec"]
    if not spec.get("serviceName"):
        return None
    cluster = str(spec["clusterArn"]).rsplit("/", 1)[-1]
    service = svc_store.get(db, service_arn(spec["region"], spec["account"], cluster, spec["serviceName"]))
    if service is None:
        return None
    config = service_registry.launch_config_of(task, service)
    found = Attachments(
        load_balancers=tuple(config.get("loadBalancers") or ()),
        service_registries=tuple(config.get("serviceRegistries") or ()),
        service_connect=bool((config.get("serviceConnectConfiguration") or {}).get("enabled")),
    )
    if not (found.load_balancers or found.service_registries or found.service_connect):
        return None
    return found


def activation_of(task: Mapping[str, Any]) -> Attachments | None:
    """The attachments frozen when the task entered ACTIVATING; None for a task that never did."""
    stored = (task.get("_run") or {}).get("activation")
    return None if stored is None else Attachments.from_doc(stored)


def targets_of(db: Database, task: Mapping[str, Any], attachments: Attachments) -> list[Target]:
    """The task's targets, one per load balancer entry with a target group (§7.4)."""
    spec = task["_spec"]
    address = ((task.get("_run") or {}).get("sandbox") or {}).get("privateIpv4")
    instance = _ec2_instance_id(db, task)
    out: list[Target] = []
    for entry in attachments.load_balancers:
        group = entry.get("targetGroupArn")
        port = entry.get("containerPort")
        if not group or port is None:
            continue  # a Classic Load Balancer entry: no target group to register with
        if spec.get("networkMode") == "awsvpc":
            if address:
                out.append(Target(str(group), str(address), int(port)))
            continue
        host_port = _host_port(task, str(entry.get("containerName")), int(port))
        if instance is not None and host_port is not None:
            out.append(Target(str(group), instance, host_port))
    return out


def _host_port(task: Mapping[str, Any], container: str, port: int) -> int | None:
    for snapshot in task["_spec"].get("containers") or ():
        if snapshot.get("name") != container:
            continue
        for binding in snapshot.get("networkBindings") or ():
            if int(binding.get("containerPort", -1)) == port and binding.get("hostPort") is not None:
                return int(binding["hostPort"])
    return None


def _ec2_instance_id(db: Database, task: Mapping[str, Any]) -> str | None:
    arn = task.get("containerInstanceArn")
    if not arn:
        return None
    spec = task["_spec"]
    cluster = str(spec["clusterArn"]).rsplit("/", 1)[-1]
    instance = instance_store.get(db, spec["account"], spec["region"], cluster, str(arn).rsplit("/", 1)[-1])
    ec2_id = (instance or {}).get("ec2InstanceId")
    return str(ec2_id) if ec2_id else None


class Activation:
    """Registers and deregisters a task's attachments for the task reconciler."""

    def __init__(self, db: Database, target_groups: TargetGroups | None = None) -> None:
        self.db = db
        self.target_groups = target_groups

    def plan(self, task: Mapping[str, Any]) -> Attachments | None:
        return attachments_of(self.db, task)

    def register(self, task_arn: str, task: Mapping[str, Any], now: float) -> None:
        """ACTIVATING: Cloud Map instances, then targets (§8.2, §7.4)."""
        attachments = activation_of(task)
        if attachments is None:
            return
        service_registry.sync_task(self.db, task_arn, now)
        targets = targets_of(self.db, task, attachments)
        if self.target_groups is None or not targets:
            return
        with self.db.transaction():  # the targets and the service's events commit together
            self.target_groups.register(targets, now)
            for group, count in _per_group(targets).items():
                self._event(task, service_events.TARGETS_REGISTERED.format(count=count, arn=group), now)

    def deregister(self, task_arn: str, task: Mapping[str, Any], now: float) -> float:
        """DEACTIVATING: targets start draining, Cloud Map instances go; returns when draining ends."""
        attachments = activation_of(task)
        drain = 0.0
        if attachments is not None:
            targets = targets_of(self.db, task, attachments)
            if self.target_groups is not None and targets:
                with self.db.transaction():
                    drain = max(0.0, self.target_groups.deregister(targets, now))
                    self._event(task, service_events.DRAINING_CONNECTIONS.format(count=1), now)
                    for group, count in _per_group(targets).items():
                        text = service_events.TARGETS_DEREGISTERED.format(count=count, arn=group)
                        self._event(task, text, now)
        service_registry.sync_task(self.db, task_arn, now)
        return now + drain

    def _event(self, task: Mapping[str, Any], text: str, now: float) -> None:
        spec = task["_spec"]
        name = str(spec["serviceName"])
        cluster = str(spec["clusterArn"]).rsplit("/", 1)[-1]
        arn = service_arn(spec["region"], spec["account"], cluster, name)
        service_events.record(self.db, arn, service_events.message(name, text), now)


def _per_group(targets: Sequence[Target]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for target in targets:
        counts[target.target_group_arn] = counts.get(target.target_group_arn, 0) + 1
    return counts
