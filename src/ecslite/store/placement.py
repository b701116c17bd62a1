"""What launching a task reads from the store: placement candidates and the awsvpc network.

Shared by every launcher (RunTask in the provider, the service scheduler, the capacity
controller), so a task is placed and addressed the same way whoever starts it (spec/ecs.md §5.2,
§13.1):

- :func:`cluster_view` loads a cluster's container instances once, in three queries (instances,
  their attributes, the live tasks on them), as placement :class:`Instance` values with what their
  tasks leave free, the groups of those tasks and their running counts. Draining and deregistering
  instances are in the view (spread strategies count their tasks) but are never candidates (§5.5).
- :class:`Placer` places the tasks of one launch with the engine: one engine per capacity provider,
  so instances of one provider's group never take another provider's tasks (§5.6).
- :func:`resolve_network`: an ``awsvpcConfiguration``'s subnets and security groups checked
  against the partition's virtual VPC; a problem is raised as a :class:`NetworkProblem` carrying
  the offending ids, which each caller words for its audience (an API error, a service event).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecslite.model.placement.constraints import Constraint, parse_constraints
from ecslite.model.placement.engine import Engine, Instance, PlacementRequest
from ecslite.model.placement.query_language import Node, subjects
from ecslite.model.placement.strategies import Strategy
from ecslite.model.task_placement import Demand, Placement, Unplaced
from ecslite.store import container_instances as ci_store
from ecslite.store import task_definitions as td_store
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database, loads

INSTANCE_KIND = "container-instance"
ZONE = "ecs.availability-zone"
LIVE_INSTANCE_STATUSES = ("ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING")


@dataclass(slots=True)
class ClusterView:
    """A cluster's live container instances as placement sees them, in registration order."""

    instances: list[Instance] = field(default_factory=list)
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)  # instance ARN → stored document

    def candidates(self, provider: str | None = None) -> list[Instance]:
        """ACTIVE instances (of ``provider``'s group when given): the only ones that take tasks."""
        return [
            inst
            for inst in self.instances
            if self.docs[inst.arn]["status"] == "ACTIVE" and (provider is None or inst.capacity_provider == provider)
        ]

    def status(self, arn: str) -> str | None:
        doc = self.docs.get(arn)
        return str(doc["status"]) if doc else None

    def zone(self, arn: str) -> str | None:
        for inst in self.instances:
            if inst.arn == arn:
                return inst.attributes.get("ecs.availability-zone")
        return None

    def instance(self, arn: str) -> Instance | None:
        for inst in self.instances:
            if inst.arn == arn:
                return inst
        return None


def cluster_view(
    db: Database, account: str, region: str, cluster: str, attributes: Collection[str] | None = None
) -> ClusterView:
    """The cluster's live instances; with ``attributes``, only those attribute names (and the zone)
    are read — an instance carries some forty capability attributes nobody may be asking about."""
    view = ClusterView()
    marks = ",".join("?" * len(LIVE_INSTANCE_STATUSES))
    rows = db.query(
        f"""SELECT arn, doc FROM container_instances WHERE account=? AND region=? AND cluster=?
            AND status IN ({marks}) ORDER BY rid""",
        (account, region, cluster, *LIVE_INSTANCE_STATUSES),
    )
    if not rows:
        return view
    sql = """SELECT target_id, name, value FROM attributes WHERE account=? AND region=? AND cluster=?
             AND target_type=?"""
    args: list[Any] = [account, region, cluster, INSTANCE_KIND]
    if attributes is not None:
        names = sorted({*attributes, ZONE})
        sql += f" AND name IN ({','.join('?' * len(names))})"
        args += names
    found: dict[str, dict[str, str | None]] = {}
    for row in db.query(sql + " ORDER BY rid", args):
        found.setdefault(row["target_id"], {})[row["name"]] = row["value"]
    usage = _usage(db, account, region, cluster)
    for index, row in enumerate(rows):
        doc = loads(row["doc"])
        arn = row["arn"]
        view.docs[arn] = doc
        view.instances.append(_instance(index, doc, found.get(arn, {}), usage.get(arn)))
    return view


def view_for(db: Database, account: str, region: str, cluster: str, launch: LaunchPlacement) -> ClusterView:
    """The view one launch needs: the attributes its constraints, strategies and definition read."""
    return cluster_view(db, account, region, cluster, launch_attributes(launch))


def launch_attributes(launch: LaunchPlacement) -> set[str]:
    names = {name for name, _ in launch.required_attributes}
    names.update(s.attribute for s in launch.strategies if s.attribute)
    for constraint in launch.constraints:
        if constraint.expression is not None:
            names.update(expression_attributes(constraint.expression.tree))
    return names


def expression_attributes(tree: Node) -> set[str]:
    return {s.split(":", 1)[1] for s in subjects(tree) if s.startswith("attribute:")}


