"""What a task needs from a container instance, first-fit placement, and the Fargate choice of a
subnet (spec/ecs.md §5.2, §13.1).

:class:`Demand` is one task's need (CPU units, MiB, GPUs, static and dynamic host ports); the
placement engine (``model.placement.engine``) places demands with strategies and constraints and
reports failures as :class:`Unplaced`. :func:`place` is the plain first fit (instances in the
order given, the first that fits takes the task and its remaining resources shrink), kept for
callers without strategies.

An unplaced task is reported like ECS does (``RESOURCE:CPU``, ``RESOURCE:MEMORY``,
``RESOURCE:PORTS``, ``RESOURCE:PORTS_UDP``, …) with the ARN of the closest instance, and — Beyond
ECS — a ``detail`` sentence summarising why each instance was rejected (:func:`summary`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DYNAMIC_PORT_RANGE = (49153, 65535)  # Docker's default ephemeral range (§2.5)


@dataclass(frozen=True, slots=True)
class Demand:
    cpu: int
    memory: int
    tcp_ports: tuple[int, ...] = ()
    udp_ports: tuple[int, ...] = ()
    dynamic: tuple[tuple[str, str], ...] = ()  # (port key, protocol) needing a dynamic host port
    gpu: int = 0  # GPUs of the containers' resourceRequirements (§2.4)


@dataclass(slots=True)
class Candidate:
    arn: str
    cpu_left: int
    memory_left: int
    tcp_used: set[int] = field(default_factory=set)  # reserved ports included
    udp_used: set[int] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Placement:
    arn: str
    dynamic_ports: dict[str, int]


@dataclass(frozen=True, slots=True)
class Unplaced:
    arn: str
    reason: str
    detail: str


_WORDS = {
    "AGENT": "had a disconnected agent",
    "ATTRIBUTE": "lacked a required attribute or met no placement constraint",
    "RESOURCE:CPU": "lacked CPU units",
    "RESOURCE:MEMORY": "lacked memory",
    "RESOURCE:GPU": "lacked GPUs",
    "RESOURCE:PORTS": "had a required TCP port in use",
    "RESOURCE:PORTS_UDP": "had a required UDP port in use",
}


def rejection(demand: Demand, candidate: Candidate) -> list[str]:
    """Every reason ``candidate`` cannot take the task (empty when it fits)."""
    reasons = []
    if demand.cpu > candidate.cpu_left:
        reasons.append("RESOURCE:CPU")
    if demand.memory > candidate.memory_left:
        reasons.append("RESOURCE:MEMORY")
    if set(demand.tcp_ports) & candidate.tcp_used or len(set(demand.tcp_ports)) != len(demand.tcp_ports):
        reasons.append("RESOURCE:PORTS")
    if set(demand.udp_ports) & candidate.udp_used or len(set(demand.udp_ports)) != len(demand.udp_ports):
        reasons.append("RESOURCE:PORTS_UDP")
    return reasons


def _dynamic_ports(demand: Demand, candidate: Candidate) -> dict[str, int] | None:
    return dynamic_ports(demand, candidate.tcp_used, candidate.udp_used)


def dynamic_ports(demand: Demand, tcp_used: set[int], udp_used: set[int]) -> dict[str, int] | None:
    """Host ports from the ephemeral range for the demand's dynamic mappings (``None``: range exhausted)."""
    chosen: dict[str, int] = {}
    taken = {
        "tcp": set(tcp_used) | set(demand.tcp_ports),
        "udp": set(udp_used) | set(demand.udp_ports),
    }
    for key, protocol in demand.dynamic:
        used = taken["udp" if protocol == "udp" else "tcp"]
        port = next((p for p in range(DYNAMIC_PORT_RANGE[0], DYNAMIC_PORT_RANGE[1] + 1) if p not in used), None)
        if port is None:
            return None
        used.add(port)
        chosen[key] = port
    return chosen


def place(demand: Demand, candidates: Sequence[Candidate]) -> Placement | Unplaced:
    """Take the first candidate that fits and reserve the task on it, or say why none did."""
    rejected: list[tuple[Candidate, list[str]]] = []
    for candidate in candidates:
        reasons = rejection(demand, candidate)
        dynamic = _dynamic_ports(demand, candidate) if not reasons else None
        if not reasons and dynamic is None:
            reasons = ["RESOURCE:PORTS"]
        if reasons:
            rejected.append((candidate, reasons))
            continue
        assert dynamic is not None
        candidate.cpu_left -= demand.cpu
        candidate.memory_left -= demand.memory
        candidate.tcp_used.update(demand.tcp_ports)
        candidate.udp_used.update(demand.udp_ports)
        for key, protocol in demand.dynamic:
            (candidate.udp_used if protocol == "udp" else candidate.tcp_used).add(dynamic[key])
        return Placement(candidate.arn, dynamic)
    closest, reasons = min(rejected, key=lambda item: (len(item[1]), -item[0].memory_left, -item[0].cpu_left))
    return Unplaced(closest.arn, reasons[0], summary([reasons for _, reasons in rejected]))


def summary(rejections: Sequence[Sequence[str]], extra: str = "") -> str:
    """Beyond ECS (§5.2): how many instances were rejected for each reason, in one sentence."""
    counts = Counter(reason for reasons in rejections for reason in reasons)
    n = len(rejections)
    order = list(_WORDS)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], order.index(item[0]) if item[0] in order else 99))
    parts = [f"{count} {_WORDS.get(reason, reason)}" for reason, count in ranked]
    noun = "instance" if n == 1 else "instances"
    return f"No container instance met all of the task's requirements. {n} {noun}: {', '.join(parts)}.{extra}"


# -- subnets ---------------------------------------------------------------------------------------


def fargate_subnet(subnets: Sequence[str], subnet_zones: Mapping[str, str], zone_counts: Mapping[str, int]) -> str:
    """Fargate spreads a group's tasks over the zones of the given subnets (§13.1): the subnet whose
    zone holds the fewest live tasks of the group, the earlier subnet on a tie."""
    return min(subnets, key=lambda s: zone_counts.get(subnet_zones[s], 0))


def instance_subnet(subnets: Sequence[str], subnet_zones: Mapping[str, str], zone: str | None) -> str | None:
    """An awsvpc task on an instance takes a subnet of the instance's zone when one was given."""
    for subnet in subnets:
        if subnet_zones.get(subnet) == zone:
            return subnet
    return subnets[0] if subnets else None
