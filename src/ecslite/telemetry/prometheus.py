"""OTLP metrics → Prometheus-model samples (spec/telemetry.md §2.4).

- Names: characters outside ``[a-zA-Z0-9_:]`` become ``_`` (repeats collapsed, ``_`` before a
  leading digit); the unit is appended unless already there (``s`` → ``_seconds``, ``By/s`` →
  ``_bytes_per_second``, ``1`` on gauges → ``_ratio``, ``{annotations}`` dropped); monotonic sums
  get ``_total``.
- Labels: point attributes, sanitized (values of colliding names joined with ``;``); ``job`` =
  ``service.namespace/service.name`` (or ``service.name``), ``instance`` = ``service.instance.id``,
  and ecslite promotes ``task_family``, ``container`` and ``cluster`` onto every series. The
  other resource attributes go to one ``target_info`` series per resource.
- Histograms become ``_bucket{le}`` (cumulative), ``_sum`` and ``_count``; exponential histograms a
  classic view on their bucket upper bounds; summaries ``{quantile}``, ``_sum``, ``_count``.
- Delta temporality is accumulated into cumulative series (:class:`DeltaAccumulator`, rules 1–7);
  out-of-order delta points are dropped and counted.
- A point flagged "no recorded value" becomes the staleness marker.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from ecslite.telemetry.attributes import attributes_from_pb, body_text
from ecslite.telemetry.model import AttrValue, Exemplar, Labels, MetricBatch, MetricMetadata, Resource, Sample

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
DELTA, CUMULATIVE = 1, 2
NO_RECORDED_VALUE = 1
UNITS = {
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "min": "minutes",
    "h": "hours",
    "d": "days",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tebibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "bit": "bits",
    "%": "percent",
    "Hz": "hertz",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
}
PER_UNITS = {"s": "second", "m": "minute", "min": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month"}
PROMOTED = {"aws.ecs.task.family": "task_family", "container.name": "container", "aws.ecs.cluster.arn": "cluster"}
IDENTIFYING = frozenset({"service.name", "service.namespace", "service.instance.id"})
_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_:]+")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]+")
_ANNOTATION = re.compile(r"\{[^}]*\}")


def metric_name(name: str, unit: str, *, gauge: bool, counter: bool) -> str:
    base = _INVALID_NAME.sub("_", name)
    if base and base[0].isdigit():
        base = "_" + base
    suffix = unit_suffix(unit, gauge=gauge)
    if suffix and not base.endswith("_" + suffix) and base != suffix:
        base = f"{base}_{suffix}"
    if counter and not base.endswith("_total"):
        base += "_total"
    return base


def unit_suffix(unit: str, *, gauge: bool) -> str:
    cleaned = _ANNOTATION.sub("", unit).strip()
    if not cleaned:
        return ""
    if cleaned == "1":
        return "ratio" if gauge else ""
    main, _, per = cleaned.partition("/")
    parts = [UNITS.get(main, _INVALID_LABEL.sub("_", main).strip("_"))] if main else []
    if per:
        parts.append("per_" + PER_UNITS.get(per, UNITS.get(per, _INVALID_LABEL.sub("_", per).strip("_"))))
    return "_".join(p for p in parts if p)


def label_name(key: str) -> str:
    name = _INVALID_LABEL.sub("_", key)
    if name and name[0].isdigit():
        name = "key_" + name
    return name or "_"


def label_value(value: AttrValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    return body_text(value)


def format_float(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def point_labels(attributes: Mapping[str, AttrValue]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key, value in attributes.items():
        name = label_name(key)
        text = label_value(value)
        labels[name] = f"{labels[name]};{text}" if name in labels else text
    return labels


def resource_labels(resource: Resource) -> dict[str, str]:
    """``job``, ``instance`` and the promoted ECS labels every series of the resource carries."""
    attrs = resource.attributes
    service = label_value(attrs.get("service.name", resource.service_name))
    namespace = attrs.get("service.namespace")
    labels = {"job": f"{label_value(namespace)}/{service}" if namespace else service}
    instance = attrs.get("service.instance.id")
    if instance is not None:
        labels["instance"] = label_value(instance)
    for key, name in PROMOTED.items():
        value = attrs.get(key)
        if isinstance(value, str) and value:
            labels[name] = value.rsplit("/", 1)[-1] if name == "cluster" else value
    return labels


# -- delta to cumulative (§2.4 rules 1–7) ---------------------------------------------------------


@dataclass(slots=True)
class _Running:
    start_ns: int
    last_end_ns: int
    last_seen: float
    total: float = 0.0
    buckets: list[float] = field(default_factory=list)
    bounds: tuple[float, ...] = ()
    count: float = 0.0
    sum: float = 0.0


class DeltaAccumulator:
    """Running totals of delta series; owned by the one ingest thread (no locking)."""

    def __init__(self, evict_after: float = 600.0) -> None:
        self.evict_after = evict_after
        self.state: dict[tuple[object, ...], _Running] = {}
        self.dropped = 0

    def _get(self, key: tuple[object, ...], start: int, end: int, now: float) -> _Running | None:
        running = self.state.get(key)
        if running is not None and now - running.last_seen > self.evict_after:
            running = None
        if running is None or start > running.last_end_ns:
            # New series, evicted, or a gap: a new accumulation (a reset).
            running = self.state[key] = _Running(start, end, now)
            return running
        if start < running.last_end_ns:
            self.dropped += 1
            return None
        running.last_end_ns, running.last_seen = end, now
        return running

    def number(
        self, key: tuple[object, ...], start: int, end: int, value: float, now: float
    ) -> tuple[int, float] | None:
        running = self._get(key, start, end, now)
        if running is None:
            return None
        running.total += value
        return running.start_ns, running.total

    def histogram(
        self,
        key: tuple[object, ...],
        start: int,
        end: int,
        bounds: tuple[float, ...],
        counts: list[float],
        total: float,
        count: float,
        now: float,
    ) -> _Running | None:
        running = self._get(key, start, end, now)
        if running is None:
            return None
        if running.bounds != bounds or len(running.buckets) != len(counts):
            running.bounds, running.buckets, running.count, running.sum = bounds, [0.0] * len(counts), 0.0, 0.0
        running.buckets = [a + b for a, b in zip(running.buckets, counts, strict=True)]
        running.count += count
        running.sum += total
        return running

    def evict(self, now: float) -> None:
        for key in [k for k, r in self.state.items() if now - r.last_seen > self.evict_after]:
            del self.state[key]


# -- conversion ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Out:
    samples: list[Sample] = field(default_factory=list)
    exemplars: list[Exemplar] = field(default_factory=list)
    metadata: dict[str, MetricMetadata] = field(default_factory=dict)


def _labels(name: str, base: Mapping[str, str], extra: Mapping[str, str] | None = None) -> Labels:
    merged = dict(base)
    if extra:
        merged.update(extra)
    merged["__name__"] = name
    return tuple(sorted((k, v) for k, v in merged.items() if v != ""))


def convert(
    request: metrics_service_pb2.ExportMetricsServiceRequest,
    resources: Iterable[Resource],
    delta: DeltaAccumulator,
    now: float,
    oldest_ms: int,
) -> tuple[list[MetricBatch], int, int, dict[str, int]]:
    """Batches per resource, accepted points, rejected points, rejection reasons."""
    batches: list[MetricBatch] = []
    accepted = rejected = 0
    reasons: dict[str, int] = {}
    for resource_metrics, resource in zip(request.resource_metrics, resources, strict=True):
        out = _Out()
        base = resource_labels(resource)
        info = {label_name(k): label_value(v) for k, v in resource.attributes.items() if k not in IDENTIFYING}
        latest = 0
        for scope_metrics in resource_metrics.scope_metrics:
            scope = (scope_metrics.scope.name, scope_metrics.scope.version)
            for metric in scope_metrics.metrics:
                ok, bad, why = _metric(metric, base, resource.key, scope, delta, now, oldest_ms, out)
                accepted += ok
                rejected += bad
                if why:
                    reasons[why] = reasons.get(why, 0) + bad
        if out.samples:
            latest = max(s.ts_ms for s in out.samples)
            info_labels = {k: v for k, v in base.items() if k in ("job", "instance")} | info
            out.samples.append(Sample(_labels("target_info", info_labels), latest, 1.0))
            out.metadata["target_info"] = MetricMetadata("target_info", "gauge", "Target metadata", "")
        if out.samples or out.exemplars:
            batches.append(MetricBatch(resource, out.samples, list(out.metadata.values()), out.exemplars))
    return batches, accepted, rejected, reasons


def _metric(
    metric: metrics_pb2.Metric,
    base: Mapping[str, str],
    resource_key: bytes,
    scope: tuple[str, str],
    delta: DeltaAccumulator,
    now: float,
    oldest_ms: int,
    out: _Out,
) -> tuple[int, int, str]:
    kind = metric.WhichOneof("data")
    if kind is None:
        return 0, 1, "metric without data"
    data = getattr(metric, kind)
    points = list(data.data_points)
    ok = bad = 0
    why = ""
    for point in points:
        ts = point.time_unix_nano // 1_000_000
        if ts < oldest_ms:
            bad += 1
            why = "older than the metric retention"
            continue
        attrs = point_labels(attributes_from_pb(point.attributes))
        labels = {**base, **attrs}
        key = (resource_key, scope, metric.name, tuple(sorted(attrs.items())))
        stale = bool(point.flags & NO_RECORDED_VALUE)
        if kind == "gauge":
            name = metric_name(metric.name, metric.unit, gauge=True, counter=False)
            out.metadata[name] = MetricMetadata(name, "gauge", metric.description, metric.unit)
            out.samples.append(Sample(_labels(name, labels), ts, STALE_NAN if stale else _number(point)))
        elif kind == "sum":
            counter = data.is_monotonic
            name = metric_name(metric.name, metric.unit, gauge=not counter, counter=counter)
            out.metadata[name] = MetricMetadata(
                name, "counter" if counter else "gauge", metric.description, metric.unit
            )
            value = _number(point)
            if data.aggregation_temporality == DELTA and not stale:
                result = delta.number(key, point.start_time_unix_nano, point.time_unix_nano, value, now)
                if result is None:
                    bad += 1
                    why = "delta point overlaps the previous one"
                    continue
                value = result[1]
            out.samples.append(Sample(_labels(name, labels), ts, STALE_NAN if stale else value))
        elif kind in ("histogram", "exponential_histogram"):
            if not _histogram(metric, kind, data, point, labels, key, ts, stale, delta, now, out):
                bad += 1
                why = "delta point overlaps the previous one"
                continue
        elif kind == "summary":
            name = metric_name(metric.name, metric.unit, gauge=False, counter=False)
            out.metadata[name] = MetricMetadata(name, "summary", metric.description, metric.unit)
            for q in point.quantile_values:
                value = STALE_NAN if stale else q.value
                out.samples.append(Sample(_labels(name, labels, {"quantile": format_float(q.quantile)}), ts, value))
            out.samples.append(Sample(_labels(name + "_sum", labels), ts, STALE_NAN if stale else point.sum))
            out.samples.append(Sample(_labels(name + "_count", labels), ts, STALE_NAN if stale else float(point.count)))
        ok += 1
        _exemplars(point, out, metric, kind, labels, ts)
    return ok, bad, why


def _number(point: metrics_pb2.NumberDataPoint) -> float:
    return float(point.as_int) if point.WhichOneof("value") == "as_int" else point.as_double


def _histogram(
    metric: metrics_pb2.Metric,
    kind: str,
    data: metrics_pb2.Histogram | metrics_pb2.ExponentialHistogram,
    point: metrics_pb2.HistogramDataPoint | metrics_pb2.ExponentialHistogramDataPoint,
    labels: Mapping[str, str],
    key: tuple[object, ...],
    ts: int,
    stale: bool,
    delta: DeltaAccumulator,
    now: float,
    out: _Out,
) -> bool:
    name = metric_name(metric.name, metric.unit, gauge=False, counter=False)
    out.metadata[name] = MetricMetadata(name, "histogram", metric.description, metric.unit)
    if kind == "histogram":
        assert isinstance(point, metrics_pb2.HistogramDataPoint)
        bounds = tuple(point.explicit_bounds)
        counts = [float(c) for c in point.bucket_counts]
    else:
        assert isinstance(point, metrics_pb2.ExponentialHistogramDataPoint)
        bounds, counts = _exponential_buckets(point)
    total, count = point.sum, float(point.count)
    if data.aggregation_temporality == DELTA and not stale:
        running = delta.histogram(
            key, point.start_time_unix_nano, point.time_unix_nano, bounds, counts, total, count, now
        )
        if running is None:
            return False
        counts, total, count = list(running.buckets), running.sum, running.count
    cumulative = 0.0
    for i, bound in enumerate((*bounds, math.inf)):
        cumulative += counts[i] if i < len(counts) else 0.0
        value = STALE_NAN if stale else (count if math.isinf(bound) else cumulative)
        out.samples.append(Sample(_labels(name + "_bucket", labels, {"le": format_float(bound)}), ts, value))
    out.samples.append(Sample(_labels(name + "_sum", labels), ts, STALE_NAN if stale else total))
    out.samples.append(Sample(_labels(name + "_count", labels), ts, STALE_NAN if stale else count))
    return True


def _exponential_buckets(point: metrics_pb2.ExponentialHistogramDataPoint) -> tuple[tuple[float, ...], list[float]]:
    """A classic view: everything at or below the zero threshold first, then positive upper bounds."""
    base = 2.0 ** (2.0**-point.scale)
    below = float(point.zero_count) + float(sum(point.negative.bucket_counts))
    bounds = [point.zero_threshold]
    counts = [below]
    for i, c in enumerate(point.positive.bucket_counts):
        bounds.append(base ** (point.positive.offset + i + 1))
        counts.append(float(c))
    counts.append(0.0)
    return tuple(bounds), counts


def _exemplars(
    point: object, out: _Out, metric: metrics_pb2.Metric, kind: str, labels: Mapping[str, str], ts: int
) -> None:
    exemplars = getattr(point, "exemplars", ())
    if not exemplars:
        return
    counter = kind == "sum" and metric.sum.is_monotonic
    name = metric_name(
        metric.name, metric.unit, gauge=kind == "gauge" or (kind == "sum" and not counter), counter=counter
    )
    for ex in exemplars:
        value = float(ex.as_int) if ex.WhichOneof("value") == "as_int" else ex.as_double
        series_name, extra = name, None
        if kind == "histogram":
            bounds = list(metric.histogram.data_points[0].explicit_bounds) if metric.histogram.data_points else []
            le = next((b for b in bounds if value <= b), math.inf)
            series_name, extra = name + "_bucket", {"le": format_float(le)}
        attrs = tuple(sorted(point_labels(attributes_from_pb(ex.filtered_attributes)).items()))
        out.exemplars.append(
            Exemplar(
                _labels(series_name, labels, extra),
                ex.time_unix_nano // 1_000_000 or ts,
                value,
                ex.trace_id,
                ex.span_id,
                attrs,
            )
        )
