"""``histogram_quantile`` over classic histograms (``_bucket`` series with an ``le`` label), as
Prometheus 2.x ``quantile.go`` computes it (spec/telemetry.md §7.1 item 3).

Buckets are grouped by every label but ``le`` and ``__name__``; buckets with the same bound are
merged, counts made monotonic, and the rank ``φ × count(+Inf)`` is interpolated linearly inside
the bucket that holds it (the first bucket starts at 0 when its bound is positive). A rank in the
``+Inf`` bucket answers the highest finite bound; fewer than two buckets or no ``+Inf`` bucket
give NaN; φ < 0 gives −Inf and φ > 1 +Inf.
"""

from __future__ import annotations

import bisect
import math

from ecslite.telemetry.model import Labels
from ecslite.telemetry.query.promql_values import NAME, Sample, Vector

_EXCLUDED = frozenset({NAME, "le"})


def parse_bound(text: str) -> float | None:
    """``le`` as Go's ``strconv.ParseFloat`` reads it (``+Inf``, ``Inf``, ``1e3``, ...)."""
    if "_" in text or text != text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def histogram_quantile(q: float, samples: list[Sample]) -> Vector:
    groups: dict[Labels, list[tuple[float, float]]] = {}
    for sample in samples:
        bound = parse_bound(_le(sample.labels))
        if bound is None:
            continue
        key = tuple(pair for pair in sample.labels if pair[0] not in _EXCLUDED)
        groups.setdefault(key, []).append((bound, sample.value))
    return Vector([Sample(labels, bucket_quantile(q, buckets)) for labels, buckets in groups.items()])


def _le(labels: Labels) -> str:
    for name, value in labels:
        if name == "le":
            return value
    return ""


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(buckets, key=lambda b: b[0])
    if not ordered or not math.isinf(ordered[-1][0]) or ordered[-1][0] < 0:
        return math.nan
    merged: list[list[float]] = []
    for bound, count in ordered:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    highest = -math.inf
    for bucket in merged:
        if bucket[1] > highest:
            highest = bucket[1]
        elif bucket[1] < highest:
            bucket[1] = highest
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    counts = [b[1] for b in merged[:-1]]
    b = bisect.bisect_left(counts, rank)
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[b][0], merged[b][1]
    if b > 0:
        start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return start + (end - start) * (rank / count)
