"""PromQL binary operators with vector matching, as Prometheus 2.x ``engine.go`` evaluates them
(spec/telemetry.md §7.1 item 5).

- Arithmetic (``+ - * / % ^ atan2``) drops the metric name; comparisons filter (keeping the
  vector side's value) unless ``bool``, which gives 0/1 and drops the name.
- Vector/vector matching is by all labels but the name, by ``on(…)`` labels, or by all but the
  ``ignoring(…)`` labels. One-to-one results keep the left side's labels (only the ``on`` labels
  with ``on``, without the ignored ones with ``ignoring``); ``group_left``/``group_right`` keep
  the "many" side's labels plus the listed labels from the "one" side.
- ``and``/``or``/``unless`` match the same way, many-to-many, and keep the samples as they are.
- Ambiguous matches are errors with Prometheus' messages.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ecslite.telemetry.model import Labels
from ecslite.telemetry.query.promql_ast import COMPARISONS, SET_OPERATORS, Binary
from ecslite.telemetry.query.promql_values import (
    NAME,
    EvalError,
    Sample,
    Scalar,
    String,
    Value,
    Vector,
    check_unique,
    drop_name,
    format_labels,
    go_div,
    go_mod,
    go_pow,
    with_label,
)

if TYPE_CHECKING:
    from ecslite.telemetry.query.promql_eval import Evaluator


def arithmetic(op: str, lhs: float, rhs: float) -> tuple[float, bool]:
    """(value, keep) of one element pair, as Go's ``vectorElemBinop``."""
    if op == "+":
        return lhs + rhs, True
    if op == "-":
        return lhs - rhs, True
    if op == "*":
        return lhs * rhs, True
    if op == "/":
        return go_div(lhs, rhs), True
    if op == "%":
        return go_mod(lhs, rhs), True
    if op == "^":
        return go_pow(lhs, rhs), True
    if op == "atan2":
        return math.atan2(lhs, rhs), True
    if op == "==":
        return lhs, lhs == rhs
    if op == "!=":
        return lhs, lhs != rhs
    if op == ">":
        return lhs, lhs > rhs
    if op == "<":
        return lhs, lhs < rhs
    if op == ">=":
        return lhs, lhs >= rhs
    if op == "<=":
        return lhs, lhs <= rhs
    raise EvalError(f"operator {op!r} is not supported")


def binary(ev: Evaluator, node: Binary, ts: int) -> Value:
    lhs = ev.eval(node.lhs, ts)
    if node.op in SET_OPERATORS and isinstance(lhs, Vector) and not lhs.samples and node.op != "or":
        return Vector()  # "and"/"unless" with nothing on the left: the right side is never read
    rhs = ev.eval(node.rhs, ts)
    if isinstance(lhs, String) or isinstance(rhs, String):
        raise EvalError("binary expression must contain only scalar and instant vector types")
    if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
        value, keep = arithmetic(node.op, lhs.value, rhs.value)
        if node.op in COMPARISONS:
            value = 1.0 if keep else 0.0
        return Scalar(value)
    if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
        return _vector_scalar(node, lhs.samples, rhs.value, swap=False)
    if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
        return _vector_scalar(node, rhs.samples, lhs.value, swap=True)
    if isinstance(lhs, Vector) and isinstance(rhs, Vector):
        if node.op in SET_OPERATORS:
            return Vector(_set_operation(node, lhs.samples, rhs.samples))
        return Vector(_vector_vector(node, lhs.samples, rhs.samples))
    raise EvalError("binary expression must contain only scalar and instant vector types")


def _vector_scalar(node: Binary, samples: list[Sample], scalar: float, swap: bool) -> Vector:
    out = []
    comparison = node.op in COMPARISONS
    drop = not comparison or node.return_bool
    for sample in samples:
        lv, rv = (scalar, sample.value) if swap else (sample.value, scalar)
        value, keep = arithmetic(node.op, lv, rv)
        if comparison and swap:
            value = rv  # the vector element's value is kept even when it is on the right
        if node.return_bool:
            value, keep = (1.0 if keep else 0.0), True
        if keep:
            out.append(Sample(drop_name(sample.labels) if drop else sample.labels, value))
    check_unique(out)
    return Vector(out)


