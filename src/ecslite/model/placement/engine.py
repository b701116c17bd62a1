"""The placement engine (spec/ecs.md §5.2): tasks placed one at a time on container instances.

For each task: (1) the candidates are the ACTIVE instances the caller passes (of the capacity
provider in use); (2) an instance must have a connected agent, every required attribute, the
CPU units, MiB, GPUs and free static ports the task needs; (3) it must meet every constraint;
(4) the strategies order what is left (later strategies break ties, the earliest registered
instance breaks what is still tied); (5) the first takes the task, its resources are reserved and
the next task is placed.

Speed: placing a task must not look at every instance. What can change between two placements is
the one instance that took the last task (its resources, its task groups, its running count) and
the spread counts of that instance's values. So the feasible instances live in a tree built from
the strategies — a ``spread`` node holds one bucket per value and picks the bucket with the fewest
tasks; a ``binpack`` node keeps its instances sorted by the remaining field; a ``random`` node
draws; a leaf keeps registration order — and after each placement only the chosen instance is
taken out, re-checked and put back. Checks that placing cannot change (agent, attributes,
constraints that read neither ``task:group`` nor ``runningTasksCount``) run once per instance.

When nothing fits, the failure names the closest instance and its first reason in ECS's words
(``AGENT``, ``ATTRIBUTE``, ``RESOURCE:CPU`` …) and — Beyond ECS — a per-instance summary.
"""

from __future__ import annotations

import bisect
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecslite.model.placement.constraints import Constraint
from ecslite.model.placement.strategies import INSTANCE_ID, Strategy, StrategyType
from ecslite.model.task_placement import Demand, Placement, Unplaced, dynamic_ports, summary

NO_CANDIDATES = "No container instances were found to place the task on."


@dataclass(slots=True, eq=False)
class Instance:
    """A container instance as placement sees it: what is left of it and what it is.

    ``task_groups`` counts the live tasks on it by group; ``running_tasks_count`` is what the
    query language's ``runningTasksCount`` reads. Both grow as tasks are placed on it.
    """

    arn: str
    index: int
    cpu: int
    memory: int
    tcp_used: set[int] = field(default_factory=set)
    udp_used: set[int] = field(default_factory=set)
    attributes: dict[str, str | None] = field(default_factory=dict)
    gpus: int = 0
    ec2_instance_id: str = ""
    agent_connected: bool = True
    agent_version: str = ""
    registered_at: float = 0.0
    running_tasks_count: int = 0
    task_groups: Counter[str] = field(default_factory=Counter)
    capacity_provider: str | None = None


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    demand: Demand
    group: str
    constraints: tuple[Constraint, ...] = ()
    strategies: tuple[Strategy, ...] = ()
    required_attributes: tuple[tuple[str, str | None], ...] = ()  # (name, value or None: any value)


