"""Tasks reach an internal ALB by its DNS name (spec/ecs.md §7.1, §7.5) on the process runtime: the
load balancer's private address is on the bridge, the tasks' VPC resolver answers its ``DNSName``
with it, and a caller service's task gets an answer from the target service's task through it.
After DeleteLoadBalancer the address is gone from the bridge and nothing listens there."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx

from tests.conftest import make_client
from tests.runtime.conftest import ProcessServer, wait_for
from tests.runtime.test_tasks_e2e import default_subnet, details, output, program, register, wait_status

PORT = 8080
LISTENER_PORT = 80
# Resolves the load balancer's name as a libc client does, then fetches through it by name until
# the target answers; stays up afterwards, as a service's task does.
CALLER = """
import socket, sys, time, urllib.error, urllib.request
name = sys.argv[1]
deadline = time.monotonic() + 60
while True:
    try:
        address = socket.gethostbyname(name)
        body = urllib.request.urlopen("http://" + name + "/through-alb", timeout=5).read().decode()
        break
    except (OSError, urllib.error.URLError) as error:
        if time.monotonic() > deadline:
            print("FAILED", error, flush=True)
            sys.exit(1)
        time.sleep(0.5)
print("ADDRESS", address, flush=True)
print("BODY", body, flush=True)
time.sleep(3600)
"""


def bridge_addresses(bridge: str) -> list[str]:
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", bridge], capture_output=True, text=True)
    return [line.split()[3] for line in shown.stdout.splitlines()]


def listening(address: str, port: int) -> bool:
    shown = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    return any(
        line.split()[3] == f"{address}:{port}" or f"{address}%" in line.split()[3] for line in shown.splitlines()
    )


def test_a_task_calls_a_service_through_an_internal_alb_by_its_dns_name(
    process_ecs: Any, process_server: ProcessServer, process_endpoint: str
) -> None:
    ecs, endpoint = process_ecs, process_endpoint
    elbv2, ec2 = make_client("elbv2", endpoint), make_client("ec2", endpoint)
    bridge = process_server.settings.bridge
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    by_zone = sorted(subnets, key=lambda s: s["AvailabilityZone"])[:2]
    group = elbv2.create_target_group(Name="target", Protocol="HTTP", Port=PORT, VpcId=vpc, TargetType="ip")
    group_arn = group["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=group_arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}]
    )
    lb = elbv2.create_load_balancer(Name="inner", Subnets=[s["SubnetId"] for s in by_zone], Scheme="internal")
    lb_arn, dns_name = lb["LoadBalancers"][0]["LoadBalancerArn"], lb["LoadBalancers"][0]["DNSName"]
    assert dns_name.startswith("internal-inner-") and dns_name.endswith(".us-east-1.elb.amazonaws.com")
    actions = [{"Type": "forward", "TargetGroupArn": group_arn}]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=LISTENER_PORT, DefaultActions=actions
    )
    listener_arn = listener["Listeners"][0]["ListenerArn"]

    served = wait_for(
        lambda: (
            (s := httpx.get(f"{endpoint}/_ecslite/elb/listeners").json().get(listener_arn))
            and len(s["privateEndpoints"]) == 2
            and s
        ),
        20,
    )
    private = [e.rsplit(":", 1)[0] for e in served["privateEndpoints"]]
    assert all(e.endswith(f":{LISTENER_PORT}") for e in served["privateEndpoints"])
    # One address per subnet, each inside its subnet's CIDR, each on the bridge as a /32.
    for address, subnet in zip(private, by_zone, strict=True):
        assert address.rsplit(".", 2)[0] == subnet["CidrBlock"].rsplit(".", 2)[0]
    on_bridge = bridge_addresses(bridge)
    assert all(f"{address}/32" in on_bridge for address in private)

    register(ecs, "alb-target", program("web", "echo_headers.py", str(PORT), portMappings=[{"containerPort": PORT}]))
    network = {"awsvpcConfiguration": {"subnets": [default_subnet(endpoint)]}}
    ecs.create_service(
        serviceName="target",
        taskDefinition="alb-target",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
        loadBalancers=[{"targetGroupArn": group_arn, "containerName": "web", "containerPort": PORT}],
    )
    # The caller ignores SIGTERM (PID 1 without a handler): 2 s instead of the 30 s default to stop it.
    register(ecs, "alb-caller", program("caller", "-c", CALLER, dns_name, stopTimeout=2))
    ecs.create_service(
        serviceName="caller",
        taskDefinition="alb-caller",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
    )
    target_arn = wait_for(lambda: ecs.list_tasks(serviceName="target")["taskArns"], 30)[0]
    caller_arn = wait_for(lambda: ecs.list_tasks(serviceName="caller")["taskArns"], 30)[0]
    target_address = details(wait_status(ecs, target_arn, "RUNNING", timeout=60))["privateIPv4Address"]
    caller_address = details(wait_status(ecs, caller_arn, "RUNNING", timeout=60))["privateIPv4Address"]

    def caller_lines() -> list[str]:
        return [line for _, line in output(process_server, caller_arn, "caller")]

    lines = wait_for(
        lambda: (found := caller_lines()) and any(x.startswith(("BODY", "FAILED")) for x in found) and found, 90
    )
    assert not any(line.startswith("FAILED") for line in lines), lines
    resolved = next(line.split()[1] for line in lines if line.startswith("ADDRESS "))
    assert resolved in private
    body = json.loads(next(line[len("BODY ") :] for line in lines if line.startswith("BODY ")))
    assert body["address"] == target_address
    headers = {k.lower(): v for k, v in body["headers"].items()}
    assert headers["x-forwarded-for"] == caller_address  # the caller's own address, as an ALB sees it
    assert headers["host"] == dns_name
    assert headers["x-forwarded-port"] == str(LISTENER_PORT)

    for service in ("caller", "target"):
        ecs.update_service(service=service, desiredCount=0)
    elbv2.delete_load_balancer(LoadBalancerArn=lb_arn)
    assert wait_for(lambda: not any(f"{a}/32" in bridge_addresses(bridge) for a in private), 20)
    assert not any(listening(address, LISTENER_PORT) for address in private)
    assert httpx.get(f"{endpoint}/_ecslite/elb/listeners").json() == {}
    wait_status(ecs, caller_arn, "STOPPED", timeout=60)
    wait_status(ecs, target_arn, "STOPPED", timeout=60)
    for service in ("caller", "target"):
        ecs.delete_service(service=service)
