"""Placement strategies (spec/ecs.md §5.3): their parsing, the order they put instances in, and the
tasks they pick when a service scales in.

- ``binpack`` on ``cpu`` or ``memory``: the instance with the least remaining amount that still
  fits comes first; when scaling in, the task on the instance with the most free resources goes.
- ``spread`` on ``instanceId`` (= ``host``) or ``attribute:<name>``: the value holding the fewest
  tasks of the group comes first; when scaling in, tasks leave the value holding the most, so the
  values stay balanced.
- ``random``: any order.

Strategies apply in the given order, each later one breaking the ties of the ones before (§5.2);
the instance registered first wins what is still tied. A service without strategies spreads over
``attribute:ecs.availability-zone`` (§4.1); RunTask without strategies places first fit.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MAX_STRATEGIES = 5
AZ_ATTRIBUTE = "ecs.availability-zone"

# ECS-like texts (unverified), one place to correct them.
TOO_MANY_STRATEGIES = f"placementStrategy can have at most {MAX_STRATEGIES} items."
BINPACK_FIELD = "Invalid placement strategy field '{field}' for type binpack: use cpu or memory."
SPREAD_FIELD = "Invalid placement strategy field '{field}' for type spread: use instanceId, host or attribute:<name>."
UNKNOWN_TYPE = "Invalid placement strategy type '{type}': use binpack, spread or random."


class PlacementInputError(ValueError):
    """A placement strategy or constraint that ECS refuses; the message is the API's text."""


class StrategyType(StrEnum):
    BINPACK = "binpack"
    SPREAD = "spread"
    RANDOM = "random"


INSTANCE_ID = "instanceId"


@dataclass(frozen=True, slots=True)
class Strategy:
    """One strategy with its field normalised: ``cpu``/``memory``, ``instanceId`` or ``attribute:<name>``."""

    type: StrategyType
    field: str | None = None

    @property
    def attribute(self) -> str | None:
        """The attribute a spread strategy reads (``None`` for ``instanceId``)."""
        if self.type is StrategyType.SPREAD and self.field and self.field.startswith("attribute:"):
            return self.field.split(":", 1)[1]
        return None


DEFAULT_SERVICE_STRATEGY = (Strategy(StrategyType.SPREAD, f"attribute:{AZ_ATTRIBUTE}"),)


def parse_strategies(items: Sequence[Mapping[str, Any]] | None) -> tuple[Strategy, ...]:
    """The API's ``placementStrategy`` list, checked; raises :class:`PlacementInputError`."""
    items = items or ()
    if len(items) > MAX_STRATEGIES:
        raise PlacementInputError(TOO_MANY_STRATEGIES)
    return tuple(parse_strategy(item) for item in items)


def parse_strategy(item: Mapping[str, Any]) -> Strategy:
    kind = str(item.get("type") or "")
    raw = item.get("field")
    given = str(raw) if raw is not None else None
    if kind == StrategyType.BINPACK:
        lowered = (given or "").lower()
        if lowered not in ("cpu", "memory"):
            raise PlacementInputError(BINPACK_FIELD.format(field=given))
        return Strategy(StrategyType.BINPACK, lowered)
    if kind == StrategyType.SPREAD:
        if given is None:
            raise PlacementInputError(SPREAD_FIELD.format(field=given))
        if given.lower() in ("instanceid", "host"):
            return Strategy(StrategyType.SPREAD, INSTANCE_ID)
        if given.startswith("attribute:") and len(given) > len("attribute:"):
            return Strategy(StrategyType.SPREAD, given)
        raise PlacementInputError(SPREAD_FIELD.format(field=given))
    if kind == StrategyType.RANDOM:
        return Strategy(StrategyType.RANDOM)
    raise PlacementInputError(UNKNOWN_TYPE.format(type=kind))


# -- scale-in ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Victim:
    """A task a service may stop, with what the strategies read about where it runs.

    ``rank`` orders classes of tasks before any strategy (the scheduler's preference for tasks
    that are unhealthy or not yet running, §4.4); ``instance`` is the container instance (``None``
    on Fargate, where ``attributes`` still carries the zone).
    """

    key: str
    rank: int = 0
    instance: str | None = None
    attributes: Mapping[str, str | None] = field(default_factory=dict)
    cpu_left: int = 0
    memory_left: int = 0
    cpu: int = 0
    memory: int = 0
    created_at: float = 0.0


def choose_victims(
    candidates: Sequence[Victim],
    count: int,
    strategies: Sequence[Strategy],
    rng: random.Random | None = None,
    *,
    population: Sequence[Victim] | None = None,
) -> list[Victim]:
    """``count`` tasks to stop, one at a time (§5.3): the lowest ``rank`` first; then each strategy
    in order (spread takes from the value holding most of the ``population`` — by default the
    candidates —, binpack from the instance that will have the most free resources, random at
    random); the newest task breaks what is still tied."""
    chooser = rng or random.Random()
    remaining = list(candidates)
    everyone = list(population if population is not None else candidates)
    counts = [_spread_counts(s, everyone) for s in strategies]
    free: dict[str | None, tuple[int, int]] = {v.instance: (v.cpu_left, v.memory_left) for v in everyone if v.instance}
    chosen: list[Victim] = []
    for _ in range(max(0, min(count, len(remaining)))):
        draws = {id(v): chooser.random() for v in remaining}

        def key(victim: Victim, draws: dict[int, float] = draws) -> tuple[Any, ...]:
            parts: list[Any] = [victim.rank]
            for strategy, spread in zip(strategies, counts, strict=True):
                if strategy.type is StrategyType.SPREAD:
                    parts.append(-spread[_spread_value(strategy, victim)])
                elif strategy.type is StrategyType.BINPACK:
                    cpu, memory = free.get(victim.instance, (victim.cpu_left, victim.memory_left))
                    after = (cpu + victim.cpu) if strategy.field == "cpu" else (memory + victim.memory)
                    parts.append(-after)
                else:
                    parts.append(draws[id(victim)])
            parts += [-victim.created_at, victim.key]
            return tuple(parts)

        victim = min(remaining, key=key)
        remaining.remove(victim)
        chosen.append(victim)
        for strategy, spread in zip(strategies, counts, strict=True):
            if strategy.type is StrategyType.SPREAD:
                spread[_spread_value(strategy, victim)] -= 1
        if victim.instance in free:
            cpu, memory = free[victim.instance]
            free[victim.instance] = (cpu + victim.cpu, memory + victim.memory)
    return chosen


def _spread_value(strategy: Strategy, victim: Victim) -> str | None:
    if strategy.field == INSTANCE_ID:
        return victim.instance
    name = strategy.attribute
    return victim.attributes.get(name) if name else None


def _spread_counts(strategy: Strategy, victims: Sequence[Victim]) -> Counter[str | None]:
    if strategy.type is not StrategyType.SPREAD:
        return Counter()
    return Counter(_spread_value(strategy, v) for v in victims)
