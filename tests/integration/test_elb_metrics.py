"""The local ALB's AWS/ApplicationELB metrics through boto3 (fake runtime): real requests through a
listener to a server on 127.0.0.1, read back with GetMetricData; an alarm on the targets' 5XX count;
a target tracking policy on ALBRequestCountPerTarget scaling an ECS service on that traffic. The
server runs with ``--metrics-period 2`` (one CloudWatch minute = 2 s), so the metrics are written
every third of a second and alarms look every 2 s."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer, make_client, start_server, stop_server
from tests.fixtures.http_backend import LocalHttpServer, QuietHandler
from tests.fixtures.ports import free_port
from tests.integration.test_elbv2_api import forward, make_lb
from tests.integration.test_elbv2_health import instance_group

NAMESPACE = "AWS/ApplicationELB"


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("alb-metrics"), "--metrics-period", "2")
    yield running
    stop_server(running)


@pytest.fixture
def clients(fast_server: RunningServer) -> dict[str, Any]:
    fast_server.reset()
    names = ("elbv2", "ec2", "cloudwatch", "ecs", "application-autoscaling")
    return {name: make_client(name, fast_server.endpoint) for name in names}


@pytest.fixture
def backend() -> Iterator[LocalHttpServer]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.send_response(500 if self.path.startswith("/fail") else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    running = LocalHttpServer(Handler)
    yield running
    running.close()


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)
    return value


def alb_with_backend(clients: dict[str, Any], endpoint: str, backend: LocalHttpServer) -> tuple[str, str, str, str]:
    """A load balancer forwarding to an instance group whose target is ``backend`` on 127.0.0.1;
    returns the listener's URL and the LoadBalancer, TargetGroup dimension values and the group ARN."""
    elbv2, ec2 = clients["elbv2"], clients["ec2"]
    group = instance_group(elbv2, ec2, backend.port)
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "i-0123456789abcdef0"}])
    lb = make_lb(elbv2, ec2)["LoadBalancerArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=free_port(), DefaultActions=forward(group)
    )["Listeners"][0]["ListenerArn"]
    served = wait_for(lambda: httpx.get(f"{endpoint}/_ecslite/elb/listeners").json().get(listener))
    url = f"http://{served['endpoint']}"
    wait_for(lambda: ok(url))
    return url, lb.split(":loadbalancer/", 1)[1], group.split(":", 5)[5], group


def ok(url: str) -> bool:
    try:
        return httpx.get(f"{url}/", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def values(cw: Any, name: str, dims: dict[str, str], stat: str) -> list[float]:
    query = {
        "Id": "m",
        "MetricStat": {
            "Metric": {
                "Namespace": NAMESPACE,
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            },
            "Period": 3600,
            "Stat": stat,
        },
    }
    now = time.time()
    answer = cw.get_metric_data(MetricDataQueries=[query], StartTime=now - 3600, EndTime=now + 60)
    return [float(v) for v in answer["MetricDataResults"][0]["Values"]]


def total(cw: Any, name: str, dims: dict[str, str], stat: str = "Sum") -> float:
    return sum(values(cw, name, dims, stat))


def test_requests_through_the_alb_show_in_get_metric_data_and_fire_an_alarm(
    clients: dict[str, Any], fast_server: RunningServer, backend: LocalHttpServer
) -> None:
    cw = clients["cloudwatch"]
    url, lb, tg, group = alb_with_backend(clients, fast_server.endpoint, backend)
    lb_dims, tg_dims = {"LoadBalancer": lb}, {"LoadBalancer": lb, "TargetGroup": tg}
    # The request that found the listener serving is counted too: wait until it is written, then start from it.
    before = wait_for(lambda: total(cw, "RequestCount", lb_dims))
    with httpx.Client(timeout=5) as client:
        statuses = [client.get(f"{url}/fail" if i % 5 == 0 else f"{url}/").status_code for i in range(25)]
    assert statuses.count(500) == 5
    wait_for(lambda: total(cw, "RequestCount", lb_dims) == before + 25, timeout=10)
    assert total(cw, "RequestCount", tg_dims) == before + 25
    assert total(cw, "HTTPCode_Target_5XX_Count", lb_dims) == 5
    assert total(cw, "HTTPCode_Target_5XX_Count", tg_dims) == 5
    assert total(cw, "HTTPCode_Target_2XX_Count", lb_dims) == before + 20
    assert total(cw, "TargetResponseTime", tg_dims, "SampleCount") == before + 25
    average = values(cw, "TargetResponseTime", lb_dims, "Average")[0]
    assert 0 < average < 1.0
    assert total(cw, "ProcessedBytes", lb_dims) > 25 * 50
    assert total(cw, "NewConnectionCount", lb_dims) >= 2
    listed = cw.list_metrics(Namespace=NAMESPACE, Dimensions=[{"Name": "LoadBalancer", "Value": lb}])["Metrics"]
    assert {"RequestCount", "HTTPCode_Target_5XX_Count", "TargetResponseTime"} <= {m["MetricName"] for m in listed}

    # Health checks make the target healthy; the count follows (once a 2 s "minute").
    wait_for(
        lambda: (
            clients["elbv2"].describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"][0][
                "TargetHealth"
            ]["State"]
            == "healthy"
        ),
        timeout=30,
    )
    wait_for(lambda: max(values(cw, "HealthyHostCount", tg_dims, "Maximum") or [0]) == 1.0, timeout=10)

    cw.put_metric_alarm(
        AlarmName="alb-5xx",
        Namespace=NAMESPACE,
        MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[{"Name": "LoadBalancer", "Value": lb}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )

    def failing_and_alarmed() -> bool:
        httpx.get(f"{url}/fail", timeout=5)
        return bool(cw.describe_alarms(AlarmNames=["alb-5xx"])["MetricAlarms"][0]["StateValue"] == "ALARM")

    wait_for(failing_and_alarmed, timeout=20)


def test_target_tracking_on_alb_request_count_per_target_scales_the_service(
    clients: dict[str, Any], fast_server: RunningServer, backend: LocalHttpServer
) -> None:
    ecs, aas = clients["ecs"], clients["application-autoscaling"]
    url, lb, tg, _ = alb_with_backend(clients, fast_server.endpoint, backend)
    ecs.create_cluster(clusterName="shop")
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "web", "memory": 128}])
    ecs.create_service(cluster="shop", serviceName="web", taskDefinition="web", desiredCount=1)
    resource = "service/shop/web"
    aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=4,
    )
    aas.put_scaling_policy(
        PolicyName="per-target",
        ServiceNamespace="ecs",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 5.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ALBRequestCountPerTarget",
                "ResourceLabel": f"{lb}/{tg}",
            },
            "ScaleOutCooldown": 0,
        },
    )

    def desired() -> int:
        return int(ecs.describe_services(cluster="shop", services=["web"])["services"][0]["desiredCount"])

    # Far more than 5 requests per target per (2 s) minute, until the service scales out.
    deadline = time.monotonic() + 40
    with httpx.Client(timeout=5) as client:
        while desired() == 1:
            assert time.monotonic() < deadline, "no scale-out on ALBRequestCountPerTarget"
            for _ in range(10):
                client.get(f"{url}/")
    assert desired() > 1
    activities = aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=resource)["ScalingActivities"]
    assert any("AlarmHigh" in a["Cause"] and "per-target" in a["Cause"] for a in activities)
