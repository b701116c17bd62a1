"""Label matchers shared by the metric and log selectors: ``=``, ``!=``, ``=~``, ``!~`` (§7.1, §7.2).

Regexes are fully anchored (``re.fullmatch``), as in Prometheus and Loki; a missing label has the
value ``""``, so ``{a!="x"}`` matches series without ``a`` and ``{a=""}`` matches only those.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

OPERATORS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: str
    value: str
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"unknown matcher operator {self.op!r}")
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "_pattern", re.compile(self.value, re.DOTALL))

    @property
    def is_equality(self) -> bool:
        return self.op == "="

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self._pattern is not None
        found = self._pattern.fullmatch(value) is not None
        return found if self.op == "=~" else not found

    def matches_empty(self) -> bool:
        return self.matches("")


def match_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def best_equality(matchers: Iterable[Matcher]) -> Matcher | None:
    """An equality matcher with a non-empty value: the index can narrow candidates with it."""
    for matcher in matchers:
        if matcher.op == "=" and matcher.value != "":
            return matcher
    return None