def _signature(labels: Labels, on: bool, names: frozenset[str]) -> Labels:
    if on:
        return tuple(pair for pair in labels if pair[0] in names)
    return tuple(pair for pair in labels if pair[0] not in names and pair[0] != NAME)


def _set_operation(node: Binary, lhs: list[Sample], rhs: list[Sample]) -> list[Sample]:
    names = frozenset(node.matching)
    if node.op == "and":
        if not lhs or not rhs:
            return []
        right = {_signature(s.labels, node.on, names) for s in rhs}
        return [s for s in lhs if _signature(s.labels, node.on, names) in right]
    if node.op == "or":
        if not lhs or not rhs:
            return [*lhs, *rhs]
        left = {_signature(s.labels, node.on, names) for s in lhs}
        return [*lhs, *(s for s in rhs if _signature(s.labels, node.on, names) not in left)]
    if not lhs or not rhs:
        return list(lhs)
    right = {_signature(s.labels, node.on, names) for s in rhs}
    return [s for s in lhs if _signature(s.labels, node.on, names) not in right]


def _vector_vector(node: Binary, lhs: list[Sample], rhs: list[Sample]) -> list[Sample]:
    if not lhs or not rhs:
        return []
    names = frozenset(node.matching)
    one_to_many = node.card == "one-to-many"
    if one_to_many:
        lhs, rhs = rhs, lhs
    right: dict[Labels, Sample] = {}
    for sample in rhs:
        sig = _signature(sample.labels, node.on, names)
        duplicate = right.get(sig)
        if duplicate is not None:
            side = "left" if one_to_many else "right"
            raise EvalError(
                f"found duplicate series for the match group {format_labels(sig)} on the {side} hand-side of the "
                f"operation: [{format_labels(sample.labels)}, {format_labels(duplicate.labels)}];many-to-many "
                "matching not allowed: matching labels must be unique on one side"
            )
        right[sig] = sample
    comparison = node.op in COMPARISONS
    matched: dict[Labels, set[Labels] | None] = {}
    out: list[Sample] = []
    for sample in lhs:
        sig = _signature(sample.labels, node.on, names)
        other = right.get(sig)
        if other is None:
            continue
        lv, rv = (other.value, sample.value) if one_to_many else (sample.value, other.value)
        value, keep = arithmetic(node.op, lv, rv)
        if node.return_bool:
            value = 1.0 if keep else 0.0
        elif not keep:
            continue
        labels = _result_labels(node, sample.labels, other.labels, comparison)
        if node.return_bool:
            labels = drop_name(labels)
        _check_match(node, matched, sig, labels)
        out.append(Sample(labels, value))
    return out


def _check_match(node: Binary, matched: dict[Labels, set[Labels] | None], sig: Labels, labels: Labels) -> None:
    if node.card == "one-to-one":
        if sig in matched:
            raise EvalError(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
            )
        matched[sig] = None
        return
    seen = matched.get(sig)
    if seen is None:
        seen = matched[sig] = set()
    elif labels in seen:
        raise EvalError("multiple matches for labels: grouping labels must ensure unique matches")
    seen.add(labels)


def _result_labels(node: Binary, many: Labels, one: Labels, comparison: bool) -> Labels:
    labels = many if comparison else drop_name(many)
    if node.card == "one-to-one":
        names = frozenset(node.matching)
        if node.on:
            labels = tuple(pair for pair in labels if pair[0] in names)
        elif names:
            labels = tuple(pair for pair in labels if pair[0] not in names)
    for name in node.include:
        value = ""
        for key, candidate in one:
            if key == name:
                value = candidate
                break
        labels = with_label(labels, name, value)
    return labels
