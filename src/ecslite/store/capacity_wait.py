"""Waiting for managed-scaling capacity: what launchers and the capacity controller share
(spec/ecs.md §5.6, §3.1, §5.4 limits).

When the capacity provider a task is launched on (an explicit strategy or the cluster default) is an
ACTIVE ``EC2_AUTOSCALING`` provider with ``managedScaling.status ENABLED``, a task no instance can
take yet is not a placement failure: RunTask and the service scheduler store it *waiting* —
``lastStatus PROVISIONING``, ``desiredStatus RUNNING``, ``capacityProviderName``, no
``containerInstanceArn``, containers PENDING — and ``_spec.capacityWait`` holds what placing it
later needs (since when it waits, the launch's raw constraints and strategies, its subnets' zones).

- :class:`Gate` admits waiting tasks while the cluster holds fewer than :data:`WAIT_LIMIT`
  (500 PROVISIONING tasks per cluster); beyond it the launch fails as it always did.
- :func:`hold` turns a freshly built task into a waiting one; :func:`assign` writes the placement
  the capacity controller later finds (``control.capacity_wait``) as a launch would have.

Invariant: a task with ``_spec.capacityWait`` has no ``containerInstanceArn``; the two are never
both set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecslite.model.task_launch import host_ports, network_bindings
from ecslite.model.task_placement import Demand, instance_subnet
from ecslite.store.db import Database, loads

Doc = dict[str, Any]

WAIT_LIMIT = 500  # spec §13 limits: tasks in PROVISIONING per cluster (unverified)
WAIT_KEY = "capacityWait"


def managed_scaling_enabled(db: Database, account: str, region: str, provider: str | None) -> bool:
    """Whether ``provider`` is an ACTIVE Auto Scaling group provider with managed scaling on."""
    if not provider:
        return False
    row = db.query_one(
        "SELECT doc FROM capacity_providers WHERE account=? AND region=? AND name=? AND status='ACTIVE'",
        (account, region, provider),
    )
    if row is None:
        return False
    doc = loads(row["doc"])
    scaling = (doc.get("autoScalingGroupProvider") or {}).get("managedScaling") or {}
    return doc.get("type") == "EC2_AUTOSCALING" and scaling.get("status") == "ENABLED"


def waiting_count(db: Database, account: str, region: str, cluster: str) -> int:
    row = db.query_one(
        """SELECT COUNT(*) AS n FROM tasks WHERE last_status='PROVISIONING' AND account=? AND region=? AND cluster=?
           AND container_instance IS NULL AND json_extract(doc, '$._spec.capacityWait') IS NOT NULL""",
        (account, region, cluster),
    )
    return int(row["n"]) if row else 0


@dataclass(slots=True)
class Gate:
    """Which unplaceable tasks of one launch may wait: on a managed-scaling provider, while the
    cluster has room under :data:`WAIT_LIMIT` (counting the ones this launch already admitted)."""

    db: Database
    account: str
    region: str
    cluster: str
    _room: int | None = None
    _enabled: dict[str, bool] = field(default_factory=dict)

    def admits(self, provider: str | None) -> bool:
        if not provider:
            return False
        if provider not in self._enabled:
            self._enabled[provider] = managed_scaling_enabled(self.db, self.account, self.region, provider)
        if not self._enabled[provider]:
            return False
        if self._room is None:
            self._room = WAIT_LIMIT - waiting_count(self.db, self.account, self.region, self.cluster)
        if self._room <= 0:
            return False
        self._room -= 1
        return True


def hold(
    doc: Doc,
    now: float,
    constraints: Sequence[Mapping[str, Any]] | None,
    strategies: Sequence[Mapping[str, Any]] | None,
    subnet_zones: Mapping[str, str],
) -> Doc:
    """Turn a freshly built task without an instance into a waiting one (§5.6)."""
    doc["lastStatus"] = "PROVISIONING"
    doc.pop("containerInstanceArn", None)
    doc.pop("availabilityZone", None)
    doc["_spec"][WAIT_KEY] = {
        "since": now,
        "constraints": [dict(c) for c in constraints or ()],
        "strategies": [dict(s) for s in strategies or ()],
        "subnetZones": dict(subnet_zones),
    }
    return doc


def is_waiting(doc: Mapping[str, Any]) -> bool:
    return bool((doc.get("_spec") or {}).get(WAIT_KEY))


def demand_of(doc: Mapping[str, Any], gpus: int) -> Demand:
    """What a waiting task asks of an instance: its reservation, static ports and dynamic mappings."""
    spec = doc["_spec"]
    reservation = spec.get("reservation") or {}
    _, _, dynamic = host_ports(spec["networkMode"], spec.get("containers") or ())
    return Demand(
        int(reservation.get("cpu", 0)),
        int(reservation.get("memory", 0)),
        tuple(int(p) for p in reservation.get("tcpPorts") or ()),
        tuple(int(p) for p in reservation.get("udpPorts") or ()),
        tuple(dynamic),
        gpus,
    )


@dataclass(frozen=True, slots=True)
class Assignment:
    instance_arn: str
    ec2_instance_id: str | None
    zone: str | None
    dynamic_ports: Mapping[str, int]


def assign(doc: Doc, where: Assignment) -> bool:
    """Write a placement into a waiting task as a launch would have (§3.7); False if it no longer waits."""
    spec = doc["_spec"]
    wait = spec.get(WAIT_KEY)
    if not wait or doc["desiredStatus"] != "RUNNING" or doc.get("containerInstanceArn"):
        return False
    del spec[WAIT_KEY]
    awsvpc = spec["networkMode"] == "awsvpc"
    zones: dict[str, str] = dict(wait.get("subnetZones") or {})
    subnet = instance_subnet(tuple(zones), zones, where.zone)
    doc["containerInstanceArn"] = where.instance_arn
    if where.zone:
        doc["availabilityZone"] = where.zone
    spec["ec2InstanceId"] = where.ec2_instance_id
    spec["subnetId"] = subnet
    for snapshot in spec.get("containers") or ():
        snapshot["networkBindings"] = network_bindings(spec["networkMode"], snapshot, where.dynamic_ports)
    reservation = spec.setdefault("reservation", {})
    for key, port in where.dynamic_ports.items():
        reservation.setdefault("udpPorts" if key.endswith("/udp") else "tcpPorts", []).append(port)
    for attachment in doc.get("attachments") or ():
        for detail in attachment.get("details") or ():
            if detail.get("name") == "subnetId":
                detail["value"] = subnet or ""
    doc["lastStatus"] = "PROVISIONING" if awsvpc else "PENDING"
    return True


def waiting_tasks(db: Database) -> dict[tuple[str, str, str], list[Doc]]:
    """Every waiting task still wanted, per (account, region, cluster), oldest first."""
    rows = db.query(
        """SELECT account, region, cluster, doc FROM tasks WHERE last_status='PROVISIONING'
           AND desired_status='RUNNING' AND container_instance IS NULL
           AND json_extract(doc, '$._spec.capacityWait') IS NOT NULL ORDER BY rid"""
    )
    out: dict[tuple[str, str, str], list[Doc]] = {}
    for row in rows:
        out.setdefault((row["account"], row["region"], row["cluster"]), []).append(loads(row["doc"]))
    return out
