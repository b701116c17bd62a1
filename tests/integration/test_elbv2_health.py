"""ELBv2 target health against a real HTTP server on 127.0.0.1, and one flow through the AWS CLI."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fixtures.http_backend import LocalHttpServer, QuietHandler
from tests.integration.test_elbv2_api import default_network, error_of, forward, make_lb


class Backend:
    """A small HTTP server whose answer to the health path can be changed; it records user agents."""

    def __init__(self) -> None:
        self.status = 200
        self.agents: list[str] = []
        self.paths: list[str] = []
        backend = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                backend.agents.append(self.headers.get("User-Agent", ""))
                backend.paths.append(self.path)
                self.send_response(backend.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.http = LocalHttpServer(Handler)
        self.port = self.http.port

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def backend() -> Iterator[Backend]:
    running = Backend()
    yield running
    running.close()


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def instance_group(elbv2: Any, ec2: Any, port: int, **kwargs: Any) -> str:
    """An instance target group on ``port``: its targets are reached on 127.0.0.1, where the backend
    listens; health checked on /health every 5 s."""
    vpc, _ = default_network(ec2)
    arn: str = elbv2.create_target_group(
        Name="backend",
        Protocol="HTTP",
        Port=port,
        VpcId=vpc,
        TargetType="instance",
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
        **kwargs,
    )["TargetGroups"][0]["TargetGroupArn"]
    return arn


def health(elbv2: Any, arn: str) -> list[tuple[str, str | None]]:
    described = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return [(d["TargetHealth"]["State"], d["TargetHealth"].get("Reason")) for d in described]


def test_real_health_checks_move_a_target_through_its_states(elbv2: Any, ec2: Any, backend: Backend) -> None:
    arn = instance_group(elbv2, ec2, backend.port)
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "i-0123456789abcdef0"}])
    assert health(elbv2, arn) == [("unused", "Target.NotInUse")]
    time.sleep(0.5)
    assert backend.agents == []  # no load balancer uses the group: no checks
    lb = make_lb(elbv2, ec2)
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=forward(arn))
    assert wait_for(lambda: health(elbv2, arn) == [("healthy", None)])
    assert backend.agents[0] == "ELB-HealthChecker/2.0" and backend.paths[0] == "/health"
    described = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"][0]
    assert described["Target"] == {"Id": "i-0123456789abcdef0", "Port": backend.port}
    assert described["HealthCheckPort"] == str(backend.port)
    backend.status = 404
    assert wait_for(lambda: health(elbv2, arn) == [("unhealthy", "Target.ResponseCodeMismatch")], timeout=20)
    description = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"][0]["TargetHealth"]
    assert description["Description"] == "Health checks failed with these codes: [404]"
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}]
    )
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "i-0123456789abcdef0"}])
    assert health(elbv2, arn) == [("draining", "Target.DeregistrationInProgress")]
    assert wait_for(lambda: health(elbv2, arn) == [], timeout=10)


def test_register_targets_checks_ip_targets_against_the_vpc(elbv2: Any, ec2: Any) -> None:
    vpc, _ = default_network(ec2)
    arn = elbv2.create_target_group(Name="ips", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")["TargetGroups"][
        0
    ]["TargetGroupArn"]
    code, message = error_of(elbv2.register_targets, TargetGroupArn=arn, Targets=[{"Id": "10.9.9.9"}])
    assert (code, message) == (
        "ValidationError",
        "The Availability Zone is required for IP address '10.9.9.9' because it is not in the VPC",
    )
    assert error_of(elbv2.register_targets, TargetGroupArn=arn, Targets=[{"Id": "i-0123456789abcdef0"}])[0] == (
        "InvalidTarget"
    )
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "172.31.0.20", "Port": 8080}])
    described = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    assert described[0]["Target"]["AvailabilityZone"].startswith("us-east-1")
    asked = elbv2.describe_target_health(TargetGroupArn=arn, Targets=[{"Id": "172.31.0.21"}])
    assert asked["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"] == "Target.NotRegistered"
    assert error_of(elbv2.deregister_targets, TargetGroupArn=arn, Targets=[{"Id": "172.31.0.21"}])[0] == (
        "InvalidTarget"
    )
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "172.31.0.20", "Port": 8080}])
    assert elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"] == []


def test_alb_flow_through_the_aws_cli(aws: Any, ec2: Any) -> None:
    vpc, subnets = default_network(ec2)
    lb = aws("elbv2", "create-load-balancer", "--name", "cli", "--subnets", *subnets[:2])["LoadBalancers"][0]
    group = aws(
        "elbv2",
        "create-target-group",
        "--name",
        "cli-tg",
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--vpc-id",
        vpc,
        "--target-type",
        "ip",
    )["TargetGroups"][0]
    listener = aws(
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        lb["LoadBalancerArn"],
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--default-actions",
        f"Type=forward,TargetGroupArn={group['TargetGroupArn']}",
    )["Listeners"][0]
    aws(
        "elbv2",
        "create-rule",
        "--listener-arn",
        listener["ListenerArn"],
        "--priority",
        "10",
        "--conditions",
        "Field=path-pattern,Values=/api/*",
        "--actions",
        f"Type=forward,TargetGroupArn={group['TargetGroupArn']}",
    )
    rules = aws("elbv2", "describe-rules", "--listener-arn", listener["ListenerArn"])["Rules"]
    assert [r["Priority"] for r in rules] == ["10", "default"]
    shown = aws("elbv2", "describe-target-groups", "--load-balancer-arn", lb["LoadBalancerArn"])["TargetGroups"]
    assert [g["TargetGroupName"] for g in shown] == ["cli-tg"]
