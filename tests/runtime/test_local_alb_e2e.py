"""The local ALB on the process runtime (spec/ecs.md §7.4, §7.5): a listener on 127.0.0.1 forwards to
the two tasks of a service, reached at their addresses on the bridge, in turn and with
X-Forwarded-For; a task scaled in drains (its server still answering) and gets no more requests."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from tests.conftest import make_client
from tests.fixtures.ports import free_port
from tests.runtime.conftest import wait_for
from tests.runtime.test_tasks_e2e import default_subnet, details, program, register, wait_status

PORT = 8080
DELAY_SECONDS = 6


def served_by(listener: str, count: int) -> list[dict[str, Any]]:
    answers = []
    for _ in range(count):
        response = httpx.get(listener, timeout=10)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


def test_listener_round_robins_over_service_tasks_and_drains_a_stopped_one(
    process_ecs: Any, process_endpoint: str
) -> None:
    ecs, endpoint = process_ecs, process_endpoint
    elbv2, ec2 = make_client("elbv2", endpoint), make_client("ec2", endpoint)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    group = elbv2.create_target_group(
        Name="web",
        Protocol="HTTP",
        Port=PORT,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
    )
    group_arn = group["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=group_arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(DELAY_SECONDS)}],
    )
    lb = elbv2.create_load_balancer(Name="shop", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    port = free_port()
    actions = [{"Type": "forward", "TargetGroupArn": group_arn}]
    elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=actions)
    register(ecs, "alb-web", program("web", "echo_headers.py", str(PORT), portMappings=[{"containerPort": PORT}]))
    ecs.create_service(
        serviceName="web",
        taskDefinition="alb-web",
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [default_subnet(endpoint)]}},
        loadBalancers=[{"targetGroupArn": group_arn, "containerName": "web", "containerPort": PORT}],
    )
    arns = wait_for(lambda: (found := ecs.list_tasks(serviceName="web")["taskArns"]) and len(found) == 2 and found, 30)
    addresses = {details(wait_status(ecs, arn, "RUNNING", timeout=60))["privateIPv4Address"]: arn for arn in arns}
    listener = f"http://127.0.0.1:{port}/hello"

    def target_states() -> dict[str, str]:
        found = elbv2.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]
        return {h["Target"]["Id"]: h["TargetHealth"]["State"] for h in found}

    # A task is RUNNING before its server listens; as a user would, wait for the targets to pass a check.
    wait_for(lambda: target_states() == {address: "healthy" for address in addresses}, 30)

    answers = served_by(listener, 6)
    order = [a["address"] for a in answers]
    assert Counter(order) == Counter({address: 3 for address in addresses})
    assert all(order[i] != order[i + 1] for i in range(len(order) - 1))  # in turn
    headers = {k.lower(): v for k, v in answers[0]["headers"].items()}
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert (headers["x-forwarded-proto"], headers["x-forwarded-port"]) == ("http", str(port))
    assert headers["x-amzn-trace-id"].startswith("Root=1-")

    ecs.update_service(service="web", desiredCount=1)
    leaving = wait_for(
        lambda: next((t for t in ecs.describe_tasks(tasks=arns)["tasks"] if t["lastStatus"] == "DEACTIVATING"), None),
        30,
    )
    gone = details(leaving)["privateIPv4Address"]
    (staying,) = set(addresses) - {gone}
    # While it drains its server still answers at its address, but the listener no longer sends it anything.
    assert httpx.get(f"http://{gone}:{PORT}/direct", timeout=5).json()["address"] == gone
    assert {a["address"] for a in served_by(listener, 6)} == {staying}
    assert target_states()[gone] == "draining"
    stopped = wait_status(ecs, addresses[gone], "STOPPED", timeout=60)
    assert (stopped["stoppedAt"] - stopped["stoppingAt"]).total_seconds() >= DELAY_SECONDS - 0.5
    assert {a["address"] for a in served_by(listener, 4)} == {staying}
    # The drain is checked above: the last task leaves without another 6 s one.
    elbv2.modify_target_group_attributes(
        TargetGroupArn=group_arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}]
    )
    ecs.update_service(service="web", desiredCount=0)
    wait_status(ecs, addresses[staying], "STOPPED", timeout=60)
    ecs.delete_service(service="web")
