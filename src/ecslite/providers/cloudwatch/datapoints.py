"""Where CloudWatch's numbers come from, per metric and period.

- ``AWS/ECS`` and ``ECS/ContainerInsights`` are the runtime's real cgroup measurements
  (telemetry.runtime_metrics, spec/ecs.md §6.4, §12.2), read through ``cloudwatch_datapoints`` on a
  thread (the telemetry store blocks). They are not partitioned by account: a cluster name is the
  metric's identity, as the samples carry no account.
- Every other namespace is what ``store.cloudwatch`` holds, partitioned by account and region:
  what PutMetricData stored, and what ecslite writes there itself under AWS namespaces
  (``AWS/ApplicationELB`` from the local ALB, elb.publish; ``AWS/Scheduler`` from
  control.target_invocations).

Periods are aligned to multiples of the period since the epoch, as CloudWatch aligns them; a
period without data has no bucket. Percentiles (``p90``, ``p99.9``) are computed for user metrics
from the stored values, each datum's mean weighted by its sample count; runtime metrics have the
five basic statistics only.
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ecslite.store import cloudwatch as cw_store
from ecslite.store.db import Database
from ecslite.telemetry.runtime_metrics import AWS_ECS, CONTAINER_INSIGHTS, STATISTICS, UNITS, cloudwatch_datapoints
from ecslite.telemetry.store import Matcher, TelemetryStore

RUNTIME_NAMESPACES = (AWS_ECS, CONTAINER_INSIGHTS)
BASIC_STATISTICS = STATISTICS
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?|100)")


@dataclass(frozen=True, slots=True)
class MetricId:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]  # sorted by name: a metric is its exact dimension set

    @classmethod
    def of(cls, namespace: str, name: str, dimensions: Any) -> MetricId:
        pairs = tuple(sorted((str(d["Name"]), str(d["Value"])) for d in dimensions or ()))
        return cls(namespace, name, pairs)

    def to_api(self) -> dict[str, Any]:
        return {
            "Namespace": self.namespace,
            "MetricName": self.name,
            "Dimensions": [{"Name": n, "Value": v} for n, v in self.dimensions],
        }


def is_percentile(statistic: str) -> bool:
    match = _PERCENTILE.fullmatch(statistic)
    return match is not None and 0 <= float(match.group(1)) <= 100


def valid_statistic(statistic: str) -> bool:
    return statistic in BASIC_STATISTICS or is_percentile(statistic)


@dataclass(slots=True)
class Bucket:
    start: float
    count: float
    sum: float
    minimum: float
    maximum: float
    unit: str
    values: list[tuple[float, float]] = field(default_factory=list)  # (value, weight)

    def statistic(self, name: str) -> float | None:
        if name == "Average":
            return self.sum / self.count if self.count else None
        if name == "Sum":
            return self.sum
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        if name == "SampleCount":
            return self.count
        if is_percentile(name) and self.values:
            return _percentile(self.values, float(name[1:]))
        return None


def _percentile(values: list[tuple[float, float]], percent: float) -> float:
    ordered = sorted(values)
    total = sum(weight for _, weight in ordered)
    wanted = total * percent / 100.0
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= wanted - 1e-12:
            return value
    return ordered[-1][0]


def expected_periods(start: float, end: float, period: int) -> int:
    return max(0, math.ceil((end - start) / period))


class MetricReader:
    """Buckets of one metric over ``[start, end)``; user metrics from the store, runtime ones from telemetry."""

    def __init__(self, db: Database, telemetry: TelemetryStore | None) -> None:
        self.db = db
        self.telemetry = telemetry

    async def buckets(
        self,
        account: str,
        region: str,
        metric: MetricId,
        start: float,
        end: float,
        period: int,
        unit: str | None = None,
    ) -> list[Bucket]:
        period = max(1, int(period))
        if metric.namespace in RUNTIME_NAMESPACES:
            return await self._runtime(metric, start, end, period, unit)
        rows = cw_store.read(self.db, account, region, metric.namespace, metric.name, metric.dimensions, start, end)
        found: dict[float, Bucket] = {}
        for row in rows:
            if unit is not None and row.unit != unit:
                continue
            slot = math.floor(row.ts / period) * period
            bucket = found.get(slot)
            if bucket is None:
                bucket = found[slot] = Bucket(slot, 0.0, 0.0, math.inf, -math.inf, row.unit)
            bucket.count += row.count
            bucket.sum += row.sum
            bucket.minimum = min(bucket.minimum, row.minimum)
            bucket.maximum = max(bucket.maximum, row.maximum)
            if row.count:
                bucket.values.append((row.sum / row.count, row.count))
        return [found[slot] for slot in sorted(found)]

    async def _runtime(self, metric: MetricId, start: float, end: float, period: int, unit: str | None) -> list[Bucket]:
        store = self.telemetry
        if store is None or (unit is not None and UNITS.get(metric.name, "None") != unit):
            return []
        points = await asyncio.to_thread(
            cloudwatch_datapoints,
            store,
            metric.namespace,
            metric.name,
            dict(metric.dimensions),
            start,
            end,
            period,
            STATISTICS,
        )
        return [
            Bucket(
                float(p["Timestamp"]),
                float(p["SampleCount"]),
                float(p["Sum"]),
                float(p["Minimum"]),
                float(p["Maximum"]),
                str(p["Unit"]),
            )
            for p in points
        ]

    async def runtime_metrics(self, since: float, until: float) -> list[MetricId]:
        """The runtime namespaces' metrics that have samples in ``[since, until)``."""
        store = self.telemetry
        if store is None:
            return []
        from ecslite.telemetry.runtime_metrics import CLOUDWATCH_SERIES, DIMENSIONS

        matchers = [Matcher("__name__", "=", CLOUDWATCH_SERIES)]
        found = await asyncio.to_thread(store.select_series, matchers, int(since * 1000), int(until * 1000))
        out = set()
        for labels in found:
            values = dict(labels)
            if values.get("namespace") not in RUNTIME_NAMESPACES:
                # Other AWS namespaces' samples (AWS/Scheduler, AWS/Events) mirror datapoints kept in
                # CloudWatch's store, which lists them itself.
                continue
            dims = tuple(sorted((k, v) for k, v in values.items() if k in DIMENSIONS))
            out.add(MetricId(values.get("namespace", ""), values.get("metric_name", ""), dims))
        return sorted(out, key=lambda m: (m.namespace, m.name, m.dimensions))
