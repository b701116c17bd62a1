"""How tasks are split over a capacity provider strategy (spec/ecs.md §5.6)."""

from __future__ import annotations

import itertools

import pytest

from ecslite.model.capacity import (
    NoWeightedProvider,
    StrategyItem,
    distribute,
    next_provider,
    parse_strategy,
    scale_in_provider,
)

SEED = [StrategyItem("FARGATE", weight=1, base=2), StrategyItem("FARGATE_SPOT", weight=3)]


@pytest.mark.parametrize(("count", "expected"), [(5, (2, 3)), (10, (4, 6))])
def test_distribute_matches_the_seed_example(count: int, expected: tuple[int, int]) -> None:
    assert distribute(count, SEED) == {"FARGATE": expected[0], "FARGATE_SPOT": expected[1]}


def test_distribute_fills_the_base_before_any_weight() -> None:
    assert distribute(1, SEED) == {"FARGATE": 1, "FARGATE_SPOT": 0}
    assert distribute(2, SEED) == {"FARGATE": 2, "FARGATE_SPOT": 0}
    assert distribute(0, SEED) == {"FARGATE": 0, "FARGATE_SPOT": 0}


def test_distribute_gives_leftovers_to_higher_weights_first() -> None:
    strategy = [StrategyItem("a", weight=1), StrategyItem("b", weight=2), StrategyItem("c", weight=2)]
    # 4 × (1, 2, 2) / 5 = (0.8, 1.6, 1.6) → floors (0, 1, 1); one left over goes to b (weight 2, earlier).
    assert distribute(4, strategy) == {"a": 0, "b": 2, "c": 2}
    assert distribute(1, strategy) == {"a": 0, "b": 1, "c": 0}


def test_distribute_gives_weight_zero_providers_only_their_base() -> None:
    strategy = [StrategyItem("a", weight=0, base=3), StrategyItem("b", weight=1)]
    assert distribute(10, strategy) == {"a": 3, "b": 7}


def test_distribute_refuses_a_strategy_without_weight() -> None:
    with pytest.raises(NoWeightedProvider):
        distribute(1, [StrategyItem("a", weight=0, base=5)])
    with pytest.raises(ValueError, match="empty"):
        distribute(1, [])
    with pytest.raises(ValueError, match="-1"):
        distribute(-1, SEED)


STRATEGIES = [
    SEED,
    [StrategyItem("a", weight=1), StrategyItem("b", weight=1), StrategyItem("c", weight=3)],
    [StrategyItem("a", weight=2, base=1), StrategyItem("b", weight=3), StrategyItem("c", weight=0)],
    [StrategyItem("a", weight=7), StrategyItem("b", weight=1000)],
]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_distribute_always_hands_out_exactly_count(strategy: list[StrategyItem]) -> None:
    for count in range(60):
        shares = distribute(count, strategy)
        assert sum(shares.values()) == count
        assert all(share >= 0 for share in shares.values())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_next_provider_one_at_a_time_converges_on_distribute(strategy: list[StrategyItem]) -> None:
    placed = {item.capacity_provider: 0 for item in strategy}
    for count in range(1, 40):
        placed[next_provider(strategy, placed)] += 1
        assert placed == distribute(count, strategy)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_scale_in_provider_one_at_a_time_walks_distribute_back(strategy: list[StrategyItem]) -> None:
    placed = distribute(30, strategy)
    for count in range(29, -1, -1):
        placed[scale_in_provider(strategy, placed)] -= 1
        assert placed == distribute(count, strategy)


def test_next_provider_repairs_an_unbalanced_placement() -> None:
    # Everything on FARGATE_SPOT so far: the base provider is furthest below its share.
    assert next_provider(SEED, {"FARGATE": 0, "FARGATE_SPOT": 6}) == "FARGATE"


def test_parse_strategy_applies_api_defaults() -> None:
    items = parse_strategy([{"capacityProvider": "FARGATE"}, {"capacityProvider": "X", "weight": 2, "base": 1}])
    assert items == [StrategyItem("FARGATE", 0, 0), StrategyItem("X", 2, 1)]
    assert [i.to_api() for i in items][1] == {"capacityProvider": "X", "weight": 2, "base": 1}


def test_distribute_is_proportional_to_weights_for_large_counts() -> None:
    strategy = [StrategyItem("a", weight=1), StrategyItem("b", weight=4)]
    for count in itertools.islice(itertools.count(5, 5), 20):
        assert distribute(count, strategy) == {"a": count // 5, "b": 4 * count // 5}
