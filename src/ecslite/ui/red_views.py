"""The service map and RED tables the UI shows, from the span-derived metrics (spec/telemetry.md §9.2,
§9.3): edges from ``traces_service_graph_*``, per-operation rate, errors and latency from
``traces_spanmetrics_*``.

Counts are what happened inside the window: a counter's last value minus its value at the window's
start (zero for a series that began inside the window, as every span-metrics series starts at
zero), with drops taken as restarts. Unlike PromQL's ``increase``, nothing is extrapolated, so a
burst of three calls shows as three calls even when the series has only one sample yet.
Latency quantiles use the bucket counts of the window with ``histogram_quantile``'s interpolation.

The functions here are pure except :func:`read_window`, which only calls the store's series reader.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecslite.telemetry.store import Matcher
from ecslite.telemetry.store.metrics import SeriesData

SeriesReader = Callable[[Sequence[Matcher], int, int], list[SeriesData]]

LOOKBACK_MS = 10 * 60 * 1000  # a sample this old before the window still gives the series' baseline
USER_NODE = "user"
QUANTILES = (0.5, 0.95, 0.99)


def window_increase(timestamps: Sequence[int], values: Sequence[float], start_ms: int) -> float:
    """How much a cumulative counter grew after ``start_ms`` (see the module docstring)."""
    previous: float | None = None
    total = 0.0
    for ts, value in zip(timestamps, values, strict=True):
        if math.isnan(value):
            continue  # a staleness marker
        if ts <= start_ms:
            previous = value
            continue
        base = 0.0 if previous is None else previous
        total += value - base if value >= base else value
        previous = value
    return total


def bucket_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """``histogram_quantile`` over ``(upper bound, cumulative count)`` pairs; ``None`` without data."""
    ordered = sorted(buckets)
    if len(ordered) < 2 or ordered[-1][0] != math.inf:
        return None
    counts: list[float] = []
    for _bound, count in ordered:
        counts.append(max(count, counts[-1]) if counts else count)
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    for index, (bound, _count) in enumerate(ordered):
        if counts[index] >= rank:
            if bound == math.inf:
                return ordered[-2][0]
            lower = ordered[index - 1][0] if index > 0 else 0.0
            below = counts[index - 1] if index > 0 else 0.0
            inside = counts[index] - below
            if inside <= 0:
                return bound
            return lower + (bound - lower) * (rank - below) / inside
    return ordered[-2][0]


def _bound(text: str) -> float:
    return math.inf if text == "+Inf" else float(text)


@dataclass(slots=True)
class _Stats:
    calls: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)

    def latency(self) -> dict[str, float | None]:
        pairs = list(self.buckets.items())
        return {f"p{round(q * 100)}": bucket_quantile(q, pairs) for q in QUANTILES}


def read_window(read: SeriesReader, name: str, start_ms: int, end_ms: int) -> list[tuple[dict[str, str], float]]:
    """Every series of metric ``name`` with its increase inside ``(start_ms, end_ms]``."""
    found = read([Matcher("__name__", "=", name)], start_ms - LOOKBACK_MS, end_ms)
    return [(dict(s.labels), window_increase(s.timestamps, s.values, start_ms)) for s in found]


CHART_STEP_MS = 15_000  # the span metrics are flushed every 5 s: a finer step only shows the flushes


def rate_series(
    read: SeriesReader,
    name: str,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    key_of: Callable[[Mapping[str, str]], str | None],
) -> dict[str, list[list[float]]]:
    """Calls per second of counter ``name`` in each step of the window, summed by ``key_of(labels)``
    (``None`` leaves a series out): ``{key: [[step end ms, rate], ...]}``.

    Counted as :func:`window_increase` counts (a series' first sample counts from zero), so the
    calls of a service that appeared a moment ago show at once, where PromQL's ``rate`` needs two
    samples and misses every call made before the first one.
    """
    step_ms = max(step_ms, 1000)
    count = max(1, -(-(end_ms - start_ms) // step_ms))
    sums: dict[str, list[float]] = {}
    for series in read([Matcher("__name__", "=", name)], start_ms - LOOKBACK_MS, end_ms):
        key = key_of(dict(series.labels))
        if key is None:
            continue
        totals = sums.setdefault(key, [0.0] * count)
        previous: float | None = None
        for ts, value in zip(series.timestamps, series.values, strict=True):
            if math.isnan(value):
                continue
            if ts <= start_ms:
                previous = value
                continue
            base = 0.0 if previous is None else previous
            grew = value - base if value >= base else value
            previous = value
            index = min((ts - start_ms - 1) // step_ms, count - 1)
            totals[index] += grew
    seconds = step_ms / 1000.0
    return {
        key: [[float(start_ms + (i + 1) * step_ms), total / seconds] for i, total in enumerate(totals)]
        for key, totals in sorted(sums.items())
    }


@dataclass(frozen=True, slots=True)
class EcsNode:
    """An ECS service the map shows as a node (and groups telemetry services under, by task family)."""

    service_arn: str
    service_name: str
    cluster: str
    family: str


def service_map(read: SeriesReader, start_ms: int, end_ms: int, ecs: Sequence[EcsNode]) -> dict[str, Any]:
    """Nodes and edges of the window: ``{nodes: [...], edges: [...], windowSeconds}``."""
    seconds = max((end_ms - start_ms) / 1000.0, 1e-9)
    edges: dict[tuple[str, str, str], _Stats] = {}
    for labels, count in read_window(read, "traces_service_graph_request_total", start_ms, end_ms):
        key = (labels.get("client", ""), labels.get("server", ""), labels.get("connection_type", ""))
        edges.setdefault(key, _Stats()).calls += count
    for labels, count in read_window(read, "traces_service_graph_request_failed_total", start_ms, end_ms):
        key = (labels.get("client", ""), labels.get("server", ""), labels.get("connection_type", ""))
        edges.setdefault(key, _Stats()).errors += count
    # The server side measures the call; an edge to a virtual node has only its client side.
    client_side: dict[tuple[str, str, str], dict[float, float]] = {}
    for side, target in (("server", None), ("client", client_side)):
        for labels, count in read_window(read, f"traces_service_graph_request_{side}_seconds_bucket", start_ms, end_ms):
            key = (labels.get("client", ""), labels.get("server", ""), labels.get("connection_type", ""))
            if key not in edges:
                continue
            buckets = edges[key].buckets if target is None else target.setdefault(key, {})
            bound = _bound(labels.get("le", "+Inf"))
            buckets[bound] = buckets.get(bound, 0.0) + count
    for key, buckets in client_side.items():
        if not any(edges[key].buckets.values()):
            edges[key].buckets = buckets
    families, red = _service_facts(read, start_ms, end_ms)
    return {
        "windowSeconds": seconds,
        "edges": [
            {
                "client": client,
                "server": server,
                "connectionType": connection,
                "requests": stats.calls,
                "rate": stats.calls / seconds,
                "failed": stats.errors,
                "errorRatio": stats.errors / stats.calls if stats.calls else 0.0,
                **stats.latency(),
            }
            for (client, server, connection), stats in sorted(edges.items())
            if stats.calls > 0
        ],
        "nodes": _nodes(edges, families, red, ecs, seconds),
    }


def _service_facts(
    read: SeriesReader, start_ms: int, end_ms: int
) -> tuple[dict[str, str], dict[str, tuple[float, float]]]:
    """Each span service's task family and its (calls, errors) of SERVER/CONSUMER spans in the window."""
    families: dict[str, str] = {}
    red: dict[str, tuple[float, float]] = {}
    for labels, count in read_window(read, "traces_spanmetrics_calls_total", start_ms, end_ms):
        service = labels.get("service", "")
        if labels.get("aws_ecs_task_family"):
            families[service] = labels["aws_ecs_task_family"]
        if labels.get("span_kind") not in ("SPAN_KIND_SERVER", "SPAN_KIND_CONSUMER"):
            continue
        calls, errors = red.get(service, (0.0, 0.0))
        failed = count if labels.get("status_code") == "STATUS_CODE_ERROR" else 0.0
        red[service] = (calls + count, errors + failed)
    return families, red


def _nodes(
    edges: Mapping[tuple[str, str, str], _Stats],
    families: Mapping[str, str],
    red: Mapping[str, tuple[float, float]],
    ecs: Sequence[EcsNode],
    seconds: float,
) -> list[dict[str, Any]]:
    kinds: dict[str, str] = {}
    for (client, server, connection), stats in edges.items():
        if stats.calls <= 0:
            continue
        kinds.setdefault(client, "user" if client == USER_NODE else "service")
        kinds[server] = "database" if connection == "database" else kinds.get(server, "service")
        if connection == "virtual_node" and server not in families and server not in red:
            kinds[server] = "virtual"
    for service in red:
        kinds.setdefault(service, "service")
    by_family: dict[str, list[EcsNode]] = {}
    for node in ecs:
        by_family.setdefault(node.family, []).append(node)
    nodes: list[dict[str, Any]] = []
    claimed: set[str] = set()
    for name in sorted(kinds):
        family = families.get(name)
        owners = by_family.get(family or "", []) or [n for n in ecs if n.service_name == name]
        owner = owners[0] if owners else None
        if owner is not None:
            claimed.add(owner.service_arn)
        calls, errors = red.get(name, (0.0, 0.0))
        nodes.append(
            {
                "id": name,
                "kind": kinds[name],
                "family": family or (owner.family if owner else None),
                "ecsService": owner.service_name if owner else None,
                "serviceArn": owner.service_arn if owner else None,
                "cluster": owner.cluster if owner else None,
                "rate": calls / seconds,
                "errorRatio": errors / calls if calls else 0.0,
            }
        )
    for node in ecs:
        if node.service_arn not in claimed:
            nodes.append(
                {
                    "id": f"ecs:{node.cluster}/{node.service_name}",
                    "kind": "ecs",
                    "family": node.family,
                    "ecsService": node.service_name,
                    "serviceArn": node.service_arn,
                    "cluster": node.cluster,
                    "rate": 0.0,
                    "errorRatio": 0.0,
                }
            )
    return nodes


def operations(
    read: SeriesReader, start_ms: int, end_ms: int, belongs: Callable[[Mapping[str, str]], bool]
) -> list[dict[str, Any]]:
    """RED per (service, span name, kind) of the series ``belongs`` picks: calls, rate, errors,
    error ratio and p50/p95/p99 in seconds, busiest first."""
    seconds = max((end_ms - start_ms) / 1000.0, 1e-9)
    stats: dict[tuple[str, str, str], _Stats] = {}
    for labels, count in read_window(read, "traces_spanmetrics_calls_total", start_ms, end_ms):
        if not belongs(labels):
            continue
        entry = stats.setdefault(_operation(labels), _Stats())
        entry.calls += count
        if labels.get("status_code") == "STATUS_CODE_ERROR":
            entry.errors += count
    for labels, count in read_window(read, "traces_spanmetrics_latency_bucket", start_ms, end_ms):
        found = stats.get(_operation(labels)) if belongs(labels) else None
        if found is not None:
            bound = _bound(labels.get("le", "+Inf"))
            found.buckets[bound] = found.buckets.get(bound, 0.0) + count
    rows = [
        {
            "service": service,
            "operation": name,
            "kind": kind.removeprefix("SPAN_KIND_").lower(),
            "calls": entry.calls,
            "rate": entry.calls / seconds,
            "errors": entry.errors,
            "errorRatio": entry.errors / entry.calls if entry.calls else 0.0,
            **entry.latency(),
        }
        for (service, name, kind), entry in stats.items()
        if entry.calls > 0
    ]
    rows.sort(key=lambda r: (-float(r["calls"] or 0), str(r["service"]), str(r["operation"])))
    return rows


def _operation(labels: Mapping[str, str]) -> tuple[str, str, str]:
    return labels.get("service", ""), labels.get("span_name", ""), labels.get("span_kind", "")