class Engine:
    """Places tasks of one request on ``candidates``; ``population`` (all of the cluster's
    instances, by default the candidates) is what spread strategies count tasks on."""

    def __init__(
        self,
        candidates: Sequence[Instance],
        request: PlacementRequest,
        *,
        rng: random.Random | None = None,
        population: Iterable[Instance] | None = None,
    ) -> None:
        self.request = request
        self.rng = rng or random.Random()
        self.candidates = list(candidates)
        self.by_index = {inst.index: inst for inst in self.candidates}
        self.strategies = request.strategies
        self.dynamic_constraints = tuple(c for c in request.constraints if c.dynamic)
        self.counts: list[Counter[str | None]] = [Counter() for _ in self.strategies]
        for inst in population if population is not None else self.candidates:
            tasks = inst.task_groups.get(request.group, 0)
            if tasks:
                for position, strategy in enumerate(self.strategies):
                    if strategy.type is StrategyType.SPREAD:
                        self.counts[position][spread_value(strategy, inst)] += tasks
        self.eligible = [inst for inst in self.candidates if self._static_ok(inst)]
        self.root = self._node(0)
        for inst in self.eligible:
            if self._fits(inst):
                self.root.add(inst)

    # -- placing -----------------------------------------------------------------------------

    def place(self) -> Placement | Unplaced:
        """Place one task and reserve it, or say why no instance could take it."""
        demand = self.request.demand
        while True:
            inst = self.root.best()
            if inst is None:
                return self._failure()
            ports = dynamic_ports(demand, inst.tcp_used, inst.udp_used) if demand.dynamic else {}
            self.root.remove(inst)
            if ports is None:
                continue  # the ephemeral range is exhausted there: that instance is out for this demand
            self._reserve(inst, ports)
            if self._fits(inst):
                self.root.add(inst)
            return Placement(inst.arn, ports)

    def place_many(self, count: int) -> list[Placement | Unplaced]:
        return [self.place() for _ in range(count)]

    def _reserve(self, inst: Instance, ports: Mapping[str, int]) -> None:
        demand = self.request.demand
        inst.cpu -= demand.cpu
        inst.memory -= demand.memory
        inst.gpus -= demand.gpu
        inst.tcp_used.update(demand.tcp_ports)
        inst.udp_used.update(demand.udp_ports)
        for key, protocol in demand.dynamic:
            (inst.udp_used if protocol == "udp" else inst.tcp_used).add(ports[key])
        inst.task_groups[self.request.group] += 1
        inst.running_tasks_count += 1
        for position, strategy in enumerate(self.strategies):
            if strategy.type is StrategyType.SPREAD:
                self.counts[position][spread_value(strategy, inst)] += 1

    # -- checks --------------------------------------------------------------------------------

    def _static_ok(self, inst: Instance) -> bool:
        if not inst.agent_connected or not self._has_attributes(inst):
            return False
        group = self.request.group
        return all(c.allows(inst, group) for c in self.request.constraints if not c.dynamic)

    def _has_attributes(self, inst: Instance) -> bool:
        attributes = inst.attributes
        for name, value in self.request.required_attributes:
            if name not in attributes or (value is not None and attributes[name] != value):
                return False
        return True

    def _fits(self, inst: Instance) -> bool:
        demand = self.request.demand
        if inst.cpu < demand.cpu or inst.memory < demand.memory or inst.gpus < demand.gpu:
            return False
        if demand.tcp_ports and not inst.tcp_used.isdisjoint(demand.tcp_ports):
            return False
        if demand.udp_ports and not inst.udp_used.isdisjoint(demand.udp_ports):
            return False
        if _repeats(demand.tcp_ports) or _repeats(demand.udp_ports):
            return False
        group = self.request.group
        return all(c.allows(inst, group) for c in self.dynamic_constraints)

    def reasons(self, inst: Instance) -> list[str]:
        """Every reason ``inst`` cannot take the task now, in the pipeline's order (§5.2)."""
        demand = self.request.demand
        found: list[str] = []
        if not inst.agent_connected:
            found.append("AGENT")
        if not self._has_attributes(inst):
            found.append("ATTRIBUTE")
        if inst.cpu < demand.cpu:
            found.append("RESOURCE:CPU")
        if inst.memory < demand.memory:
            found.append("RESOURCE:MEMORY")
        if inst.gpus < demand.gpu:
            found.append("RESOURCE:GPU")
        if not inst.tcp_used.isdisjoint(demand.tcp_ports) or _repeats(demand.tcp_ports):
            found.append("RESOURCE:PORTS")
        if not inst.udp_used.isdisjoint(demand.udp_ports) or _repeats(demand.udp_ports):
            found.append("RESOURCE:PORTS_UDP")
        if demand.dynamic and not found and dynamic_ports(demand, inst.tcp_used, inst.udp_used) is None:
            found.append("RESOURCE:PORTS")
        if "ATTRIBUTE" not in found and any(not c.allows(inst, self.request.group) for c in self.request.constraints):
            found.append("ATTRIBUTE")
        return found

    def _failure(self) -> Unplaced:
        if not self.candidates:
            return Unplaced("", "MISSING", NO_CANDIDATES)
        rejected = [(inst, self.reasons(inst)) for inst in self.candidates]
        rejected = [(inst, found or ["RESOURCE:PORTS"]) for inst, found in rejected]
        closest, found = min(rejected, key=lambda item: (len(item[1]), -item[0].memory, -item[0].cpu, item[0].index))
        group = self.request.group
        unmet = sorted(
            {c.unsatisfied for inst, _ in rejected for c in self.request.constraints if not c.allows(inst, group)}
        )
        extra = f" Unmet: {'; '.join(unmet)}." if unmet else ""
        return Unplaced(closest.arn, found[0], summary([r for _, r in rejected], extra))

    # -- the tree of feasible instances ------------------------------------------------------------

    def _node(self, position: int) -> _Node:
        if position >= len(self.strategies):
            return _Leaf()
        strategy = self.strategies[position]
        if strategy.type is StrategyType.SPREAD:
            return _Spread(self, position)
        if strategy.type is StrategyType.BINPACK:
            return _Binpack(self, position)
        return _Random(self.rng)

    def key(self, inst: Instance, position: int) -> tuple[Any, ...]:
        """The order of ``inst`` under the strategies from ``position`` on (smaller comes first)."""
        parts: list[Any] = []
        for offset, strategy in enumerate(self.strategies[position:], start=position):
            if strategy.type is StrategyType.SPREAD:
                parts.append(self.counts[offset][spread_value(strategy, inst)])
            elif strategy.type is StrategyType.BINPACK:
                parts.append(inst.cpu if strategy.field == "cpu" else inst.memory)
            else:
                parts.append(self.rng.random())
        parts.append(inst.index)
        return tuple(parts)


