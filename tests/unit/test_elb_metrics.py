"""The local ALB's AWS/ApplicationELB metrics: counts kept by the proxy (by class, by who answered),
response-time bins, the per-target division, and what the publisher writes, read back through
CloudWatch's own GetMetricData, GetMetricStatistics and ListMetrics on the fake clock."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx

from ecslite.clock import FakeClock
from ecslite.elb.balancer import Balancer, Endpoint
from ecslite.elb.http1 import TargetPool
from ecslite.elb.metrics import AlbMeter
from ecslite.elb.proxy import ListenerConfig, ListenerProxy
from ecslite.elb.publish import AlbMetricsPublisher, per_target, resource_of
from ecslite.providers.base import RequestContext
from ecslite.providers.cloudwatch.provider import CloudWatchProvider
from ecslite.store import elbv2 as elb_store
from ecslite.store.db import Database
from ecslite.telemetry.model import MetricBatch

ACCOUNT, REGION = "000000000000", "us-east-1"
LB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/shop/50dc6c495c0c9188"
TG = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web/73e2d6bc24d8a067"
LB_DIM = [{"Name": "LoadBalancer", "Value": "app/shop/50dc6c495c0c9188"}]
TG_DIMS = [*LB_DIM, {"Name": "TargetGroup", "Value": "targetgroup/web/73e2d6bc24d8a067"}]
START = 1_750_000_000.0
CTX = RequestContext(ACCOUNT, REGION, "t", "monitoring", "GetMetricData")


class FakeTelemetry:
    def __init__(self) -> None:
        self.batches: list[MetricBatch] = []

    def write_metrics(self, batch: MetricBatch) -> None:
        self.batches.append(batch)


class Harness:
    """A store with the load balancer and its target group (``states``: its targets' health)."""

    def __init__(self, states: tuple[str, ...] = ("healthy", "healthy", "unhealthy")) -> None:
        self.db = Database(None)
        self.clock = FakeClock(START)
        self.meter = AlbMeter()
        self.telemetry = FakeTelemetry()
        self.publisher = AlbMetricsPublisher(self.db, self.clock, self.meter, 10.0, self.telemetry)  # type: ignore[arg-type]
        self.cloudwatch = CloudWatchProvider(self.db, self.clock, None)
        with self.db.transaction():
            elb_store.insert_load_balancer(
                self.db, ACCOUNT, REGION, {"LoadBalancerName": "shop", "LoadBalancerArn": LB}
            )
            elb_store.insert_target_group(
                self.db, ACCOUNT, REGION, {"TargetGroupName": "web", "TargetGroupArn": TG}, {}
            )
            elb_store.set_links(self.db, LB.replace("loadbalancer", "listener") + "/1", LB, [TG])
            for i, state in enumerate(states):
                row = elb_store.TargetRow(TG, f"10.0.0.{i + 1}", 80, "us-east-1a", state, None, None, START, None, None)
                elb_store.put_target(self.db, ACCOUNT, REGION, row)

    def stat(self, name: str, dims: list[dict[str, str]], stat: str) -> list[float]:
        query = {
            "Id": "m",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": name, "Dimensions": dims},
                "Period": 60,
                "Stat": stat,
            },
        }
        params = {"MetricDataQueries": [query], "StartTime": START - 60, "EndTime": self.clock.now() + 60}
        answer = asyncio.run(self.cloudwatch.get_metric_data(CTX, params))
        return [float(v) for v in answer["MetricDataResults"][0]["Values"]]


