"""Tells telemetry which task owns which namespace and containers (design.md "Telemetry pipeline").

The task controller's store changes are the trigger: whenever a task row changes, its owner record
(:class:`~ecslite.telemetry.enrich.TaskOwner`) is rebuilt from the stored document and handed to
:class:`~ecslite.telemetry.enrich.TaskOwners` — announced once the task's sandbox exists, withdrawn
when it deprovisions, stops or disappears. On start every live task is announced again, so a
restarted server re-opens the listeners of the tasks that survived.

The record holds only what enrichment needs (§2.1): ARNs, family and revision, launch type, the
service that started the task, the private DNS name, each container's name, DockerId, image,
``OTEL_SERVICE_NAME`` and awslogs group/stream, the ports containers declare (never taken by an
implicit receiver, §0) and the namespace path the runtime gives the task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ecslite.model.task_launch import private_dns_name
from ecslite.store import tasks as task_store
from ecslite.store.db import Change, Database
from ecslite.telemetry.enrich import ContainerOwner, TaskOwner, TaskOwners

log = logging.getLogger(__name__)

GONE = ("DEPROVISIONING", "STOPPED")
NetnsResolver = Callable[[str], "str | None"]


def owner_of(doc: dict[str, Any], netns_path: str | None) -> TaskOwner:
    spec = doc["_spec"]
    address = ((doc.get("_run") or {}).get("sandbox") or {}).get("privateIpv4")
    api = {c["name"]: c for c in doc.get("containers") or ()}
    containers: list[ContainerOwner] = []
    ports: set[int] = set()
    for container in spec["containers"]:
        env = container.get("environment") or {}
        if isinstance(env, list):
            env = {e.get("name"): e.get("value") for e in env}
        options = (container.get("logConfiguration") or {}).get("options") or {}
        for mapping in container.get("portMappings") or ():
            if mapping.get("containerPort"):
                ports.add(int(mapping["containerPort"]))
        prefix = options.get("awslogs-stream-prefix")
        containers.append(
            ContainerOwner(
                name=container["name"],
                container_id=str(container.get("runtimeId") or ""),
                container_arn=str(api.get(container["name"], {}).get("containerArn") or ""),
                image=str(container.get("image") or ""),
                otel_service_name=env.get("OTEL_SERVICE_NAME") or None,
                log_group=options.get("awslogs-group"),
                log_stream=f"{prefix}/{container['name']}/{spec['taskId']}" if prefix else None,
            )
        )
    return TaskOwner(
        task_arn=doc["taskArn"],
        cluster_arn=spec["clusterArn"],
        family=spec["family"],
        revision=int(spec["revision"]),
        launch_type=str(spec.get("launchType") or "FARGATE"),
        region=spec["region"],
        account=spec["account"],
        availability_zone=doc.get("availabilityZone"),
        service_name=spec.get("serviceName"),
        host_name=private_dns_name(spec["region"], address) if address else None,
        ipv4=address,
        netns_path=netns_path,
        containers=tuple(containers),
        declared_ports=frozenset(ports),
    )


class TelemetryOwnersFeed:
    """A server component: keeps :class:`TaskOwners` in step with the task rows."""

    name = "telemetry-owners"

    def __init__(self, db: Database, owners: TaskOwners, netns_path: NetnsResolver) -> None:
        self.db = db
        self.owners = owners
        self.netns_path = netns_path
        db.subscribe(self._on_changes)

    async def start(self) -> None:
        for arn in task_store.live_arns(self.db):
            self.refresh(arn)

    async def stop(self) -> None:
        return None

    async def reset(self) -> None:
        for arn in list(self.owners.all()):
            self.owners.remove(arn)

    def _on_changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.kind == task_store.KIND:
                self.refresh(change.key)

    def refresh(self, arn: str) -> None:
        doc = task_store.get(self.db, arn)
        if doc is None or doc.get("lastStatus") in GONE or not (doc.get("_run") or {}).get("sandbox"):
            self.owners.remove(arn)
            return
        known = self.owners.get(arn)
        netns = known.netns_path if known is not None else self.netns_path(doc["_spec"]["taskId"])
        try:
            self.owners.update(owner_of(doc, netns))
        except (KeyError, TypeError, ValueError):
            log.exception("task document without what telemetry needs", extra={"task": arn})
