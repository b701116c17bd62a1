"""awsvpc tasks in the virtual VPC (spec/ecs.md §3.7, §13.1): RunTask's network checks, zones from
subnets, the ENI in DescribeTasks and DescribeNetworkInterfaces, and seed 000's address lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ecslite.store.vpc import default_ids
from tests.conftest import REGION, make_client
from tests.fixtures.aws_cli import run_aws
from tests.integration.test_tasks_helpers import (
    app,
    ec2_definition,
    error_of,
    fargate_definition,
    register_instance,
    run_fargate,
    wait_status,
)

DEFAULTS = default_ids("000000000000", REGION, "172.31.0.0/16")


@pytest.fixture
def ec2(endpoint: str) -> Any:
    return make_client("ec2", endpoint)


def awsvpc(*subnets: str, groups: tuple[str, ...] = (), public: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {"subnets": list(subnets), "assignPublicIp": "ENABLED" if public else "DISABLED"}
    if groups:
        config["securityGroups"] = list(groups)
    return {"awsvpcConfiguration": config}


def test_unknown_subnet_is_ecs_error_naming_the_request(ecs: Any) -> None:
    config = awsvpc(DEFAULTS.subnets[0], "subnet-0123456789abcdef0")
    assert error_of(run_fargate, ecs=ecs, definition=fargate_definition(ecs), networkConfiguration=config) == (
        "InvalidParameterException",
        f"Error retrieving subnet information for [{DEFAULTS.subnets[0]}, subnet-0123456789abcdef0]: "
        "The subnet ID 'subnet-0123456789abcdef0' does not exist (ErrorCode: InvalidSubnetID.NotFound)",
    )


def test_unknown_security_group_is_ecs_error(ecs: Any) -> None:
    config = awsvpc(DEFAULTS.subnets[0], groups=("sg-0123456789abcdef0",))
    assert error_of(run_fargate, ecs=ecs, definition=fargate_definition(ecs), networkConfiguration=config) == (
        "InvalidParameterException",
        "Error retrieving security group information for [sg-0123456789abcdef0]: The security group "
        "'sg-0123456789abcdef0' does not exist (ErrorCode: InvalidGroup.NotFound)",
    )


def test_subnets_of_two_vpcs_and_groups_of_another_vpc_are_refused(ecs: Any, ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    definition = fargate_definition(ecs)
    code, message = error_of(
        run_fargate, ecs=ecs, definition=definition, networkConfiguration=awsvpc(DEFAULTS.subnets[0], subnet)
    )
    assert code == "InvalidParameterException"
    assert message == (
        f"The subnets must all belong to the same VPC. {DEFAULTS.subnets[0]} is in {DEFAULTS.vpc}, "
        f"{subnet} is in {vpc}."
    )
    assert error_of(
        run_fargate, ecs=ecs, definition=definition, networkConfiguration=awsvpc(subnet, groups=(DEFAULTS.group,))
    ) == (
        "InvalidParameterException",
        f"Security group {DEFAULTS.group} does not appear to belong to the same VPC as the input subnets.",
    )
    assert ecs.list_tasks()["taskArns"] == []


def test_the_task_zone_is_its_subnets_zone(ecs: Any, ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.21.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.21.3.0/24", AvailabilityZone="us-east-1c")["Subnet"]
    task = run_fargate(ecs, fargate_definition(ecs), networkConfiguration=awsvpc(subnet["SubnetId"]))["tasks"][0]
    assert task["availabilityZone"] == "us-east-1c"
    spread = run_fargate(
        ecs, fargate_definition(ecs), count=3, group="spread", networkConfiguration=awsvpc(*DEFAULTS.subnets)
    )
    assert sorted(t["availabilityZone"] for t in spread["tasks"]) == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_a_running_task_shows_its_eni_in_ecs_and_ec2(ecs: Any, ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.22.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.22.5.0/24", AvailabilityZone="us-east-1b")["Subnet"]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    definition = fargate_definition(ecs, app(), app("side", essential=False))
    arn = run_fargate(ecs, definition, networkConfiguration=awsvpc(subnet["SubnetId"], groups=(group,), public=True))[
        "tasks"
    ][0]["taskArn"]
    task = wait_status(ecs, arn, "RUNNING")
    attachment = task["attachments"][0]
    assert (attachment["type"], attachment["status"]) == ("ElasticNetworkInterface", "ATTACHED")
    details = {d["name"]: d["value"] for d in attachment["details"]}
    assert [d["name"] for d in attachment["details"]] == [
        "subnetId",
        "networkInterfaceId",
        "macAddress",
        "privateDnsName",
        "privateIPv4Address",
    ]
    assert details["subnetId"] == subnet["SubnetId"]
    address = details["privateIPv4Address"]
    assert address == "10.22.5.4"  # the subnet's first address after AWS's reserved ones
    assert details["privateDnsName"] == "ip-10-22-5-4.ec2.internal"
    for container in task["containers"]:
        assert container["networkInterfaces"] == [{"attachmentId": attachment["id"], "privateIpv4Address": address}]
    (eni,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[details["networkInterfaceId"]])["NetworkInterfaces"]
    assert (eni["PrivateIpAddress"], eni["MacAddress"], eni["SubnetId"], eni["VpcId"]) == (
        address,
        details["macAddress"],
        subnet["SubnetId"],
        vpc,
    )
    assert (eni["Status"], eni["InterfaceType"], eni["AvailabilityZone"]) == ("in-use", "interface", "us-east-1b")
    assert eni["Description"] == f"arn:aws:ecs:{REGION}:000000000000:attachment/{attachment['id']}"
    assert eni["Groups"] == [{"GroupId": group, "GroupName": "app"}]
    assert eni["Association"]["PublicIp"] == address
    by_address = ec2.describe_network_interfaces(
        Filters=[{"Name": "addresses.private-ip-address", "Values": [address]}]
    )["NetworkInterfaces"]
    assert [e["NetworkInterfaceId"] for e in by_address] == [details["networkInterfaceId"]]
    listed = ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]
    assert listed["AvailableIpAddressCount"] == 250
    assert error_of(ec2.delete_subnet, SubnetId=subnet["SubnetId"]) == (
        "DependencyViolation",
        f"The subnet '{subnet['SubnetId']}' has dependencies and cannot be deleted.",
    )
    assert error_of(ec2.delete_security_group, GroupId=group) == (
        "DependencyViolation",
        f"resource {group} has a dependent object",
    )
    ecs.stop_task(task=arn)
    wait_status(ecs, arn, "STOPPED")
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
    ec2.delete_subnet(SubnetId=subnet["SubnetId"])


def test_without_groups_the_task_gets_the_vpc_default_group_and_no_public_ip(ecs: Any, ec2: Any) -> None:
    arn = run_fargate(ecs, fargate_definition(ecs), networkConfiguration=awsvpc(DEFAULTS.subnets[1]))["tasks"][0][
        "taskArn"
    ]
    wait_status(ecs, arn, "RUNNING")
    (eni,) = ec2.describe_network_interfaces()["NetworkInterfaces"]
    assert eni["Groups"] == [{"GroupId": DEFAULTS.group, "GroupName": "default"}]
    assert eni["PrivateIpAddress"] == "172.31.16.4" and "Association" not in eni


def test_each_task_gets_its_own_address(ecs: Any, ec2: Any) -> None:
    tasks = run_fargate(ecs, fargate_definition(ecs), count=5, networkConfiguration=awsvpc(DEFAULTS.subnets[2]))
    for task in tasks["tasks"]:
        wait_status(ecs, task["taskArn"], "RUNNING")
    addresses = sorted(e["PrivateIpAddress"] for e in ec2.describe_network_interfaces()["NetworkInterfaces"])
    assert addresses == [f"172.31.32.{i}" for i in range(4, 9)]


def test_bridge_tasks_get_dynamic_host_ports_and_no_eni(ecs: Any, ec2: Any) -> None:
    register_instance(ecs)
    definition = ec2_definition(
        ecs, app(memory=128, portMappings=[{"containerPort": 80}, {"containerPort": 81, "hostPort": 8081}])
    )
    arn = ecs.run_task(taskDefinition=definition, launchType="EC2")["tasks"][0]["taskArn"]
    task = wait_status(ecs, arn, "RUNNING")
    bindings = task["containers"][0]["networkBindings"]
    assert [(b["containerPort"], b["protocol"]) for b in bindings] == [(80, "tcp"), (81, "tcp")]
    assert 49153 <= bindings[0]["hostPort"] <= 65535 and bindings[1]["hostPort"] == 8081
    assert task["attachments"] == [] and ec2.describe_network_interfaces()["NetworkInterfaces"] == []


def test_seed_000_reads_the_task_address_with_the_cli(ecs: Any, endpoint: str, tmp_path: Path) -> None:
    """Seed 000, step 6: describe-tasks → networkInterfaceId → describe-network-interfaces → PublicIp."""
    definition = fargate_definition(ecs)
    arn = run_fargate(ecs, definition, networkConfiguration=awsvpc(*DEFAULTS.subnets[:2], public=True))["tasks"][0][
        "taskArn"
    ]
    task = wait_status(ecs, arn, "RUNNING")
    address = next(d["value"] for d in task["attachments"][0]["details"] if d["name"] == "privateIPv4Address")
    eni = run_aws(
        endpoint,
        tmp_path,
        "ecs",
        "describe-tasks",
        "--tasks",
        arn,
        "--region",
        REGION,
        "--query",
        "tasks[0].attachments[0].details[?name==`networkInterfaceId`].value",
        "--output",
        "text",
        region=REGION,
    ).strip()
    public = run_aws(
        endpoint,
        tmp_path,
        "ec2",
        "describe-network-interfaces",
        "--network-interface-ids",
        eni,
        "--query",
        "NetworkInterfaces[0].Association.PublicIp",
        "--output",
        "text",
        region=REGION,
    ).strip()
    assert public == address
