"""What launching a task reads from the store: placement candidates and the awsvpc network.

Shared by every launcher (RunTask/StartTask in the provider, the service scheduler), so a task is
placed and addressed the same way whoever starts it (spec/ecs.md §5.2, §13.1):

- :func:`candidates`: the cluster's ACTIVE container instances (of one capacity provider, when
  given) with what their live tasks leave free; draining instances take nothing new (§5.5).
- :func:`resolve_network`: an ``awsvpcConfiguration``'s subnets and security groups checked
  against the partition's virtual VPC; a problem is raised as a :class:`NetworkProblem` carrying
  the offending ids, which each caller words for its audience (an API error, a service event).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecslite.model.task_placement import Candidate
from ecslite.store import container_instances as ci_store
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database


def candidates(db: Database, account: str, region: str, cluster: str, provider: str | None) -> list[Candidate]:
    """ACTIVE instances in registration order with their remaining resources (empty: none at all)."""
    instances = ci_store.in_cluster(db, account, region, cluster, ["ACTIVE"])
    if provider is not None:
        instances = [i for i in instances if i.get("capacityProviderName") == provider]
    return [candidate(db, i) for i in instances]


def draining_count(db: Database, account: str, region: str, cluster: str) -> int:
    return len(ci_store.in_cluster(db, account, region, cluster, ["DRAINING"]))


def candidate(db: Database, instance: dict[str, Any]) -> Candidate:
    arn = instance["containerInstanceArn"]
    used = ci_store.usage(db, arn)
    resources = {r["name"]: r for r in instance.get("registeredResources") or ()}
    return Candidate(
        arn=arn,
        cpu_left=int(resources.get("CPU", {}).get("integerValue", 0)) - used.cpu,
        memory_left=int(resources.get("MEMORY", {}).get("integerValue", 0)) - used.memory,
        tcp_used={int(p) for p in resources.get("PORTS", {}).get("stringSetValue", ())} | used.tcp_ports,
        udp_used={int(p) for p in resources.get("PORTS_UDP", {}).get("stringSetValue", ())} | used.udp_ports,
    )


def instance(db: Database, account: str, region: str, cluster: str, arn: str) -> dict[str, Any] | None:
    return ci_store.get(db, account, region, cluster, arn.rsplit("/", 1)[1])


def instance_zone(db: Database, doc: dict[str, Any]) -> str | None:
    for item in ci_store.attributes(db, doc["containerInstanceArn"]):
        if item["name"] == "ecs.availability-zone":
            value = item.get("value")
            return str(value) if value is not None else None
    return None


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
