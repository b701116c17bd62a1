"""``AWS/ApplicationELB`` metrics of the local ALB, written to CloudWatch's store every few seconds.

Every ``interval`` of the clock :class:`AlbMetricsPublisher` takes the proxies' counts
(:mod:`ecslite.elb.metrics`) and writes them as datapoints into ``store.cloudwatch`` (the load
balancer's account and region), one transaction a pass, so GetMetricData, GetMetricStatistics,
ListMetrics and alarms read them as any other metric; each metric is also a sample of the
``ecslite_cloudwatch_sample`` series for the Prometheus API (its Sum, or its Average for
``TargetResponseTime`` and the host counts), as ``AWS/Scheduler``'s are.

Dimensions are ALB's: ``LoadBalancer`` (``app/<name>/<id>``), ``LoadBalancer`` + ``TargetGroup``
(``targetgroup/<name>/<id>``), ``TargetGroup`` alone for ``RequestCountPerTarget``, and
``AvailabilityZone`` + both for the host counts (a target's zone, where it has one). Counts are
written only when not zero (ALB reports nothing for an idle load balancer):

- per load balancer: ``RequestCount``, ``HTTPCode_Target_{2,3,4,5}XX_Count``,
  ``HTTPCode_ELB_{3,4,5}XX_Count``, ``HTTPCode_ELB_{500,502,503,504}_Count``,
  ``HTTP_Fixed_Response_Count``, ``HTTP_Redirect_Count``, ``NewConnectionCount``,
  ``ActiveConnectionCount`` (connections open at some time in the interval), ``ProcessedBytes``
  (bytes from and to clients), ``TargetResponseTime`` (seconds);
- per target group and load balancer: ``RequestCount`` (requests for which a target was chosen),
  ``HTTPCode_Target_*``, ``TargetResponseTime``, ``RequestCountPerTarget`` (the group's requests
  divided by its healthy targets, or by all its targets when none is healthy; ``Sum`` per minute
  is what target tracking reads);
- ``HealthyHostCount`` and ``UnHealthyHostCount`` of every group a load balancer uses, each pass,
  from the target health ecslite tracks (``store.elbv2``), once a minute (``--metrics-period``) and
  with each pass that counted a request for the group.

Datapoints are stamped at the end of the interval they count. Health check requests are not counted:
they do not go through the proxy.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

from ecslite.clock import Clock
from ecslite.elb.metrics import AlbMeter, BalancerCounts, Bin
from ecslite.periodic import Periodic
from ecslite.store import cloudwatch as cw_store
from ecslite.store import elbv2 as elb_store
from ecslite.store.db import Database
from ecslite.telemetry.model import MetricBatch, MetricMetadata, Resource, Sample
from ecslite.telemetry.runtime_metrics import CLOUDWATCH_SERIES
from ecslite.telemetry.store import TelemetryStore

log = logging.getLogger(__name__)

NAMESPACE = "AWS/ApplicationELB"
_RESOURCE = Resource({"service.name": "ecslite", "service.instance.id": "local-alb"})
_METADATA = (MetricMetadata(CLOUDWATCH_SERIES, "gauge", "CloudWatch metric samples"),)
_AVERAGED = frozenset({"TargetResponseTime", "HealthyHostCount", "UnHealthyHostCount"})

Dims = cw_store.Dimensions
Partition = tuple[str, str]  # account, region


def resource_of(arn: str) -> tuple[str, str, str] | None:
    """(account, region, dimension value) of a load balancer or target group ARN: the value is what
    follows ``loadbalancer/`` (``app/<name>/<id>``), or ``targetgroup/<name>/<id>``."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "elasticloadbalancing":
        return None
    resource = parts[5]
    if resource.startswith("loadbalancer/"):
        resource = resource.removeprefix("loadbalancer/")
    elif not resource.startswith("targetgroup/"):
        return None
    return parts[4], parts[3], resource


def _count(name: str, dims: Dims, value: float, ts: float, unit: str = "Count") -> cw_store.Datum:
    return cw_store.Datum(name, dims, ts, unit, 1.0, value, value, value)


