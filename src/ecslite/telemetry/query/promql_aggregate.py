"""PromQL aggregation operators (``sum``, ``avg``, ``min``, ``max``, ``count``, ``group``,
``stddev``, ``stdvar``, ``topk``, ``bottomk``, ``quantile``, ``count_values``) with ``by`` /
``without``, as Prometheus 2.x ``engine.go`` ``aggregation`` computes them (spec §7.1 item 4).

- ``by (l…)`` keeps only the listed labels; ``without (l…)`` drops them and the metric name.
- Groups come out in the order their first sample was seen.
- ``topk``/``bottomk`` keep the input samples (labels included), largest (smallest) first; NaN
  loses to every number. ``k`` below 1 gives an empty result.
- ``avg`` is the running mean Prometheus keeps (safe from float overflow), ``stddev``/``stdvar``
  Welford's running variance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ecslite.telemetry.model import Labels
from ecslite.telemetry.query.promql_ast import Aggregate, StringLit, unwrap
from ecslite.telemetry.query.promql_functions import LABEL_NAME
from ecslite.telemetry.query.promql_range import quantile
from ecslite.telemetry.query.promql_values import (
    NAME,
    EvalError,
    Sample,
    Value,
    Vector,
    format_value,
    with_label,
)

if TYPE_CHECKING:
    from ecslite.telemetry.query.promql_eval import Evaluator

INT64_MAX = 2**63 - 1


@dataclass(slots=True)
class _Group:
    labels: Labels
    value: float
    mean: float
    count: int = 1
    samples: list[Sample] = field(default_factory=list)


def aggregate(ev: Evaluator, node: Aggregate, ts: int) -> Value:
    samples = ev.vector(node.expr, ts)
    op = node.op
    k = 0
    q = math.nan
    value_label = ""
    if op in ("topk", "bottomk", "limitk"):
        assert node.param is not None
        param = ev.scalar(node.param, ts)
        if math.isnan(param) or abs(param) > INT64_MAX:
            raise EvalError(f"Scalar value {format_value(param)} overflows int64")
        k = int(param)
        if k < 1:
            return Vector()
    elif op == "quantile":
        assert node.param is not None
        q = ev.scalar(node.param, ts)
    elif op == "count_values":
        param_node = unwrap(node.param) if node.param is not None else None
        if not isinstance(param_node, StringLit):
            raise EvalError("count_values needs a string parameter")
        value_label = param_node.value
        if not LABEL_NAME.fullmatch(value_label):
            raise EvalError(f'invalid label name "{value_label}"')
    grouping = frozenset(node.labels) | ({value_label} if value_label and not node.without else set())
    groups: dict[Labels, _Group] = {}
    for sample in samples:
        labels = sample.labels
        if value_label:
            labels = with_label(labels, value_label, format_value(sample.value))
        key = _group_labels(labels, grouping, node.without)
        group = groups.get(key)
        if group is None:
            groups[key] = _start(op, key, sample)
            continue
        _add(op, group, sample)
    return Vector(_finish(op, groups.values(), k, q))


def _group_labels(labels: Labels, grouping: frozenset[str], without: bool) -> Labels:
    if without:
        return tuple(pair for pair in labels if pair[0] not in grouping and pair[0] != NAME)
    return tuple(pair for pair in labels if pair[0] in grouping)


def _start(op: str, key: Labels, sample: Sample) -> _Group:
    group = _Group(key, sample.value, sample.value)
    if op in ("stddev", "stdvar"):
        group.value = 0.0
    elif op == "group":
        group.value = 1.0
    elif op in ("topk", "bottomk", "limitk", "quantile"):
        group.samples.append(sample)
    return group


def _add(op: str, group: _Group, sample: Sample) -> None:
    v = sample.value
    if op == "sum":
        group.value += v
    elif op == "avg":
        group.count += 1
        if math.isinf(group.mean):
            if math.isinf(v) and (group.mean > 0) == (v > 0):
                return
            if not math.isinf(v) and not math.isnan(v):
                return
        group.mean += v / group.count - group.mean / group.count
    elif op == "max":
        if group.value < v or math.isnan(group.value):
            group.value = v
    elif op == "min":
        if group.value > v or math.isnan(group.value):
            group.value = v
    elif op in ("count", "count_values"):
        group.count += 1
    elif op in ("stddev", "stdvar"):
        group.count += 1
        delta = v - group.mean
        group.mean += delta / group.count
        group.value += delta * (v - group.mean)
    elif op in ("topk", "bottomk", "limitk", "quantile"):
        group.samples.append(sample)
    elif op != "group":
        raise EvalError(f"aggregation {op!r} is not supported")


def _finish(op: str, groups: Iterable[_Group], k: int, q: float) -> list[Sample]:
    out: list[Sample] = []
    for group in groups:
        if op == "topk":
            out.extend(sorted(group.samples, key=_descending)[:k])
            continue
        if op == "bottomk":
            out.extend(sorted(group.samples, key=_ascending)[:k])
            continue
        if op == "limitk":
            out.extend(group.samples[:k])
            continue
        value = group.value
        if op == "avg":
            value = group.mean
        elif op in ("count", "count_values"):
            value = float(group.count)
        elif op == "stdvar":
            value = group.value / group.count
        elif op == "stddev":
            value = math.sqrt(group.value / group.count)
        elif op == "quantile":
            value = quantile(q, [s.value for s in group.samples])
        out.append(Sample(group.labels, value))
    return out


def _descending(sample: Sample) -> tuple[bool, float]:
    return (math.isnan(sample.value), -sample.value if not math.isnan(sample.value) else 0.0)


def _ascending(sample: Sample) -> tuple[bool, float]:
    return (math.isnan(sample.value), sample.value if not math.isnan(sample.value) else 0.0)
