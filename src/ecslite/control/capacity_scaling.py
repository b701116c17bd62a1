"""Managed scaling of Auto Scaling group capacity providers (spec/ecs.md §5.6 local model).

For each ACTIVE ``EC2_AUTOSCALING`` provider with ``managedScaling.status ENABLED``, in each
cluster it is associated with, one pass:

- ``N`` = the group's ACTIVE instances (``capacityProviderName`` = the provider);
- ``M`` = the instances needed: the group's instances running tasks, plus as many new instances
  of the group's type as it takes to fit the tasks its services are missing (each service's share
  of its desired count on this provider under its strategy, ``model.capacity.distribute``, less
  its live tasks there) and the tasks waiting in PROVISIONING for it (``store.capacity_wait``:
  RunTask's and the services' tasks no instance could take yet), after filling the free room of
  the instances it has;
- ``CapacityProviderReservation = M / N × 100``. Above ``targetCapacity`` the group grows to
  ``ceil(M × 100 / targetCapacity)`` instances — from zero to at least two — by at least
  ``minimumScalingStepSize`` and at most ``maximumScalingStepSize`` per pass, and not while one of
  its instances is younger than ``instanceWarmupPeriod``. Below the target, instances that run no
  task leave (deregistered), at most ``maximumScalingStepSize`` per pass, once the reservation has
  stayed low for :data:`SCALE_IN_AFTER_SECONDS`; an instance running a task is never removed (the
  point of ``managedTerminationProtection``).

The group's instance type is the type of its newest instance (``m5.large`` for an empty group);
new instances go round-robin over the default VPC's zones. Instances are added and removed through
the callbacks the server gives (the provider's own operations), so they are registered exactly like
``ecslite instances add`` registers them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ecslite.clock import Clock
from ecslite.model.capacity import StrategyItem, distribute, parse_strategy
from ecslite.model.placement.instance_types import DEFAULT_TYPE, instance_type
from ecslite.model.task_launch import task_size
from ecslite.store import task_definitions as td_store
from ecslite.store.db import Database, loads

SCALE_IN_AFTER_SECONDS = 900.0  # ECS's scale-in alarm needs 15 low datapoints of a minute


class AddInstances(Protocol):
    def __call__(self, account: str, region: str, cluster: str, type_name: str, count: int, provider: str) -> None: ...


RemoveInstance = Callable[[str, str, str, str], None]  # account, region, cluster, instance ARN


@dataclass(frozen=True, slots=True)
class Decision:
    needed: int  # M
    current: int  # N
    add: int
    remove: tuple[str, ...]


class ManagedScaling:
    def __init__(self, db: Database, clock: Clock, add: AddInstances, remove: RemoveInstance) -> None:
        self.db = db
        self.clock = clock
        self.add = add
        self.remove = remove
        self.low_since: dict[tuple[str, str, str, str], float] = {}

    def step(self) -> list[Decision]:
        decisions = []
        for row in self.db.query("SELECT account, region, doc FROM capacity_providers WHERE status='ACTIVE'"):
            provider = loads(row["doc"])
            scaling = (provider.get("autoScalingGroupProvider") or {}).get("managedScaling") or {}
            if provider.get("type") != "EC2_AUTOSCALING" or scaling.get("status") != "ENABLED":
                continue
            for cluster in self._clusters(row["account"], row["region"], provider["name"]):
                decision = self.decide(row["account"], row["region"], cluster, provider["name"], scaling)
                decisions.append(decision)
                if decision.add:
                    kind = self._type(row["account"], row["region"], cluster, provider["name"])
                    self.add(row["account"], row["region"], cluster, kind, decision.add, provider["name"])
                for arn in decision.remove:
                    self.remove(row["account"], row["region"], cluster, arn)
        return decisions

    def decide(self, account: str, region: str, cluster: str, name: str, scaling: Mapping[str, Any]) -> Decision:
        now = self.clock.now()
        instances = self._instances(account, region, cluster, name)
        current = len(instances)
        busy = [i for i in instances if i["tasks"]]
        kind = instance_type(self._type(account, region, cluster, name)) or instance_type(DEFAULT_TYPE)
        assert kind is not None
        waiting = self._held(account, region, cluster, name) + self._waiting(account, region, cluster, name)
        free = [(i["cpu"], i["memory"]) for i in instances]
        extra = _instances_for(waiting, free, (kind.cpu_units, kind.task_memory))
        needed = len(busy) + extra
        target = max(1, int(scaling.get("targetCapacity") or 100))
        wanted = math.ceil(needed * 100 / target) if needed else 0
        if current == 0 and needed:
            wanted = max(wanted, 2)  # §5.6: from zero instances the group goes to two
        step_min = int(scaling.get("minimumScalingStepSize") or 1)
        step_max = int(scaling.get("maximumScalingStepSize") or 10000)
        key = (account, region, cluster, name)
        if wanted > current:
            self.low_since.pop(key, None)
            warmup = float(scaling.get("instanceWarmupPeriod") or 0)
            if any(now - i["registeredAt"] < warmup for i in instances):
                return Decision(needed, current, 0, ())
            return Decision(needed, current, min(step_max, max(step_min, wanted - current)), ())
        if wanted < current:
            since = self.low_since.setdefault(key, now)
            idle = [i["arn"] for i in reversed(instances) if not i["tasks"]]
            if now - since < SCALE_IN_AFTER_SECONDS or not idle:
                return Decision(needed, current, 0, ())
            self.low_since.pop(key, None)
            return Decision(needed, current, 0, tuple(idle[: min(step_max, current - wanted)]))
        self.low_since.pop(key, None)
        return Decision(needed, current, 0, ())

    # -- what the store says -------------------------------------------------------------------------

    def _clusters(self, account: str, region: str, name: str) -> list[str]:
        rows = self.db.query(
            """SELECT name FROM clusters WHERE account=? AND region=? AND status='ACTIVE'
               AND EXISTS (SELECT 1 FROM json_each(doc, '$.capacityProviders') WHERE value = ?)""",
            (account, region, name),
        )
        return [str(r["name"]) for r in rows]

    def _instances(self, account: str, region: str, cluster: str, name: str) -> list[dict[str, Any]]:
        out = []
        for row in self.db.query(
            """SELECT arn, doc FROM container_instances WHERE account=? AND region=? AND cluster=?
               AND status='ACTIVE' AND json_extract(doc, '$.capacityProviderName') = ? ORDER BY rid""",
            (account, region, cluster, name),
        ):
            doc = loads(row["doc"])
            resources = {r["name"]: int(r.get("integerValue") or 0) for r in doc.get("registeredResources") or ()}
            used = self.db.query_one(
                """SELECT COUNT(*) AS n, COALESCE(SUM(json_extract(doc, '$._spec.reservation.cpu')), 0) AS cpu,
                          COALESCE(SUM(json_extract(doc, '$._spec.reservation.memory')), 0) AS memory
                   FROM tasks WHERE container_instance=? AND last_status != 'STOPPED'""",
                (row["arn"],),
            )
            assert used is not None
            out.append(
                {
                    "arn": row["arn"],
                    "tasks": int(used["n"]),
                    "cpu": resources.get("CPU", 0) - int(used["cpu"]),
                    "memory": resources.get("MEMORY", 0) - int(used["memory"]),
                    "registeredAt": float(doc.get("registeredAt") or 0.0),
                }
            )
        return out

    def _type(self, account: str, region: str, cluster: str, name: str) -> str:
        row = self.db.query_one(
            """SELECT a.value FROM container_instances c JOIN attributes a
               ON a.account=c.account AND a.region=c.region AND a.cluster=c.cluster AND a.target_id=c.arn
               WHERE c.account=? AND c.region=? AND c.cluster=? AND json_extract(c.doc, '$.capacityProviderName') = ?
               AND a.name='ecs.instance-type' ORDER BY c.rid DESC LIMIT 1""",
            (account, region, cluster, name),
        )
        value = str(row["value"]) if row and row["value"] else DEFAULT_TYPE
        return value if instance_type(value) else DEFAULT_TYPE

    def _held(self, account: str, region: str, cluster: str, name: str) -> list[tuple[int, int]]:
        """(cpu, memory) of each task waiting in PROVISIONING for this provider (``store.capacity_wait``)."""
        rows = self.db.query(
            """SELECT json_extract(doc, '$._spec.reservation.cpu') AS cpu,
                      json_extract(doc, '$._spec.reservation.memory') AS memory
               FROM tasks WHERE last_status='PROVISIONING' AND account=? AND region=? AND cluster=?
               AND desired_status='RUNNING' AND container_instance IS NULL
               AND json_extract(doc, '$._spec.capacityWait') IS NOT NULL
               AND json_extract(doc, '$.capacityProviderName') = ? ORDER BY rid""",
            (account, region, cluster, name),
        )
        return [(int(r["cpu"] or 0), int(r["memory"] or 0)) for r in rows]

    def _waiting(self, account: str, region: str, cluster: str, name: str) -> list[tuple[int, int]]:
        """(cpu, memory) of each task the cluster's services are missing on this provider."""
        out: list[tuple[int, int]] = []
        cluster_doc = _cluster(self.db, account, region, cluster)
        default = (cluster_doc or {}).get("defaultCapacityProviderStrategy") or []
        for row in self.db.query(
            """SELECT name, doc FROM services WHERE account=? AND region=? AND cluster=? AND status='ACTIVE'""",
            (account, region, cluster),
        ):
            service = loads(row["doc"])
            primary = next((d for d in service.get("deployments") or () if d["status"] == "PRIMARY"), None)
            if primary is None or service.get("schedulingStrategy") == "DAEMON":
                continue
            spec = primary["_spec"]
            raw = spec.get("capacityProviderStrategy") or ([] if spec.get("launchType") else default)
            strategy: list[StrategyItem] = parse_strategy(raw)
            if not any(item.capacity_provider == name for item in strategy):
                continue
            share = distribute(int(service["desiredCount"]), strategy)[name]
            live = self.db.query_one(
                """SELECT COUNT(*) AS n FROM tasks WHERE account=? AND region=? AND cluster=? AND service_name=?
                   AND desired_status='RUNNING' AND json_extract(doc, '$.capacityProviderName') = ?""",
                (account, region, cluster, row["name"], name),
            )
            missing = share - int(live["n"] if live else 0)
            if missing > 0:
                out += [_demand(self.db, account, region, primary["_spec"]["taskDefinition"])] * missing
        return out