def _times(dims: Dims, bins: dict[int, Bin], ts: float) -> list[cw_store.Datum]:
    # One datum per bin: its count and sum keep Average exact, its mean serves percentiles.
    return [
        cw_store.Datum("TargetResponseTime", dims, ts, "Seconds", b[0], b[1], b[2], b[3])
        for _, b in sorted(bins.items())
    ]


def balancer_data(lb: str, counts: BalancerCounts, ts: float) -> list[cw_store.Datum]:
    """The load balancer's own datapoints and its groups' request metrics (not RequestCountPerTarget)."""
    dims: Dims = (("LoadBalancer", lb),)
    values: list[tuple[str, int, str]] = [
        ("RequestCount", counts.requests, "Count"),
        *[(f"HTTPCode_Target_{n}XX_Count", counts.target_codes[n], "Count") for n in (2, 3, 4, 5)],
        *[(f"HTTPCode_ELB_{n}XX_Count", counts.elb_codes[n], "Count") for n in (3, 4, 5)],
        ("HTTPCode_ELB_500_Count", counts.elb_500, "Count"),
        ("HTTPCode_ELB_502_Count", counts.elb_502, "Count"),
        ("HTTPCode_ELB_503_Count", counts.elb_503, "Count"),
        ("HTTPCode_ELB_504_Count", counts.elb_504, "Count"),
        ("HTTP_Fixed_Response_Count", counts.fixed_responses, "Count"),
        ("HTTP_Redirect_Count", counts.redirects, "Count"),
        ("NewConnectionCount", counts.new_connections, "Count"),
        ("ActiveConnectionCount", counts.active, "Count"),
        ("ProcessedBytes", counts.processed_bytes, "Bytes"),
    ]
    data = [_count(name, dims, float(value), ts, unit) for name, value, unit in values if value > 0]
    data += _times(dims, counts.times, ts)
    for group_arn, group in counts.groups.items():
        found = resource_of(group_arn)
        if found is None:
            continue
        group_dims: Dims = (("LoadBalancer", lb), ("TargetGroup", found[2]))
        if group.requests:
            data.append(_count("RequestCount", group_dims, float(group.requests), ts))
        for n in (2, 3, 4, 5):
            if group.target_codes[n]:
                data.append(_count(f"HTTPCode_Target_{n}XX_Count", group_dims, float(group.target_codes[n]), ts))
        data += _times(group_dims, group.times, ts)
    return data


def per_target(requests: int, healthy: int, registered: int) -> float | None:
    """RequestCountPerTarget: requests over the healthy targets, or over all of them when none is healthy."""
    targets = healthy or registered
    return requests / targets if targets else None