def spread_value(strategy: Strategy, inst: Instance) -> str | None:
    if strategy.field == INSTANCE_ID:
        return inst.arn
    name = strategy.attribute
    return inst.attributes.get(name) if name else None


def _repeats(ports: Sequence[int]) -> bool:
    return len(set(ports)) != len(ports)


class _Node:
    def add(self, inst: Instance) -> None:
        raise NotImplementedError

    def remove(self, inst: Instance) -> None:
        raise NotImplementedError

    def best(self) -> Instance | None:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class _Leaf(_Node):
    """No strategy left: registration order."""

    def __init__(self) -> None:
        self.order: list[int] = []
        self.members: dict[int, Instance] = {}

    def add(self, inst: Instance) -> None:
        bisect.insort(self.order, inst.index)
        self.members[inst.index] = inst

    def remove(self, inst: Instance) -> None:
        del self.order[bisect.bisect_left(self.order, inst.index)]
        del self.members[inst.index]

    def best(self) -> Instance | None:
        return self.members[self.order[0]] if self.order else None

    def __len__(self) -> int:
        return len(self.order)


class _Binpack(_Node):
    """Instances sorted by the remaining field; the least remaining first (§5.3)."""

    def __init__(self, engine: Engine, position: int) -> None:
        self.engine = engine
        self.position = position
        self.cpu = engine.strategies[position].field == "cpu"
        self.has_rest = position + 1 < len(engine.strategies)
        self.order: list[tuple[int, int]] = []
        self.keys: dict[int, int] = {}
        self.members: dict[int, Instance] = {}

    def add(self, inst: Instance) -> None:
        value = inst.cpu if self.cpu else inst.memory
        bisect.insort(self.order, (value, inst.index))
        self.keys[inst.index] = value
        self.members[inst.index] = inst

    def remove(self, inst: Instance) -> None:
        entry = (self.keys.pop(inst.index), inst.index)
        del self.order[bisect.bisect_left(self.order, entry)]
        del self.members[inst.index]

    def best(self) -> Instance | None:
        if not self.order:
            return None
        least = self.order[0][0]
        if not self.has_rest:
            return self.members[self.order[0][1]]
        # Ties on the remaining amount go to the next strategies.
        end = bisect.bisect_right(self.order, (least, float("inf")))
        tied = [self.members[index] for _, index in self.order[:end]]
        return min(tied, key=lambda inst: self.engine.key(inst, self.position + 1))

    def __len__(self) -> int:
        return len(self.order)


class _Spread(_Node):
    """One bucket per value of the spread field; the value with the fewest tasks of the group first."""

    def __init__(self, engine: Engine, position: int) -> None:
        self.engine = engine
        self.position = position
        self.strategy = engine.strategies[position]
        self.buckets: dict[str | None, _Node] = {}
        self.size = 0

    def add(self, inst: Instance) -> None:
        value = spread_value(self.strategy, inst)
        bucket = self.buckets.get(value)
        if bucket is None:
            bucket = self.buckets[value] = self.engine._node(self.position + 1)
        bucket.add(inst)
        self.size += 1

    def remove(self, inst: Instance) -> None:
        value = spread_value(self.strategy, inst)
        bucket = self.buckets[value]
        bucket.remove(inst)
        if not len(bucket):
            del self.buckets[value]
        self.size -= 1

    def best(self) -> Instance | None:
        counts = self.engine.counts[self.position]
        fewest: int | None = None
        tied: list[_Node] = []
        for value, bucket in self.buckets.items():
            count = counts[value]
            if fewest is None or count < fewest:
                fewest, tied = count, [bucket]
            elif count == fewest:
                tied.append(bucket)
        if not tied:
            return None
        if len(tied) == 1:
            return tied[0].best()
        leaders = [inst for inst in (bucket.best() for bucket in tied) if inst is not None]
        return min(leaders, key=lambda inst: self.engine.key(inst, self.position + 1))

    def __len__(self) -> int:
        return self.size


class _Random(_Node):
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.items: list[Instance] = []
        self.where: dict[int, int] = {}

    def add(self, inst: Instance) -> None:
        self.where[inst.index] = len(self.items)
        self.items.append(inst)

    def remove(self, inst: Instance) -> None:
        slot = self.where.pop(inst.index)
        last = self.items.pop()
        if last is not inst:
            self.items[slot] = last
            self.where[last.index] = slot

    def best(self) -> Instance | None:
        return self.rng.choice(self.items) if self.items else None

    def __len__(self) -> int:
        return len(self.items)