@dataclass(slots=True)
class _Usage:
    cpu: int = 0
    memory: int = 0
    gpus: int = 0
    tcp: set[int] = field(default_factory=set)
    udp: set[int] = field(default_factory=set)
    running: int = 0
    groups: Counter[str] = field(default_factory=Counter)


def _usage(db: Database, account: str, region: str, cluster: str) -> dict[str, _Usage]:
    """What the not-yet-STOPPED tasks on each instance hold; the groups of those still wanted."""
    out: dict[str, _Usage] = {}
    gpus_of: dict[str, int] = {}
    for row in db.query(
        """SELECT container_instance AS arn, last_status, desired_status,
                  json_extract(doc, '$._spec.reservation') AS r, json_extract(doc, '$.group') AS g,
                  json_extract(doc, '$.taskDefinitionArn') AS td
           FROM tasks WHERE account=? AND region=? AND cluster=? AND container_instance IS NOT NULL
           AND last_status != 'STOPPED'""",
        (account, region, cluster),
    ):
        used = out.setdefault(row["arn"], _Usage())
        reservation = loads(row["r"]) if row["r"] else {}
        used.cpu += int(reservation.get("cpu", 0))
        used.memory += int(reservation.get("memory", 0))
        used.tcp.update(int(p) for p in reservation.get("tcpPorts", ()))
        used.udp.update(int(p) for p in reservation.get("udpPorts", ()))
        if row["td"] not in gpus_of:
            gpus_of[row["td"]] = _definition_gpus(db, account, region, row["td"])
        used.gpus += int(reservation.get("gpu", gpus_of[row["td"]]))
        if row["last_status"] == "RUNNING":
            used.running += 1
        if row["desired_status"] == "RUNNING" and row["g"]:
            used.groups[row["g"]] += 1
    return out


def _definition_gpus(db: Database, account: str, region: str, arn: str | None) -> int:
    if not arn:
        return 0
    family, _, revision = arn.rsplit("/", 1)[-1].rpartition(":")
    definition = td_store.get(db, account, region, family, int(revision)) if revision.isdigit() else None
    return definition_gpus(definition or {})


def definition_gpus(definition: Mapping[str, Any]) -> int:
    """GPUs a task of the definition reserves: the sum of its containers' GPU requirements (§2.4)."""
    total = 0
    for container in definition.get("containerDefinitions") or ():
        for requirement in container.get("resourceRequirements") or ():
            if requirement.get("type") == "GPU" and str(requirement.get("value", "")).isdigit():
                total += int(requirement["value"])
    return total


def _instance(index: int, doc: Mapping[str, Any], attributes: dict[str, str | None], used: _Usage | None) -> Instance:
    used = used or _Usage()
    resources = {r["name"]: r for r in doc.get("registeredResources") or ()}
    return Instance(
        arn=doc["containerInstanceArn"],
        index=index,
        cpu=int(resources.get("CPU", {}).get("integerValue", 0)) - used.cpu,
        memory=int(resources.get("MEMORY", {}).get("integerValue", 0)) - used.memory,
        tcp_used={int(p) for p in resources.get("PORTS", {}).get("stringSetValue", ())} | used.tcp,
        udp_used={int(p) for p in resources.get("PORTS_UDP", {}).get("stringSetValue", ())} | used.udp,
        attributes=attributes,
        gpus=len(resources.get("GPU", {}).get("stringSetValue", ()) or ()) - used.gpus,
        ec2_instance_id=str(doc.get("ec2InstanceId") or ""),
        agent_connected=bool(doc.get("agentConnected", True)),
        agent_version=str((doc.get("versionInfo") or {}).get("agentVersion") or ""),
        registered_at=float(doc.get("registeredAt") or 0.0),
        running_tasks_count=used.running,
        task_groups=used.groups,
        capacity_provider=doc.get("capacityProviderName"),
    )


@dataclass(frozen=True, slots=True)
class LaunchPlacement:
    """What one launch asks of placement: its group, constraints, strategies, and its definition's
    ``memberOf`` constraints and required attributes."""

    group: str
    constraints: tuple[Constraint, ...] = ()
    strategies: tuple[Strategy, ...] = ()
    required_attributes: tuple[tuple[str, str | None], ...] = ()


def launch_placement(
    definition: Mapping[str, Any],
    group: str,
    constraints: Sequence[Constraint] = (),
    strategies: Sequence[Strategy] = (),
) -> LaunchPlacement:
    """The launch's constraints plus the definition's; raises ``PlacementInputError`` for a definition
    whose stored expression no longer parses."""
    own = parse_constraints(definition.get("placementConstraints") or (), in_definition=True)
    required = tuple(
        (str(item["name"]), item.get("value"))
        for item in definition.get("requiresAttributes") or ()
        if item.get("name") and item.get("targetType", "container-instance") == "container-instance"
    )
    return LaunchPlacement(group, (*constraints, *own), tuple(strategies), required)


