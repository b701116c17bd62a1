"""ECS service discovery (spec/ecs.md §8.2): registers service tasks in the Cloud Map services
their deployment names in ``serviceRegistries``, and deregisters them when they stop.

Level-triggered, keyed by task ARN. One step reads the task and its service from the store, works
out the instances the task should have (:func:`desired_instances`), compares them with the instances
registered for it (``sd_instances.owner``) and registers, updates or deregisters in one transaction
(each with the REGISTER_INSTANCE/DEREGISTER_INSTANCE operation Cloud Map would show).

- Registered: a task of a service that is ACTIVATING or RUNNING with desired status RUNNING,
  whatever its health (ECS registers in ACTIVATING, before the containers' checks have a result,
  §8.2; a task whose essential container has no check stays UNKNOWN for ever and is still found).
  The task reconciler registers it itself in ACTIVATING (:func:`sync_task`, through
  ``control.task_activation``), so the task is never RUNNING unregistered. In a service with
  ``HealthCheckCustomConfig`` the instance starts HEALTHY (``AWS_INIT_HEALTH_STATUS``) and follows
  the task's health as ECS pushes it through UpdateInstanceCustomHealthStatus: UNHEALTHY while the
  task is UNHEALTHY (it then leaves DNS answers), HEALTHY otherwise.
- Deregistered: as soon as the task's desired status is STOPPED (the task reconciler deregisters it
  in DEACTIVATING, before the containers are signalled, §3.4) or it leaves RUNNING, its service is
  deleted (its tasks stop), or the Cloud Map service is gone.
- Instance: id = task id; ``AWS_INSTANCE_IPV4`` = the task's address; ``AWS_INSTANCE_PORT`` = the
  registry's ``port`` or ``containerPort``; ECS's own attributes ``AVAILABILITY_ZONE``, ``REGION``,
  ``ECS_CLUSTER_NAME``, ``ECS_SERVICE_NAME``, ``ECS_TASK_DEFINITION_FAMILY`` and, with custom health,
  ``AWS_INIT_HEALTH_STATUS`` (§8.2, unverified set).
- **Local model:** ``bridge`` tasks are registered with their own address on the host bridge and the
  container port (ECS uses the instance address and the host port); other tasks reach them there.
  ``host`` tasks have no address of their own and are not registered.

Store changes of tasks wake their keys; a resync every ``resync_seconds`` looks at every live
service task and every task that still has instances, so a missed change costs latency only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecslite.clock import Clock
from ecslite.control.workqueue import Outcome, Runner, WorkQueue
from ecslite.model import cloudmap as cm
from ecslite.model.arns import service_arn
from ecslite.model.blue_green import with_target_groups
from ecslite.store import cloudmap as cloudmap_store
from ecslite.store import services as svc_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Change, Database

log = logging.getLogger(__name__)

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DesiredInstance:
    account: str
    region: str
    service: Doc  # the Cloud Map service
    attributes: dict[str, str]
    health: str  # what the instance's custom health should be (services with custom health only)


REGISTERED_STATUSES = ("ACTIVATING", "RUNNING")


def launch_config_of(task: Mapping[str, Any], service: Mapping[str, Any]) -> Mapping[str, Any]:
    """The configuration (``loadBalancers``, ``serviceRegistries``, ``serviceConnectConfiguration``)
    of the deployment or task set that started the task (a later deployment's attachments are its
    own tasks' business); the service's own when that deployment is gone."""
    for launcher in (*(service.get("deployments") or ()), *(service.get("taskSets") or ())):
        if launcher.get("id") == task.get("startedBy"):
            spec: Mapping[str, Any] = launcher.get("_spec") or {}
            # A blue/green deployment's tasks register in the group it was given (model.blue_green);
            # any other deployment's in the group that serves production after earlier blue/green
            # swaps (``_bgServing``), so that a service switched back to ROLLING keeps its traffic.
            # Unverified: ECS documents neither which group that is nor whether it switches rules back.
            return with_target_groups(spec, launcher.get("_targetGroups") or service.get("_bgServing"))
    own = dict(with_target_groups(service, service.get("_bgServing")))
    if "_serviceConnectConfiguration" in service:
        own["serviceConnectConfiguration"] = service["_serviceConnectConfiguration"]
    return own


def registries_of(task: Mapping[str, Any], service: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The registries of the deployment or task set that started the task (:func:`launch_config_of`)."""
    return [dict(r) for r in launch_config_of(task, service).get("serviceRegistries") or ()]


def _port(task: Mapping[str, Any], registry: Mapping[str, Any]) -> int | None:
    if registry.get("port") is not None:
        return int(registry["port"])
    if registry.get("containerPort") is not None:
        return int(registry["containerPort"])
    return None


def task_attributes(task: Mapping[str, Any], registry: Mapping[str, Any], custom_health: bool) -> dict[str, str] | None:
    """The attributes ECS registers for ``task`` (§8.2); None when the task has no address to give."""
    spec = task["_spec"]
    address = ((task.get("_run") or {}).get("sandbox") or {}).get("privateIpv4")
    if not address or spec.get("networkMode") == "host":
        return None
    attributes = {cm.IPV4: str(address)}
    port = _port(task, registry)
    if port is not None:
        attributes[cm.PORT] = str(port)
    if task.get("availabilityZone"):
        attributes["AVAILABILITY_ZONE"] = str(task["availabilityZone"])
    attributes["REGION"] = str(spec["region"])
    attributes["ECS_CLUSTER_NAME"] = str(spec["clusterArn"]).rsplit("/", 1)[-1]
    attributes["ECS_SERVICE_NAME"] = str(spec["serviceName"])
    attributes["ECS_TASK_DEFINITION_FAMILY"] = str(spec["family"])
    if custom_health:
        attributes[cm.INIT_HEALTH] = cm.Health.HEALTHY.value
    return attributes


def desired_instances(db: Database, task_arn: str) -> list[DesiredInstance]:
    task = task_store.get(db, task_arn)
    if task is None or not task["_spec"].get("serviceName"):
        return []
    if task.get("desiredStatus") != "RUNNING" or task.get("lastStatus") not in REGISTERED_STATUSES:
        return []
    spec = task["_spec"]
    cluster = str(spec["clusterArn"]).rsplit("/", 1)[-1]
    service = svc_store.get(db, service_arn(spec["region"], spec["account"], cluster, spec["serviceName"]))
    if service is None:
        return []
    unhealthy = task.get("healthStatus") == "UNHEALTHY"
    out: list[DesiredInstance] = []
    for registry in registries_of(task, service):
        found = cloudmap_store.service_by_arn(db, str(registry["registryArn"]))
        if found is None:
            continue
        account, region, sd_service = found
        custom = sd_service.get("HealthCheckCustomConfig") is not None
        attributes = task_attributes(task, registry, custom)
        if attributes is None:
            continue
        health = cm.Health.UNHEALTHY.value if unhealthy else cm.Health.HEALTHY.value
        out.append(DesiredInstance(account, region, sd_service, attributes, health))
    return out


class ServiceRegistryController:
    """A server component: keeps Cloud Map instances in step with service tasks (§8.2)."""

    name = "service-registry"

    def __init__(self, db: Database, clock: Clock, *, workers: int = 2, resync_seconds: float = 30.0) -> None:
        self.db = db
        self.clock = clock
        self.queue = WorkQueue(clock)
        self.runner = Runner(
            "service-registry",
            self.queue,
            self.reconcile,
            clock,
            workers=workers,
            resync=self._all_keys,
            resync_seconds=resync_seconds,
        )
        db.subscribe(self._on_changes)

    async def start(self) -> None:
        await self.runner.start()
        self.runner.enqueue_all()

    async def stop(self) -> None:
        await self.runner.stop()

    async def reset(self) -> None:
        await self.stop()
        self.queue.clear()
        await self.runner.start()

    def _on_changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.kind == task_store.KIND:
                self.queue.add(change.key)

    def _all_keys(self) -> list[str]:
        rows = self.db.query("SELECT arn FROM tasks WHERE service_name IS NOT NULL AND last_status != 'STOPPED'")
        return sorted({str(r["arn"]) for r in rows} | set(cloudmap_store.owners(self.db)))

    async def reconcile(self, task_arn: str) -> Outcome:
        sync_task(self.db, task_arn, round(self.clock.now(), 3))
        return Outcome()


def sync_task(db: Database, task_arn: str, now: float) -> None:
    """Make the Cloud Map instances of ``task_arn`` what :func:`desired_instances` says, in one
    transaction: register or update the wanted ones, deregister the rest."""
    desired = desired_instances(db, task_arn)
    actual = cloudmap_store.owned_by(db, task_arn)
    wanted = {(d.account, d.region, d.service["Id"]): d for d in desired}
    instance_id = task_arn.rsplit("/", 1)[-1]
    with db.transaction():
        for held in actual:
            key = (held.account, held.region, held.service_id)
            if key not in wanted:
                _deregister(db, held, now)
        for want in wanted.values():
            _converge(db, task_arn, instance_id, want, actual, now)


def _deregister(db: Database, held: cloudmap_store.OwnedInstance, now: float) -> None:
    service = cloudmap_store.get_service(db, held.account, held.region, held.service_id)
    if service is not None:
        cloudmap_store.deregister(db, held.account, held.region, service, held.instance_id, now)
        log.info("task deregistered from Cloud Map", extra={"service": service["Arn"], "instance": held.instance_id})


def _converge(
    db: Database,
    task_arn: str,
    instance_id: str,
    want: DesiredInstance,
    actual: Sequence[cloudmap_store.OwnedInstance],
    now: float,
) -> None:
    held = next(
        (a for a in actual if (a.account, a.region, a.service_id) == (want.account, want.region, want.service["Id"])),
        None,
    )
    if held is None or held.attributes != want.attributes:
        registration = cloudmap_store.Registration(instance_id, want.attributes, owner=task_arn)
        cloudmap_store.register(db, want.account, want.region, want.service, registration, now)
        log.info("task registered in Cloud Map", extra={"service": want.service["Arn"], "instance": instance_id})
    if want.service.get("HealthCheckCustomConfig") is not None:
        cloudmap_store.set_health(db, want.account, want.region, want.service, instance_id, want.health)