class AlbMetricsPublisher(Periodic):
    """Takes the local ALB's counts every ``interval`` seconds and writes them as CloudWatch metrics."""

    name = "alb-metrics"
    failure = "publishing AWS/ApplicationELB metrics failed"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        meter: AlbMeter,
        interval: float,
        telemetry: TelemetryStore | None = None,
        minute: float = 60.0,
    ) -> None:
        super().__init__(clock, interval)
        self.db = db
        self.meter = meter
        self.telemetry = telemetry
        self.minute = minute  # how long a CloudWatch minute lasts here (--metrics-period)
        self._hosts_at: float | None = None

    async def stop(self) -> None:
        await super().stop()
        try:
            self.publish()  # what was counted since the last pass is not lost at shutdown
        except Exception:
            log.exception(self.failure)

    async def reset(self) -> None:
        # The store is emptied: counts of the load balancers it held go with it.
        self.meter.take()
        self._hosts_at = None

    async def run_pass(self) -> None:
        self.publish()

    def publish(self) -> int:
        """One pass: every metric of the interval into the store; returns how many datapoints."""
        now = self.clock.now()
        taken = self.meter.take()
        out: dict[Partition, list[cw_store.Datum]] = defaultdict(list)
        group_requests: dict[str, dict[str, int]] = defaultdict(dict)  # group → {lb value: requests}
        for lb_arn, counts in taken.items():
            found = resource_of(lb_arn)
            if found is None:
                continue
            account, region, lb = found
            out[(account, region)] += balancer_data(lb, counts, now)
            for group_arn, group in counts.groups.items():
                group_requests[group_arn][lb] = group.requests
        # Host counts once a minute (ALB's period) and with every group's traffic, not each pass:
        # an idle load balancer must not fill the store with a row every few seconds.
        hosts = self._hosts_at is None or now - self._hosts_at >= self.minute
        if hosts:
            self._hosts_at = now
        if hosts or group_requests:
            for doc in elb_store.all_target_groups(self.db):
                arn = doc["TargetGroupArn"]
                if hosts or arn in group_requests:
                    self._group_data(arn, doc["LoadBalancerArns"], group_requests, now, out)
        for lb_arn in set(taken) - {b["LoadBalancerArn"] for b in elb_store.all_load_balancers(self.db)}:
            self.meter.forget(lb_arn)
        written = 0
        for (account, region), data in out.items():
            if not data:
                continue
            with self.db.transaction():
                cw_store.put_data(self.db, account, region, NAMESPACE, data, now)
            self._samples(data, now)
            written += len(data)
        return written

    def _group_data(
        self,
        group_arn: str,
        lb_arns: Iterable[str],
        group_requests: dict[str, dict[str, int]],
        now: float,
        out: dict[Partition, list[cw_store.Datum]],
    ) -> None:
        found = resource_of(group_arn)
        lbs = [v for v in (resource_of(arn) for arn in lb_arns) if v is not None]
        if found is None or not (lbs or group_arn in group_requests):
            return
        account, region, tg = found
        targets = elb_store.targets_of(self.db, group_arn)
        healthy = sum(1 for t in targets if t.state == "healthy")
        unhealthy = sum(1 for t in targets if t.state == "unhealthy")
        by_zone: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for t in targets:
            if t.zone and t.state in ("healthy", "unhealthy"):
                by_zone[t.zone][0 if t.state == "healthy" else 1] += 1
        data = out[(account, region)]
        for _, _, lb in lbs:
            dims: Dims = (("LoadBalancer", lb), ("TargetGroup", tg))
            data.append(_count("HealthyHostCount", dims, float(healthy), now))
            data.append(_count("UnHealthyHostCount", dims, float(unhealthy), now))
            for zone, (up, down) in sorted(by_zone.items()):
                zone_dims: Dims = (("AvailabilityZone", zone), *dims)
                data.append(_count("HealthyHostCount", zone_dims, float(up), now))
                data.append(_count("UnHealthyHostCount", zone_dims, float(down), now))
        requests = group_requests.get(group_arn) or {}
        registered = sum(1 for t in targets if t.state != "draining")
        for lb, count in requests.items():
            value = per_target(count, healthy, registered)
            if count and value is not None:
                data.append(_count("RequestCountPerTarget", (("LoadBalancer", lb), ("TargetGroup", tg)), value, now))
        total = per_target(sum(requests.values()), healthy, registered)
        if requests and total:
            data.append(_count("RequestCountPerTarget", (("TargetGroup", tg),), total, now))

    def _samples(self, data: list[cw_store.Datum], now: float) -> None:
        if self.telemetry is None:
            return
        merged: dict[tuple[str, Dims], list[float]] = {}
        for datum in data:
            key = (datum.name, datum.dimensions)
            found = merged.setdefault(key, [0.0, 0.0])
            found[0] += datum.count
            found[1] += datum.sum
        ts_ms = int(now * 1000)
        samples = []
        for (name, dims), (count, total) in merged.items():
            value = total / count if name in _AVERAGED and count else total
            labels = {"__name__": CLOUDWATCH_SERIES, "job": "ecslite", "namespace": NAMESPACE, "metric_name": name}
            samples.append(Sample(tuple(sorted({**labels, **dict(dims)}.items())), ts_ms, value))
        self.telemetry.write_metrics(MetricBatch(_RESOURCE, samples, _METADATA))