def test_counts_by_class_and_by_who_answered_then_start_again() -> None:
    meter = AlbMeter()
    counts = meter.balancer(LB)
    assert meter.balancer(LB) is counts  # a proxy keeps the same object across takes
    counts.connection_opened()
    counts.connection_opened()
    for status in (200, 204, 301, 404, 500, 503):
        counts.target_response(TG, status, 0.01)
    counts.elb_response(502, TG)
    counts.elb_response(504, TG)
    counts.elb_response(503)  # no target to choose: not the group's
    counts.elb_response(400)
    counts.rule_response(redirect=True)
    counts.rule_response(redirect=False)
    counts.connection_closed()
    taken = meter.take()[LB]
    assert taken.requests == 12
    assert taken.target_codes[2:] == [2, 1, 1, 2]
    assert taken.elb_codes[3:] == [1, 1, 3]
    assert (taken.elb_502, taken.elb_503, taken.elb_504) == (1, 1, 1)
    assert (taken.redirects, taken.fixed_responses) == (1, 1)
    assert (taken.new_connections, taken.active, taken.open) == (2, 2, 1)
    assert taken.groups[TG].requests == 8  # six answered by targets, a 502 and a 504 after choosing one
    assert taken.groups[TG].target_codes[2:] == [2, 1, 1, 2]

    # The next interval starts from zero, but the connection still open is active in it.
    again = meter.take()[LB]
    assert (again.requests, again.new_connections, again.active, again.open) == (0, 0, 1, 1)
    assert again.groups == {} and again.times == {}
    counts.connection_closed()
    meter.take()
    assert meter.take() == {}  # nothing open, nothing counted: an idle load balancer reports nothing


def test_request_count_per_target_divides_by_healthy_targets_or_all_of_them() -> None:
    assert per_target(30, 2, 3) == 15.0
    assert per_target(30, 0, 4) == 7.5  # none healthy: ALB divides by every registered target
    assert per_target(30, 0, 0) is None


def test_resource_of_gives_the_dimension_values() -> None:
    assert resource_of(LB) == (ACCOUNT, REGION, "app/shop/50dc6c495c0c9188")
    assert resource_of(TG) == (ACCOUNT, REGION, "targetgroup/web/73e2d6bc24d8a067")
    assert resource_of("arn:aws:ecs:us-east-1:000000000000:cluster/x") is None


def test_published_metrics_read_back_through_cloudwatch() -> None:
    h = Harness()
    counts = h.meter.balancer(LB)
    counts.connection_opened()
    for i in range(40):
        counts.target_response(TG, 500 if i % 4 == 0 else 200, 0.05)
    counts.processed_bytes += 1234
    counts.connection_closed()
    h.clock.advance(10)
    assert h.publisher.publish() > 0

    assert h.stat("RequestCount", LB_DIM, "Sum") == [40.0]
    assert h.stat("RequestCount", TG_DIMS, "Sum") == [40.0]
    assert h.stat("HTTPCode_Target_5XX_Count", LB_DIM, "Sum") == [10.0]
    assert h.stat("HTTPCode_Target_2XX_Count", TG_DIMS, "Sum") == [30.0]
    assert h.stat("HTTPCode_Target_4XX_Count", LB_DIM, "Sum") == []  # zero: not reported
    assert h.stat("ProcessedBytes", LB_DIM, "Sum") == [1234.0]
    assert h.stat("NewConnectionCount", LB_DIM, "Sum") == [1.0]
    assert h.stat("HealthyHostCount", TG_DIMS, "Average") == [2.0]
    assert h.stat("UnHealthyHostCount", TG_DIMS, "Average") == [1.0]
    zone = [{"Name": "AvailabilityZone", "Value": "us-east-1a"}, *TG_DIMS]
    assert h.stat("HealthyHostCount", zone, "Maximum") == [2.0]
    # 40 requests over the 2 healthy targets (the unhealthy one does not count).
    assert h.stat("RequestCountPerTarget", TG_DIMS, "Sum") == [20.0]
    assert h.stat("RequestCountPerTarget", TG_DIMS[1:], "Sum") == [20.0]

    listed = asyncio.run(h.cloudwatch.list_metrics(CTX, {"Namespace": "AWS/ApplicationELB"}))["Metrics"]
    names = {m["MetricName"] for m in listed}
    assert {"RequestCount", "TargetResponseTime", "HealthyHostCount", "RequestCountPerTarget"} <= names
    samples = {(dict(s.labels)["metric_name"], len(s.labels)): s.value for b in h.telemetry.batches for s in b.samples}
    assert samples[("RequestCount", 5)] == 40.0  # __name__, job, namespace, metric_name, LoadBalancer
    assert abs(samples[("TargetResponseTime", 5)] - 0.05) < 1e-9  # the average, not the sum


