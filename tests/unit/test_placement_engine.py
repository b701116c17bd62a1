"""Placement engine, strategies and constraints (spec/ecs.md §5.2–§5.4): specific cases."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from ecslite.model.placement.constraints import (
    DISTINCT_INSTANCE_UNSATISFIED,
    MEMBER_OF_UNSATISFIED,
    parse_constraints,
)
from ecslite.model.placement.engine import Engine, Instance, PlacementRequest
from ecslite.model.placement.strategies import (
    PlacementInputError,
    Strategy,
    StrategyType,
    Victim,
    choose_victims,
    parse_strategies,
)
from ecslite.model.task_placement import Demand, Placement, Unplaced

GROUP = "service:web"


def inst(i: int, cpu: int = 2048, memory: int = 4096, zone: str = "us-east-1a", **more: object) -> Instance:
    attributes = {"ecs.availability-zone": zone, "ecs.instance-type": "m5.large"}
    attributes.update(more.pop("attributes", {}))  # type: ignore[arg-type]
    return Instance(f"ci-{i}", i, cpu, memory, {22}, set(), attributes, **more)  # type: ignore[arg-type]


def arns(outcomes: list[Placement | Unplaced]) -> list[str]:
    return [o.arn for o in outcomes]


def test_no_strategy_is_first_fit_in_registration_order() -> None:
    engine = Engine([inst(0, memory=512), inst(1), inst(2)], PlacementRequest(Demand(0, 512), GROUP))
    assert arns(engine.place_many(3)) == ["ci-0", "ci-1", "ci-1"]


def test_binpack_cpu_prefers_least_remaining_cpu() -> None:
    request = PlacementRequest(Demand(512, 0), GROUP, (), parse_strategies([{"type": "binpack", "field": "cpu"}]))
    engine = Engine([inst(0, cpu=4096), inst(1, cpu=1024), inst(2, cpu=2048)], request)
    assert arns(engine.place_many(4)) == ["ci-1", "ci-1", "ci-2", "ci-2"]


def test_spread_by_instance_id_puts_one_task_on_each_instance_first() -> None:
    request = PlacementRequest(Demand(1, 1), GROUP, (), parse_strategies([{"type": "spread", "field": "host"}]))
    engine = Engine([inst(i) for i in range(3)], request)
    assert Counter(arns(engine.place_many(6))) == {"ci-0": 2, "ci-1": 2, "ci-2": 2}


def test_spread_counts_existing_tasks_of_the_group_on_every_instance() -> None:
    busy = inst(0, zone="us-east-1a", task_groups=Counter({GROUP: 2}))
    draining = inst(3, zone="us-east-1b", task_groups=Counter({GROUP: 1}))
    request = PlacementRequest(
        Demand(1, 1), GROUP, (), parse_strategies([{"type": "spread", "field": "attribute:ecs.availability-zone"}])
    )
    candidates = [busy, inst(1, zone="us-east-1b"), inst(2, zone="us-east-1c")]
    engine = Engine(candidates, request, population=[*candidates, draining])
    # 1a has 2, 1b has 1 (on a draining instance that takes nothing), 1c has 0
    assert arns(engine.place_many(3)) == ["ci-2", "ci-1", "ci-2"]


def test_random_strategy_uses_the_given_generator() -> None:
    request = PlacementRequest(Demand(1, 1), GROUP, (), parse_strategies([{"type": "random"}]))
    first = arns(Engine([inst(i) for i in range(5)], request, rng=random.Random(7)).place_many(10))
    again = arns(Engine([inst(i) for i in range(5)], request, rng=random.Random(7)).place_many(10))
    assert first == again and len(set(first)) > 1


def test_binpack_ties_are_broken_by_the_next_strategy() -> None:
    request = PlacementRequest(
        Demand(0, 512),
        GROUP,
        (),
        parse_strategies(
            [{"type": "binpack", "field": "memory"}, {"type": "spread", "field": "attribute:ecs.availability-zone"}]
        ),
    )
    a = inst(0, zone="us-east-1a", task_groups=Counter({GROUP: 1}))
    b = inst(1, zone="us-east-1b")
    assert arns(Engine([a, b], request).place_many(1)) == ["ci-1"]


def test_required_attributes_and_disconnected_agents_are_reported() -> None:
    request = PlacementRequest(Demand(1, 1), GROUP, required_attributes=(("ecs.capability.efs", None),))
    outcome = Engine([inst(0), inst(1, agent_connected=False)], request).place()
    assert isinstance(outcome, Unplaced)
    assert (outcome.arn, outcome.reason) == ("ci-0", "ATTRIBUTE")
    assert "1 had a disconnected agent" in outcome.detail


def test_distinct_instance_fails_once_every_instance_has_a_task_of_the_group() -> None:
    request = PlacementRequest(Demand(1, 1), GROUP, parse_constraints([{"type": "distinctInstance"}]))
    outcomes = Engine([inst(0), inst(1)], request).place_many(3)
    assert arns(outcomes[:2]) == ["ci-0", "ci-1"]
    failure = outcomes[2]
    assert isinstance(failure, Unplaced) and failure.reason == "ATTRIBUTE"
    assert DISTINCT_INSTANCE_UNSATISFIED in failure.detail


def test_member_of_failure_names_the_constraint() -> None:
    request = PlacementRequest(
        Demand(1, 1),
        GROUP,
        parse_constraints([{"type": "memberOf", "expression": "attribute:ecs.instance-type == g4"}]),
    )
    failure = Engine([inst(0)], request).place()
    assert isinstance(failure, Unplaced) and failure.reason == "ATTRIBUTE"
    assert MEMBER_OF_UNSATISFIED in failure.detail


def test_running_tasks_count_constraint_sees_tasks_placed_in_the_same_batch() -> None:
    request = PlacementRequest(
        Demand(1, 1), GROUP, parse_constraints([{"type": "memberOf", "expression": "runningTasksCount < 2"}])
    )
    outcomes = Engine([inst(0), inst(1)], request).place_many(5)
    assert arns(outcomes[:4]) == ["ci-0", "ci-0", "ci-1", "ci-1"]
    assert isinstance(outcomes[4], Unplaced)


def test_resources_ports_and_gpus_are_reserved() -> None:
    request = PlacementRequest(Demand(0, 0, tcp_ports=(80,), gpu=1), GROUP)
    engine = Engine([inst(0, gpus=1), inst(1, gpus=2)], request)
    outcomes = engine.place_many(2)
    assert arns(outcomes) == ["ci-0", "ci-1"]  # port 80 is taken on ci-0 after the first task
    third = engine.place()
    assert isinstance(third, Unplaced) and third.reason == "RESOURCE:PORTS"


def test_gpu_shortage_is_reported() -> None:
    failure = Engine([inst(0)], PlacementRequest(Demand(0, 0, gpu=1), GROUP)).place()
    assert isinstance(failure, Unplaced) and failure.reason == "RESOURCE:GPU"


def test_dynamic_ports_come_from_the_ephemeral_range() -> None:
    engine = Engine([inst(0)], PlacementRequest(Demand(0, 0, dynamic=(("web:80/tcp", "tcp"),)), GROUP))
    first, second = engine.place_many(2)
    assert isinstance(first, Placement) and isinstance(second, Placement)
    assert first.dynamic_ports == {"web:80/tcp": 49153} and second.dynamic_ports == {"web:80/tcp": 49154}


def test_no_candidates_is_missing() -> None:
    outcome = Engine([], PlacementRequest(Demand(1, 1), GROUP)).place()
    assert isinstance(outcome, Unplaced) and outcome.reason == "MISSING"


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        ([{"type": "binpack", "field": "disk"}], "binpack"),
        ([{"type": "spread"}], "spread"),
        ([{"type": "spread", "field": "zone"}], "spread"),
        ([{"type": "sideways"}], "sideways"),
        ([{"type": "random"}] * 6, "at most 5"),
    ],
)
def test_bad_strategies_are_refused(items: list[dict[str, str]], fragment: str) -> None:
    with pytest.raises(PlacementInputError) as caught:
        parse_strategies(items)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        ([{"type": "memberOf"}], "An expression must be specified"),
        ([{"type": "distinctInstance", "expression": "x"}], "cannot be specified"),
        ([{"type": "memberOf", "expression": "colour == red"}], "Invalid placement constraint expression"),
        ([{"type": "distinctInstance"}] * 11, "at most 10"),
    ],
)
def test_bad_constraints_are_refused(items: list[dict[str, str]], fragment: str) -> None:
    with pytest.raises(PlacementInputError) as caught:
        parse_constraints(items)
    assert fragment in str(caught.value)


def test_distinct_instance_is_refused_in_task_definitions() -> None:
    with pytest.raises(PlacementInputError):
        parse_constraints([{"type": "distinctInstance"}], in_definition=True)


def test_scale_in_with_spread_takes_from_the_fullest_zone() -> None:
    victims = [
        Victim("a1", attributes={"ecs.availability-zone": "a"}, created_at=1),
        Victim("a2", attributes={"ecs.availability-zone": "a"}, created_at=2),
        Victim("a3", attributes={"ecs.availability-zone": "a"}, created_at=3),
        Victim("b1", attributes={"ecs.availability-zone": "b"}, created_at=4),
    ]
    spread = [Strategy(StrategyType.SPREAD, "attribute:ecs.availability-zone")]
    assert [v.key for v in choose_victims(victims, 3, spread)] == ["a3", "a2", "b1"]


def test_scale_in_with_binpack_empties_the_instance_with_most_free_memory() -> None:
    victims = [
        Victim("busy", instance="i-1", memory_left=100, memory=512),
        Victim("idle", instance="i-2", memory_left=3000, memory=512),
    ]
    binpack = [Strategy(StrategyType.BINPACK, "memory")]
    assert [v.key for v in choose_victims(victims, 1, binpack)] == ["idle"]


def test_scale_in_rank_comes_before_strategies() -> None:
    victims = [Victim("healthy", rank=3, instance="i-2", memory_left=9000), Victim("pending", rank=1, instance="i-1")]
    binpack = [Strategy(StrategyType.BINPACK, "memory")]
    assert [v.key for v in choose_victims(victims, 1, binpack)] == ["pending"]
