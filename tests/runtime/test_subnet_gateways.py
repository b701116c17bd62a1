"""A subnet's gateway on the host bridge, for real (process runtime; control.bridge_gateways,
runtime.process.network.HostNetwork.keep_gateways): a task on a subnet made with CreateSubnet puts
the subnet's gateway on the bridge, and DeleteSubnet, once the task has stopped, takes it off
again; a default subnet's gateway stays."""

from __future__ import annotations

import ipaddress
import subprocess
import time
from typing import Any

import botocore.exceptions

from tests.conftest import make_client
from tests.runtime.conftest import ProcessServer, wait_for
from tests.runtime.test_tasks_e2e import program, register, stop, wait_status


def bridge_addresses(bridge: str) -> list[str]:
    """``address/prefix`` of every IPv4 address on the bridge, as ``ip -o addr show dev`` lists them."""
    shown = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "dev", bridge], capture_output=True, text=True, check=True
    ).stdout
    return [line.split()[3] for line in shown.splitlines()]


def stays(bridge: str, address: str, seconds: float = 1.5) -> None:
    """``address`` is on the bridge now and for ``seconds`` (the gateway feed follows a commit within milliseconds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert address in bridge_addresses(bridge)
        time.sleep(0.05)


def run_in(ecs: Any, definition: str, subnet_id: str) -> str:
    result = ecs.run_task(
        taskDefinition=definition,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet_id]}},
    )
    assert result["failures"] == []
    arn = str(result["tasks"][0]["taskArn"])
    wait_status(ecs, arn, "RUNNING")
    return arn


def delete_when_free(ec2: Any, subnet_id: str) -> None:
    def deleted() -> bool:
        try:
            ec2.delete_subnet(SubnetId=subnet_id)
        except botocore.exceptions.ClientError as error:
            assert error.response["Error"]["Code"] == "DependencyViolation", error.response
            return False
        return True

    wait_for(deleted, timeout=30)


def test_a_deleted_subnets_gateway_leaves_the_bridge_and_a_default_subnets_stays(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    bridge = process_server.settings.bridge
    ec2 = make_client("ec2", process_endpoint)
    vpc_cidr = ipaddress.ip_network(process_server.settings.vpc_cidr)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    cidr = ipaddress.ip_network(f"{vpc_cidr.network_address + 65 * 256}/24")
    created = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=str(cidr))["Subnet"]["SubnetId"]
    (default,) = ec2.describe_subnets(
        Filters=[
            {"Name": "default-for-az", "Values": ["true"]},
            {"Name": "availability-zone", "Values": ["us-east-1a"]},
        ]
    )["Subnets"]
    gateway = f"{cidr.network_address + 1}/24"
    default_gateway = f"{ipaddress.ip_network(default['CidrBlock']).network_address + 1}/{cidr_prefix(default)}"
    assert gateway not in bridge_addresses(bridge)

    definition = register(process_ecs, "gateways", program("wait", "exit_after.py", "600", "0", stopTimeout=2))
    on_created = run_in(process_ecs, definition, created)
    on_default = run_in(process_ecs, definition, default["SubnetId"])
    assert {gateway, default_gateway} <= set(bridge_addresses(bridge))

    stop(process_ecs, on_created)
    delete_when_free(ec2, created)
    wait_for(lambda: gateway not in bridge_addresses(bridge))
    # The default subnet's task runs on, reaching the host at its gateway.
    stays(bridge, default_gateway)
    stop(process_ecs, on_default)
    # Deleting another subnet does not take a default subnet's gateway, in use or not.
    other = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=str(cidr))["Subnet"]["SubnetId"]
    ec2.delete_subnet(SubnetId=other)
    stays(bridge, default_gateway)
    assert f"{vpc_cidr.network_address + 2}/32" in bridge_addresses(bridge)  # the VPC's resolver


def test_a_gateway_stays_while_another_subnet_with_its_cidr_remains(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    bridge = process_server.settings.bridge
    ec2 = make_client("ec2", process_endpoint)
    vpc_cidr = ipaddress.ip_network(process_server.settings.vpc_cidr)
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    other_vpc = ec2.create_vpc(CidrBlock=str(vpc_cidr))["Vpc"]["VpcId"]
    cidr = ipaddress.ip_network(f"{vpc_cidr.network_address + 66 * 256}/24")
    first = ec2.create_subnet(VpcId=default_vpc, CidrBlock=str(cidr))["Subnet"]["SubnetId"]
    second = ec2.create_subnet(VpcId=other_vpc, CidrBlock=str(cidr))["Subnet"]["SubnetId"]
    gateway = f"{cidr.network_address + 1}/24"

    definition = register(process_ecs, "gateways", program("wait", "exit_after.py", "600", "0", stopTimeout=2))
    stop(process_ecs, run_in(process_ecs, definition, first))
    assert gateway in bridge_addresses(bridge)
    delete_when_free(ec2, first)
    # The other VPC's subnet of the same CIDR shares the gateway: it stays.
    ec2.describe_subnets(SubnetIds=[second])
    stays(bridge, gateway)
    ec2.delete_subnet(SubnetId=second)
    wait_for(lambda: gateway not in bridge_addresses(bridge))
    ec2.delete_vpc(VpcId=other_vpc)


def cidr_prefix(subnet: dict[str, Any]) -> int:
    return ipaddress.ip_network(subnet["CidrBlock"]).prefixlen
