"""ECS services behind ELBv2 target groups through boto3 (spec/ecs.md §4.1, §7.4, §7.5): CreateService's
target group checks with ECS's texts, a service task registered as an ``ip`` target while it runs
(DescribeTargetHealth, the service's events) and drained when it stops, and the local ALB serving a
listener on 127.0.0.1 as the store changes."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import httpx
import pytest

from tests.fixtures.ports import free_port

PORT = 8000


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)
    return value


def network(ec2: Any) -> tuple[str, list[str]]:
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    return vpc, [s["SubnetId"] for s in subnets]


def target_group(elbv2: Any, ec2: Any, name: str = "orders", target_type: str = "ip") -> str:
    vpc, _ = network(ec2)
    group = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=PORT, VpcId=vpc, TargetType=target_type)
    return str(group["TargetGroups"][0]["TargetGroupArn"])


def load_balancer(elbv2: Any, ec2: Any, group: str, port: int) -> tuple[str, str]:
    _, subnets = network(ec2)
    lb = elbv2.create_load_balancer(Name="shop", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    actions = [{"Type": "forward", "TargetGroupArn": group}]
    listener = elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=actions)
    return str(lb), str(listener["Listeners"][0]["ListenerArn"])


def definition(ecs: Any, mode: str = "awsvpc") -> None:
    container = {"name": "web", "image": "example/web:1", "portMappings": [{"containerPort": PORT}]}
    kwargs: dict[str, Any] = {"networkMode": mode, "containerDefinitions": [container], "cpu": "256", "memory": "512"}
    if mode == "awsvpc":
        kwargs["requiresCompatibilities"] = ["FARGATE"]
    ecs.register_task_definition(family="web", **kwargs)


def create(ecs: Any, ec2: Any, group: str, **params: Any) -> dict[str, Any]:
    _, subnets = network(ec2)
    request: dict[str, Any] = {
        "serviceName": "web",
        "taskDefinition": "web",
        "desiredCount": 1,
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": subnets[:1]}},
        "loadBalancers": [{"targetGroupArn": group, "containerName": "web", "containerPort": PORT}],
    }
    request.update(params)
    return dict(ecs.create_service(**request)["service"])


def test_create_service_checks_its_target_groups(ecs: Any, elbv2: Any, ec2: Any) -> None:
    definition(ecs)
    unused = target_group(elbv2, ec2, "unused")
    assert error_of(lambda **kw: create(ecs, ec2, unused, **kw)) == (
        "InvalidParameterException",
        f"The target group with targetGroupArn {unused} does not have an associated load balancer.",
    )
    instance = target_group(elbv2, ec2, "by-instance", "instance")
    load_balancer(elbv2, ec2, instance, free_port())
    assert error_of(lambda **kw: create(ecs, ec2, instance, **kw)) == (
        "InvalidParameterException",
        f"The provided target group {instance} has target type instance, which is incompatible with the awsvpc "
        "network mode specified in the task definition.",
    )
    missing = instance.replace("by-instance", "missing")
    code, message = error_of(lambda **kw: create(ecs, ec2, missing, **kw))
    assert code == "InvalidParameterException"
    assert message.startswith("Unable to assume role and validate the specified targetGroupArn.")
    assert ecs.list_services()["serviceArns"] == []


def test_service_task_is_an_ip_target_while_it_runs(ecs: Any, elbv2: Any, ec2: Any) -> None:
    definition(ecs)
    group = target_group(elbv2, ec2)
    load_balancer(elbv2, ec2, group, free_port())
    elbv2.modify_target_group_attributes(
        TargetGroupArn=group, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "2"}]
    )
    create(ecs, ec2, group)
    task_arn = wait_for(lambda: ecs.list_tasks(serviceName="web", desiredStatus="RUNNING")["taskArns"])[0]
    task = wait_for(lambda: [t for t in ecs.describe_tasks(tasks=[task_arn])["tasks"] if t["lastStatus"] == "RUNNING"])[
        0
    ]
    address = next(d["value"] for d in task["attachments"][0]["details"] if d["name"] == "privateIPv4Address")

    health = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    assert [(h["Target"]["Id"], h["Target"]["Port"]) for h in health] == [(address, PORT)]
    assert health[0]["TargetHealth"]["State"] in ("initial", "healthy", "unhealthy")
    events = [e["message"] for e in ecs.describe_services(services=["web"])["services"][0]["events"]]
    assert f"(service web) registered 1 targets in (target-group {group})" in events

    ecs.stop_task(task=task_arn)
    draining = wait_for(
        lambda: [
            h
            for h in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
            if h["Target"]["Id"] == address and h["TargetHealth"]["State"] == "draining"
        ]
    )
    assert draining[0]["TargetHealth"]["Reason"] == "Target.DeregistrationInProgress"
    stopped = wait_for(
        lambda: [t for t in ecs.describe_tasks(tasks=[task_arn])["tasks"] if t["lastStatus"] == "STOPPED"], 30
    )[0]
    assert (stopped["stoppedAt"] - stopped["stoppingAt"]).total_seconds() >= 1.9  # the 2 s delay drained
    events = [e["message"] for e in ecs.describe_services(services=["web"])["services"][0]["events"]]
    assert f"(service web) deregistered 1 targets in (target-group {group})" in events
    assert "(service web) has begun draining connections on 1 tasks." in events


def test_local_alb_serves_listener_rules_on_loopback(endpoint: str, elbv2: Any, ec2: Any) -> None:
    group = target_group(elbv2, ec2)
    port = free_port()
    _, listener = load_balancer(elbv2, ec2, group, port)
    elbv2.create_rule(
        ListenerArn=listener,
        Priority=5,
        Conditions=[{"Field": "path-pattern", "Values": ["/ping"]}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "pong"}}],
    )
    served = wait_for(lambda: httpx.get(f"{endpoint}/_ecslite/elb/listeners").json().get(listener))
    assert served["endpoint"] == f"127.0.0.1:{port}"

    def ping() -> httpx.Response | None:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/ping", timeout=5)
        except httpx.TransportError:
            return None

    response = wait_for(lambda: (r := ping()) is not None and r.status_code == 200 and r)
    assert response.text == "pong"
    # No target registered: the default rule forwards to an empty group.
    assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 503
    elbv2.delete_listener(ListenerArn=listener)
    wait_for(lambda: ping() is None)


def test_fake_runtime_targets_answer_without_leaving_the_host(ecs: Any, elbv2: Any, ec2: Any) -> None:
    """The fake runtime has no network: its running task passes the check, a hand-registered
    address outside loopback fails as refused, and the ALB sends nothing there (502)."""
    definition(ecs)
    group = elbv2.create_target_group(
        Name="orders",
        Protocol="HTTP",
        Port=PORT,
        VpcId=network(ec2)[0],
        TargetType="ip",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    port = free_port()
    load_balancer(elbv2, ec2, group, port)
    create(ecs, ec2, group)
    task_arn = wait_for(lambda: ecs.list_tasks(serviceName="web", desiredStatus="RUNNING")["taskArns"])[0]
    task = wait_for(lambda: [t for t in ecs.describe_tasks(tasks=[task_arn])["tasks"] if t["lastStatus"] == "RUNNING"])[
        0
    ]
    address = next(d["value"] for d in task["attachments"][0]["details"] if d["name"] == "privateIPv4Address")
    nobody = str(ipaddress.ip_address(address) + 100)  # in the VPC, no task there
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": nobody, "Port": PORT}])

    def states() -> dict[str, dict[str, Any]]:
        found = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
        return {h["Target"]["Id"]: h["TargetHealth"] for h in found}

    wait_for(lambda: states().get(address, {}).get("State") == "healthy", 20)
    ecs.update_service(service="web", desiredCount=0)  # the only healthy target leaves
    wait_for(lambda: address not in states() or states()[address]["State"] == "draining", 20)
    # With no healthy target the ALB fails open to the one left, which it does not reach on this runtime.
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 502
