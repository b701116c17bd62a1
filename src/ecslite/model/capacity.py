"""Capacity provider strategies (spec/ecs.md §5.6): how tasks are split over a strategy.

Pure functions shared by the task launcher and the service scheduler; they know nothing of the
store or the API. The rule (§5.6, seed 001): the provider with a ``base`` gets up to ``base``
tasks first; the rest is split by weight, each provider receiving ``floor(rest × w / Σw)``; the
few tasks left over go one each to the providers with the highest weights, earlier strategy
items winning ties. Providers with weight 0 get nothing beyond their base.

Invariants: ``distribute(n, s)`` always sums to ``n``; placing tasks one by one with
``next_provider`` reaches exactly ``distribute(n, s)`` after ``n`` steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StrategyItem:
    """One ``capacityProviderStrategy`` item, defaults applied (base 0, weight 0)."""

    capacity_provider: str
    weight: int = 0
    base: int = 0

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> StrategyItem:
        return cls(str(item["capacityProvider"]), int(item.get("weight") or 0), int(item.get("base") or 0))

    def to_api(self) -> dict[str, Any]:
        return {"capacityProvider": self.capacity_provider, "weight": self.weight, "base": self.base}


class NoWeightedProvider(ValueError):
    """No item of the strategy has a weight above zero, so ECS refuses to launch with it (§5.6)."""


def parse_strategy(items: Sequence[Mapping[str, Any]]) -> list[StrategyItem]:
    return [StrategyItem.from_api(item) for item in items]


def distribute(count: int, strategy: Sequence[StrategyItem]) -> dict[str, int]:
    """How many of ``count`` tasks each provider of ``strategy`` gets (every provider is a key)."""
    if count < 0:
        raise ValueError(f"cannot distribute {count} tasks")
    _check_usable(strategy)
    result = {item.capacity_provider: 0 for item in strategy}
    remaining = count
    for item in strategy:
        taken = min(item.base, remaining)
        result[item.capacity_provider] += taken
        remaining -= taken
    total_weight = sum(item.weight for item in strategy)
    handed_out = 0
    for item in strategy:
        share = remaining * item.weight // total_weight
        result[item.capacity_provider] += share
        handed_out += share
    leftover = remaining - handed_out
    by_weight = sorted(
        (index for index, item in enumerate(strategy) if item.weight > 0),
        key=lambda index: (-strategy[index].weight, index),
    )
    # The floors lose less than one task per weighted provider, so one pass hands out the rest.
    for index in by_weight[:leftover]:
        result[strategy[index].capacity_provider] += 1
    return result


def next_provider(strategy: Sequence[StrategyItem], placed: Mapping[str, int]) -> str:
    """The provider the next task goes to, given how many tasks each provider already has.

    Picks the provider furthest below its share of ``total + 1`` tasks (strategy order breaks
    ties), so a scheduler that launches one task at a time converges on ``distribute``.
    """
    total = sum(placed.get(item.capacity_provider, 0) for item in strategy)
    target = distribute(total + 1, strategy)
    deficits = [
        (target[item.capacity_provider] - placed.get(item.capacity_provider, 0), -index)
        for index, item in enumerate(strategy)
    ]
    _, neg_index = max(deficits)
    return strategy[-neg_index].capacity_provider


def scale_in_provider(strategy: Sequence[StrategyItem], placed: Mapping[str, int]) -> str:
    """The provider to take a task from when scaling in by one (the one furthest above its share)."""
    total = sum(placed.get(item.capacity_provider, 0) for item in strategy)
    if total <= 0:
        raise ValueError("no task to remove")
    target = distribute(total - 1, strategy)
    surpluses = [
        (placed.get(item.capacity_provider, 0) - target[item.capacity_provider], index)
        for index, item in enumerate(strategy)
    ]
    _, index = max(surpluses)
    return strategy[index].capacity_provider


def _check_usable(strategy: Sequence[StrategyItem]) -> None:
    if not strategy:
        raise ValueError("an empty capacity provider strategy places nothing")
    if not any(item.weight > 0 for item in strategy):
        raise NoWeightedProvider([item.capacity_provider for item in strategy])
