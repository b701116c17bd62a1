"""The placement engine against a small reference model (spec/ecs.md §5.2–§5.4).

The reference places each task by looking at every instance: it keeps the ones that fit and meet
every constraint, computes each one's key under the strategies from scratch (spread: tasks of the
group on the instance's value; binpack: what is left of the field) and takes the smallest, the
earliest registered on a tie. The engine, which keeps a tree and re-checks only the instance that
changed, must choose exactly the same instances, and never break a constraint.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from ecslite.model.placement.constraints import parse_constraints
from ecslite.model.placement.engine import Engine, Instance, PlacementRequest, spread_value
from ecslite.model.placement.strategies import Strategy, StrategyType, parse_strategies
from ecslite.model.task_placement import Demand, Placement, Unplaced

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
TYPES = ("t3.medium", "m5.large", "c5.xlarge")
GROUP = "service:web"
REASONS = {"AGENT", "ATTRIBUTE", "RESOURCE:CPU", "RESOURCE:MEMORY", "RESOURCE:PORTS", "RESOURCE:PORTS_UDP"}


@dataclass(frozen=True)
class Spec:
    cpu: int
    memory: int
    zone: str
    kind: str
    connected: bool
    tasks: int  # tasks of the group already there
    port_taken: bool


instance_specs = st.builds(
    Spec,
    cpu=st.sampled_from([0, 256, 512, 1024, 2048]),
    memory=st.sampled_from([0, 256, 512, 1024, 3072, 4096]),
    zone=st.sampled_from(ZONES),
    kind=st.sampled_from(TYPES),
    connected=st.sampled_from([True, True, True, False]),
    tasks=st.integers(0, 2),
    port_taken=st.booleans(),
)
demands = st.builds(
    Demand,
    cpu=st.sampled_from([0, 128, 256, 512]),
    memory=st.sampled_from([128, 256, 512, 1024]),
    tcp_ports=st.sampled_from([(), (), (8080,)]),
)
strategy_lists = st.lists(
    st.sampled_from(
        [
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "spread", "field": "instanceId"},
            {"type": "spread", "field": "attribute:ecs.instance-type"},
            {"type": "binpack", "field": "memory"},
            {"type": "binpack", "field": "cpu"},
        ]
    ),
    max_size=3,
)
CONSTRAINTS = st.sampled_from(
    [
        {"type": "distinctInstance"},
        {"type": "memberOf", "expression": "attribute:ecs.instance-type != c5.xlarge"},
        {"type": "memberOf", "expression": "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]"},
        {"type": "memberOf", "expression": "not(task:group == service:web) or runningTasksCount < 3"},
    ]
)
constraint_lists = st.lists(CONSTRAINTS, max_size=2, unique_by=str)


def build(specs: Sequence[Spec]) -> list[Instance]:
    return [
        Instance(
            arn=f"arn:aws:ecs:us-east-1:000000000000:container-instance/c/{i:032x}",
            index=i,
            cpu=spec.cpu,
            memory=spec.memory,
            tcp_used={22, 8080} if spec.port_taken else {22},
            attributes={"ecs.availability-zone": spec.zone, "ecs.instance-type": spec.kind},
            agent_connected=spec.connected,
            running_tasks_count=spec.tasks,
            task_groups=Counter({GROUP: spec.tasks}) if spec.tasks else Counter(),
        )
        for i, spec in enumerate(specs)
    ]


# -- the reference model ----------------------------------------------------------------------------


def reference_fits(inst: Instance, request: PlacementRequest) -> bool:
    d = request.demand
    return (
        inst.agent_connected
        and inst.cpu >= d.cpu
        and inst.memory >= d.memory
        and not (set(d.tcp_ports) & inst.tcp_used)
        and all(c.allows(inst, request.group) for c in request.constraints)
    )


def reference_key(inst: Instance, instances: Sequence[Instance], strategies: Sequence[Strategy]) -> tuple[int, ...]:
    key = []
    for strategy in strategies:
        if strategy.type is StrategyType.SPREAD:
            value = spread_value(strategy, inst)
            key.append(sum(o.task_groups[GROUP] for o in instances if spread_value(strategy, o) == value))
        else:
            key.append(inst.cpu if strategy.field == "cpu" else inst.memory)
    return (*key, inst.index)


def reference_place(instances: list[Instance], request: PlacementRequest, count: int) -> list[str | None]:
    chosen: list[str | None] = []
    for _ in range(count):
        fitting = [i for i in instances if reference_fits(i, request)]
        if not fitting:
            chosen.append(None)
            continue
        best = min(fitting, key=lambda i: reference_key(i, instances, request.strategies))
        best.cpu -= request.demand.cpu
        best.memory -= request.demand.memory
        best.tcp_used.update(request.demand.tcp_ports)
        best.task_groups[GROUP] += 1
        best.running_tasks_count += 1
        chosen.append(best.arn)
    return chosen


def run_engine(instances: list[Instance], request: PlacementRequest, count: int) -> list[Placement | Unplaced]:
    return Engine(instances, request).place_many(count)


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(instance_specs, min_size=1, max_size=12),
    demand=demands,
    strategies=strategy_lists,
    constraints=constraint_lists,
    count=st.integers(1, 12),
)
def test_engine_places_like_the_reference_model(
    specs: list[Spec], demand: Demand, strategies: list[dict[str, str]], constraints: list[dict[str, str]], count: int
) -> None:
    request = PlacementRequest(demand, GROUP, parse_constraints(constraints), parse_strategies(strategies))
    expected = reference_place(build(specs), request, count)
    outcomes = run_engine(build(specs), request, count)
    assert [o.arn if isinstance(o, Placement) else None for o in outcomes] == expected
    for outcome in outcomes:
        if isinstance(outcome, Unplaced):  # failures are reported with ECS's reasons and the closest instance
            assert outcome.reason in REASONS
            assert outcome.arn.startswith("arn:aws:ecs:")
            assert outcome.detail.startswith("No container instance met all of the task's requirements.")


@settings(max_examples=200, deadline=None)
@given(specs=st.lists(instance_specs, min_size=1, max_size=10), demand=demands, count=st.integers(1, 10))
def test_binpack_chooses_the_instance_with_least_remaining_memory(
    specs: list[Spec], demand: Demand, count: int
) -> None:
    instances = build(specs)
    request = PlacementRequest(demand, GROUP, (), parse_strategies([{"type": "binpack", "field": "memory"}]))
    engine = Engine(instances, request)
    for _ in range(count):
        fitting = [i for i in instances if reference_fits(i, request)]
        least = min((i.memory for i in fitting), default=None)
        outcome = engine.place()
        if least is None:
            assert isinstance(outcome, Unplaced)
            continue
        assert isinstance(outcome, Placement)
        chosen = next(i for i in instances if i.arn == outcome.arn)
        assert chosen.memory + demand.memory == least


@settings(max_examples=200, deadline=None)
@given(per_zone=st.lists(st.integers(1, 4), min_size=3, max_size=3), count=st.integers(1, 40))
def test_spread_balances_tasks_across_zones(per_zone: list[int], count: int) -> None:
    specs = [
        Spec(4096, 16384, zone, "m5.large", True, 0, False)
        for zone, n in zip(ZONES, per_zone, strict=True)
        for _ in range(n)
    ]
    instances = build(specs)
    request = PlacementRequest(
        Demand(128, 256), GROUP, (), parse_strategies([{"type": "spread", "field": "attribute:ecs.availability-zone"}])
    )
    outcomes = Engine(instances, request).place_many(count)
    zone_of = {i.arn: i.attributes["ecs.availability-zone"] for i in instances}
    per = Counter(zone_of[o.arn] for o in outcomes if isinstance(o, Placement))
    assert sum(per.values()) == count
    assert max(per[z] for z in ZONES) - min(per[z] for z in ZONES) <= 1


@settings(max_examples=200, deadline=None)
@given(
    specs=st.lists(instance_specs, min_size=1, max_size=10),
    demand=demands,
    strategies=strategy_lists,
    constraints=st.lists(CONSTRAINTS, min_size=1, max_size=2, unique_by=str),
    count=st.integers(1, 15),
)
def test_constraints_are_never_violated(
    specs: list[Spec], demand: Demand, strategies: list[dict[str, str]], constraints: list[dict[str, str]], count: int
) -> None:
    instances = build(specs)
    before = copy.deepcopy(instances)
    parsed = parse_constraints(constraints)
    request = PlacementRequest(demand, GROUP, parsed, parse_strategies(strategies))
    engine = Engine(instances, request)
    for _ in range(count):
        snapshot = {i.arn: copy.deepcopy(i) for i in instances}
        outcome = engine.place()
        if isinstance(outcome, Placement):
            # the instance met every constraint at the moment it was chosen
            assert all(c.allows(snapshot[outcome.arn], GROUP) for c in parsed)
    placed = {i.arn: i.task_groups[GROUP] - b.task_groups[GROUP] for i, b in zip(instances, before, strict=True)}
    if any(c.type == "distinctInstance" for c in parsed):
        for inst, old in zip(instances, before, strict=True):
            assert placed[inst.arn] <= (0 if old.task_groups[GROUP] else 1)


@settings(max_examples=200, deadline=None)
@given(specs=st.lists(instance_specs, min_size=1, max_size=8), demand=demands)
def test_failures_are_reported_when_nothing_fits(specs: list[Spec], demand: Demand) -> None:
    instances = build(specs)
    huge = Demand(cpu=demand.cpu, memory=10**6, tcp_ports=demand.tcp_ports)
    outcome = Engine(instances, PlacementRequest(huge, GROUP)).place()
    assert isinstance(outcome, Unplaced)
    assert outcome.reason in REASONS
    if all(i.agent_connected and not i.tcp_used & set(demand.tcp_ports) and i.cpu >= demand.cpu for i in instances):
        assert outcome.reason == "RESOURCE:MEMORY"
    assert outcome.arn in {i.arn for i in instances}
    noun = "instance" if len(instances) == 1 else "instances"
    assert f"{len(instances)} {noun}:" in outcome.detail