def test_response_time_statistics_average_exact_percentiles_within_a_bin() -> None:
    h = Harness()
    counts = h.meter.balancer(LB)
    rng = random.Random(7)
    values = [rng.uniform(0.001, 0.2) for _ in range(990)] + [rng.uniform(1.0, 2.0) for _ in range(10)]
    for value in values:
        counts.target_response(TG, 200, value)
    h.clock.advance(10)
    h.publisher.publish()
    ordered = sorted(values)
    assert abs(h.stat("TargetResponseTime", LB_DIM, "Average")[0] - sum(values) / len(values)) < 1e-9
    assert h.stat("TargetResponseTime", TG_DIMS, "Minimum") == [ordered[0]]
    assert h.stat("TargetResponseTime", TG_DIMS, "Maximum") == [ordered[-1]]
    assert h.stat("TargetResponseTime", LB_DIM, "SampleCount") == [1000.0]
    for percentile, index in (("p50", 499), ("p90", 899), ("p99", 989)):
        found = h.stat("TargetResponseTime", LB_DIM, percentile)[0]
        assert abs(found - ordered[index]) <= 0.05 * ordered[index], (percentile, found, ordered[index])
    # p99.5 lies among the slow tail.
    assert h.stat("TargetResponseTime", LB_DIM, "p99.5")[0] >= 1.0


def test_host_counts_once_a_minute_without_traffic() -> None:
    h = Harness(("healthy", "draining"))
    for _ in range(12):  # two minutes of passes 10 s apart
        h.clock.advance(10)
        h.publisher.publish()
    # Passes at +10 s … +120 s: written at the first and 60 s later, not at each of the twelve.
    assert sum(h.stat("HealthyHostCount", TG_DIMS, "SampleCount")) == 2.0
    assert max(h.stat("HealthyHostCount", TG_DIMS, "Maximum")) == 1.0  # the draining target is not healthy
    assert h.stat("RequestCount", LB_DIM, "Sum") == []


async def _through_proxy(meter: AlbMeter, statuses: list[int]) -> None:
    answers = iter(statuses)

    async def target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                status = next(answers)
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    class Routing:
        def __init__(self, endpoint: Endpoint) -> None:
            self.endpoint = endpoint

        def routing_targets(self, group: str) -> list[Endpoint]:
            return [self.endpoint]

        def algorithm(self, group: str) -> str:
            return "round_robin"

    upstream = await asyncio.start_server(target, "127.0.0.1", 0)
    rules: tuple[dict[str, Any], ...] = (
        {"Priority": "1", "Conditions": [{"Field": "path-pattern", "Values": ["/old"]}],
         "Actions": [{"Type": "redirect", "RedirectConfig": {"Path": "/new", "StatusCode": "HTTP_301"}}]},
        {"Priority": "default", "IsDefault": True, "Conditions": [],
         "Actions": [{"Type": "forward", "TargetGroupArn": TG}]},
    )  # fmt: skip
    pool = TargetPool()
    proxy = ListenerProxy(
        ListenerConfig("arn:listener", LB, 80, rules),
        Routing(("127.0.0.1", int(upstream.sockets[0].getsockname()[1]))),
        Balancer(),
        pool,
        meter=meter,
    )
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with httpx.AsyncClient(trust_env=False) as user:
        for _ in statuses:
            await user.get(f"{url}/")
        assert (await user.get(f"{url}/old")).status_code == 301
    await pool.close()
    for each in (server, upstream):
        each.close()
    await asyncio.sleep(0.05)  # the connection handlers see their peers gone


def test_the_proxy_counts_what_it_serves() -> None:
    meter = AlbMeter()
    asyncio.run(_through_proxy(meter, [200, 500, 200, 404, 500]))
    taken = meter.take()[LB]
    assert taken.requests == 6
    assert taken.target_codes[2:] == [2, 0, 1, 2]
    assert taken.redirects == 1 and taken.elb_codes[3] == 1
    assert taken.groups[TG].requests == 5
    assert sum(b[0] for b in taken.times.values()) == 5
    assert taken.new_connections == 1 and taken.open == 0
    assert taken.processed_bytes > 5 * 40  # requests in, responses out