def _cluster(db: Database, account: str, region: str, cluster: str) -> dict[str, Any] | None:
    row = db.query_one("SELECT doc FROM clusters WHERE account=? AND region=? AND name=?", (account, region, cluster))
    return loads(row["doc"]) if row else None


def _demand(db: Database, account: str, region: str, arn: str) -> tuple[int, int]:
    family, _, revision = arn.rsplit("/", 1)[-1].rpartition(":")
    definition = td_store.get(db, account, region, family, int(revision)) if revision.isdigit() else None
    if definition is None:
        return (0, 0)
    return task_size(definition.get("cpu"), definition.get("memory"), definition.get("containerDefinitions") or ())


def _instances_for(waiting: list[tuple[int, int]], free: list[tuple[int, int]], size: tuple[int, int]) -> int:
    """New instances of ``size`` it takes to fit ``waiting`` after the ``free`` room (first fit)."""
    room = [list(f) for f in free]
    new: list[list[int]] = []
    for cpu, memory in waiting:
        if cpu > size[0] or memory > size[1]:
            continue  # no instance of the group's type can take it: more instances would not help
        for slot in (*room, *new):
            if slot[0] >= cpu and slot[1] >= memory:
                slot[0] -= cpu
                slot[1] -= memory
                break
        else:
            new.append([size[0] - cpu, size[1] - memory])
    return len(new)