class Placer:
    """Places the tasks of one launch on one cluster: one engine per capacity provider, all counting
    the group's tasks over the whole cluster."""

    def __init__(
        self, view: ClusterView, launch: LaunchPlacement, demand: Demand, rng: random.Random | None = None
    ) -> None:
        self.view = view
        self.launch = launch
        self.demand = demand
        self.rng = rng
        self.engines: dict[str | None, Engine] = {}

    def has_candidates(self, provider: str | None) -> bool:
        return bool(self.view.candidates(provider))

    def place(self, provider: str | None) -> Placement | Unplaced:
        engine = self.engines.get(provider)
        if engine is None:
            request = PlacementRequest(
                self.demand,
                self.launch.group,
                self.launch.constraints,
                self.launch.strategies,
                self.launch.required_attributes,
            )
            engine = Engine(self.view.candidates(provider), request, rng=self.rng, population=self.view.instances)
            self.engines[provider] = engine
        return engine.place()

    def place_on(self, arn: str) -> Placement | Unplaced:
        """Place one task on the instance ``arn`` only (a DAEMON service's task for that instance)."""
        inst = self.view.instance(arn)
        candidates = [inst] if inst is not None and self.view.status(arn) == "ACTIVE" else []
        request = PlacementRequest(
            self.demand, self.launch.group, self.launch.constraints, (), self.launch.required_attributes
        )
        return Engine(candidates, request, rng=self.rng, population=self.view.instances).place()


def draining_count(db: Database, account: str, region: str, cluster: str) -> int:
    return len(ci_store.in_cluster(db, account, region, cluster, ["DRAINING"]))


def instance(db: Database, account: str, region: str, cluster: str, arn: str) -> dict[str, Any] | None:
    return ci_store.get(db, account, region, cluster, arn.rsplit("/", 1)[1])


def instance_zone(db: Database, doc: dict[str, Any]) -> str | None:
    arn = str(doc["containerInstanceArn"])
    _, _, _, region, account, rest = arn.split(":", 5)
    row = db.query_one(
        """SELECT value FROM attributes WHERE account=? AND region=? AND cluster=? AND target_type=?
           AND target_id=? AND name=?""",
        (account, region, rest.split("/")[1], INSTANCE_KIND, arn, ZONE),
    )
    return str(row["value"]) if row is not None and row["value"] is not None else None


# -- awsvpc network ----------------------------------------------------------------------------------


class NetworkProblem(Exception):
    """An awsvpcConfiguration the virtual VPC cannot satisfy."""


class SubnetNotFound(NetworkProblem):
    def __init__(self, subnets: Sequence[str], subnet: str) -> None:
        super().__init__(subnet)
        self.subnets = tuple(subnets)
        self.subnet = subnet


class SubnetsInManyVpcs(NetworkProblem):
    def __init__(self, vpc_of: dict[str, str]) -> None:
        super().__init__(vpc_of)
        self.vpc_of = vpc_of  # subnet → its VPC


class SecurityGroupNotFound(NetworkProblem):
    def __init__(self, groups: Sequence[str], group: str) -> None:
        super().__init__(group)
        self.groups = tuple(groups)
        self.group = group


class SecurityGroupInOtherVpc(NetworkProblem):
    def __init__(self, group: str) -> None:
        super().__init__(group)
        self.group = group


@dataclass(frozen=True, slots=True)
class ResolvedNetwork:
    subnet_zones: dict[str, str]  # subnet → its availability zone
    vpc_id: str | None
    security_groups: tuple[str, ...]


def resolve_network(
    db: Database, account: str, region: str, subnets: Sequence[str], groups: Sequence[str]
) -> ResolvedNetwork:
    """Subnets and groups must exist in the partition, the subnets share one VPC and the groups belong
    to it; without groups the task gets the VPC's ``default`` group, as on ECS."""
    if not subnets:
        return ResolvedNetwork({}, None, tuple(groups))
    docs = {}
    for subnet in subnets:
        doc = vpc_store.get_subnet(db, account, region, subnet)
        if doc is None:
            raise SubnetNotFound(subnets, subnet)
        docs[subnet] = doc
    vpcs = {doc["VpcId"] for doc in docs.values()}
    if len(vpcs) > 1:
        raise SubnetsInManyVpcs({s: str(d["VpcId"]) for s, d in docs.items()})
    vpc_id = str(vpcs.pop())
    for group in groups:
        found = vpc_store.get_group(db, account, region, group)
        if found is None:
            raise SecurityGroupNotFound(groups, group)
        if found["VpcId"] != vpc_id:
            raise SecurityGroupInOtherVpc(group)
    resolved = tuple(groups)
    if not resolved:
        default = vpc_store.group_by_name(db, account, region, vpc_id, vpc_store.DEFAULT_GROUP)
        resolved = (str(default["GroupId"]),) if default else ()
    return ResolvedNetwork({s: str(d["AvailabilityZone"]) for s, d in docs.items()}, vpc_id, resolved)
