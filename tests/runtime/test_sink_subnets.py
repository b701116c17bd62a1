"""The export sink at the gateway of a subnet made with EC2 CreateSubnet, for real (process runtime;
control.sink_gateways, telemetry.sink.listener): a task on the new subnet pushes to Loki at its
gateway and is counted as itself, and DeleteSubnet leaves no listener behind on that gateway."""

from __future__ import annotations

import ipaddress
import subprocess
from typing import Any

import httpx

from tests.conftest import make_client
from tests.runtime.conftest import ProcessServer, wait_for
from tests.runtime.test_subnet_gateways import delete_when_free
from tests.runtime.test_tasks_e2e import output, program, register, stop, wait_status


def sink_stats(endpoint: str) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{endpoint}/_ecslite/telemetry/stats", timeout=10).json()["sink"]
    return stats


def listeners_on(address: str) -> list[str]:
    """The host's TCP listeners bound to ``address`` (``ss`` shows a bound device as ``addr%dev``)."""
    found = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout.splitlines()
    return [line for line in found if f" {address}:" in line or f" {address}%" in line]


def new_subnet(process_server: ProcessServer, ec2: Any) -> tuple[str, str]:
    """A /24 of the default VPC outside its default subnets and bridge range; returns (id, gateway)."""
    vpc_cidr = ipaddress.ip_network(process_server.settings.vpc_cidr)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    assert vpc["CidrBlock"] == str(vpc_cidr)
    cidr = ipaddress.ip_network(f"{vpc_cidr.network_address + 64 * 256}/24")
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=str(cidr))["Subnet"]
    return subnet["SubnetId"], str(cidr.network_address + 1)


def test_a_task_on_a_created_subnet_reaches_the_sink_at_its_gateway_until_the_subnet_is_deleted(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    ec2 = make_client("ec2", process_endpoint)
    ports = sink_stats(process_endpoint)["ports"]
    vpc_cidr = ipaddress.ip_network(process_server.settings.vpc_cidr)
    gateway = str(vpc_cidr.network_address + 64 * 256 + 1)
    assert listeners_on(gateway) == []

    subnet_id, gateway = new_subnet(process_server, ec2)
    wait_for(lambda: gateway in sink_stats(process_endpoint)["addresses"])
    assert len(listeners_on(gateway)) == 3  # Loki, OTLP/HTTP, remote write

    url = f"http://{gateway}:{ports['loki']}/loki/api/v1/push"
    definition = register(process_ecs, "sink-subnet", program("push", "loki_push.py", url, "3"))
    result = process_ecs.run_task(
        taskDefinition=definition,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet_id]}},
    )
    assert result["failures"] == []
    arn = result["tasks"][0]["taskArn"]
    task = wait_status(process_ecs, arn, "RUNNING")
    assert task["attachments"][0]["details"][0] == {"name": "subnetId", "value": subnet_id}

    def counted() -> dict[str, Any] | None:
        loki = sink_stats(process_endpoint)["tasks"].get(arn, {}).get("loki")
        return loki if loki and loki["records"] else None

    loki = wait_for(counted, timeout=30)
    assert (loki["requests"], loki["records"], loki["errors"], loki["lastStatus"]) == (1, 3, 0, 204)
    # The sink counts the push before the task has its answer and writes the line: wait for it.
    wait_for(lambda: ("stdout", "pushed 3: 204") in output(process_server, arn, "push"), timeout=15)
    stop(process_ecs, arn)

    delete_when_free(ec2, subnet_id)
    wait_for(lambda: gateway not in sink_stats(process_endpoint)["addresses"])
    assert listeners_on(gateway) == []
    # The default subnets' gateways are served still.
    assert str(vpc_cidr.network_address + 1) in sink_stats(process_endpoint)["addresses"]
