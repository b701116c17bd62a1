"""A load balancer's network interfaces in EC2 through boto3 (providers.ec2.elb_interfaces): one per
subnet in DescribeNetworkInterfaces as AWS shows an ALB's, found by its filters beside a task's ENI,
never deleted by hand, and holding its subnets and security groups until the load balancer goes."""

from __future__ import annotations

import time
from typing import Any

from ecslite.store.vpc import default_ids
from tests.conftest import REGION
from tests.integration.test_tasks_helpers import error_of, fargate_definition, run_fargate, wait_status

ACCOUNT = "000000000000"
DEFAULTS = default_ids(ACCOUNT, REGION, "172.31.0.0/16")


def own_network(ec2: Any) -> tuple[str, list[str], str]:
    """A VPC with two subnets in two zones and a security group: (vpc, subnets, group)."""
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.40.1.0/24", "us-east-1a"), ("10.40.2.0/24", "us-east-1b"))
    ]
    group = ec2.create_security_group(GroupName="alb", Description="the ALB", VpcId=vpc)["GroupId"]
    return vpc, subnets, group


def described(ec2: Any, *filters: tuple[str, list[str]], **kwargs: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ec2.describe_network_interfaces(
        Filters=[{"Name": name, "Values": values} for name, values in filters], **kwargs
    )["NetworkInterfaces"]
    return found


def test_an_albs_interfaces_are_shown_as_aws_shows_them(ec2: Any, elbv2: Any) -> None:
    vpc, subnets, group = own_network(ec2)
    lb = elbv2.create_load_balancer(Name="web", Subnets=subnets, SecurityGroups=[group])["LoadBalancers"][0]
    lb_id = lb["LoadBalancerArn"].rsplit("/", 1)[1]
    interfaces = described(ec2)
    assert [i["SubnetId"] for i in interfaces] == subnets
    # The top of each subnet's range (tasks take the lowest free addresses).
    assert [i["PrivateIpAddress"] for i in interfaces] == ["10.40.1.254", "10.40.2.254"]
    assert [i["AvailabilityZone"] for i in interfaces] == ["us-east-1a", "us-east-1b"]
    first = interfaces[0]
    assert first["NetworkInterfaceId"].startswith("eni-") and len(first["NetworkInterfaceId"]) == 21
    assert first["Description"] == f"ELB app/web/{lb_id}"
    assert (first["InterfaceType"], first["Status"], first["VpcId"], first["OwnerId"]) == (
        "interface",
        "in-use",
        vpc,
        ACCOUNT,
    )
    assert (first["RequesterId"], first["RequesterManaged"], first["SourceDestCheck"]) == ("amazon-elb", True, True)
    assert first["Groups"] == [{"GroupId": group, "GroupName": "alb"}]
    assert first["PrivateDnsName"] == "ip-10-40-1-254.ec2.internal"
    assert first["PrivateIpAddresses"][0]["PrivateIpAddress"] == "10.40.1.254"
    assert first["PrivateIpAddresses"][0]["Primary"] is True
    attachment = first["Attachment"]
    assert attachment["AttachmentId"].startswith("ela-attach-") and len(attachment["AttachmentId"]) == 28
    assert (attachment["InstanceOwnerId"], attachment["Status"], attachment["DeviceIndex"]) == (
        "amazon-elb",
        "attached",
        1,
    )
    assert attachment["DeleteOnTermination"] is False and "InstanceId" not in attachment
    assert abs(attachment["AttachTime"].timestamp() - time.time()) < 60
    assert first["MacAddress"].startswith("0e:") and len(first["MacAddress"]) == 17
    assert first["MacAddress"] != interfaces[1]["MacAddress"]
    # Internet-facing: the address this host reaches it at (as a task's assignPublicIp ENABLED).
    assert first["Association"]["PublicIp"] == "10.40.1.254"
    # The same on every read.
    assert described(ec2) == interfaces


def test_an_internal_albs_interfaces_have_no_association(ec2: Any, elbv2: Any) -> None:
    _, subnets, _ = own_network(ec2)
    elbv2.create_load_balancer(Name="inside", Subnets=subnets, Scheme="internal")
    interfaces = described(ec2)
    assert len(interfaces) == 2 and all("Association" not in i for i in interfaces)
    # Without SecurityGroups the load balancer, and its interfaces, have the VPC's default group.
    assert {g["GroupName"] for i in interfaces for g in i["Groups"]} == {"default"}


def test_filters_tell_a_load_balancers_interfaces_from_a_tasks(ec2: Any, elbv2: Any, ecs: Any) -> None:
    vpc, subnets, group = own_network(ec2)
    lb = elbv2.create_load_balancer(Name="web", Subnets=subnets, SecurityGroups=[group])["LoadBalancers"][0]
    config = {"awsvpcConfiguration": {"subnets": [subnets[0]], "securityGroups": [group]}}
    task = run_fargate(ecs, fargate_definition(ecs), networkConfiguration=config)["tasks"][0]
    wait_status(ecs, task["taskArn"], "RUNNING")
    everything = described(ec2)
    assert len(everything) == 3
    (task_eni,) = [i for i in everything if i["RequesterId"] != "amazon-elb"]
    elb_enis = [i for i in everything if i["RequesterId"] == "amazon-elb"]
    elb_ids = sorted(i["NetworkInterfaceId"] for i in elb_enis)

    def ids(*filters: tuple[str, list[str]]) -> list[str]:
        return sorted(i["NetworkInterfaceId"] for i in described(ec2, *filters))

    lb_id = lb["LoadBalancerArn"].rsplit("/", 1)[1]
    assert ids(("description", [f"ELB app/web/{lb_id}"])) == elb_ids
    assert ids(("description", ["ELB app/*"])) == elb_ids
    assert ids(("requester-id", ["amazon-elb"])) == elb_ids
    assert ids(("attachment.instance-owner-id", ["amazon-elb"])) == elb_ids
    assert ids(("requester-managed", ["true"])) == sorted([*elb_ids, task_eni["NetworkInterfaceId"]])
    assert ids(("requester-managed", ["false"])) == []
    assert ids(("subnet-id", [subnets[0]])) == sorted(
        [task_eni["NetworkInterfaceId"], elb_enis[0]["NetworkInterfaceId"]]
    )
    assert ids(("subnet-id", [subnets[1]]), ("requester-id", ["amazon-elb"])) == [elb_enis[1]["NetworkInterfaceId"]]
    assert ids(("vpc-id", [vpc]), ("interface-type", ["interface"])) == sorted(
        i["NetworkInterfaceId"] for i in everything
    )
    assert ids(("vpc-id", [DEFAULTS.vpc])) == []
    assert ids(("private-ip-address", ["10.40.2.254"])) == [elb_enis[1]["NetworkInterfaceId"]]
    assert ids(("addresses.private-ip-address", ["10.40.1.254"])) == [elb_enis[0]["NetworkInterfaceId"]]
    assert ids(("network-interface-id", [elb_ids[0]])) == [elb_ids[0]]
    assert ids(("group-id", [group]), ("attachment.status", ["attached"])) == sorted(
        i["NetworkInterfaceId"] for i in everything
    )
    attachment = elb_enis[0]["Attachment"]["AttachmentId"]
    assert ids(("attachment.attachment-id", [attachment])) == [elb_enis[0]["NetworkInterfaceId"]]
    assert ids(("attachment.attachment-id", ["ela-attach-*"])) == elb_ids
    assert ids(("attachment.device-index", ["1"]), ("attachment.delete-on-termination", ["false"])) == sorted(
        i["NetworkInterfaceId"] for i in everything
    )
    assert ids(("status", ["in-use"]), ("availability-zone", ["us-east-1b"])) == [elb_enis[1]["NetworkInterfaceId"]]
    by_id = described(ec2, NetworkInterfaceIds=[elb_ids[1], task_eni["NetworkInterfaceId"]])
    assert sorted(i["NetworkInterfaceId"] for i in by_id) == sorted([elb_ids[1], task_eni["NetworkInterfaceId"]])
    ecs.stop_task(task=task["taskArn"])
    wait_status(ecs, task["taskArn"], "STOPPED")
    assert ids() == elb_ids


def test_interfaces_page_in_allocation_order(ec2: Any, elbv2: Any) -> None:
    _, subnets, _ = own_network(ec2)
    for name in ("one", "two", "three"):
        elbv2.create_load_balancer(Name=name, Subnets=subnets)
    everything = [i["NetworkInterfaceId"] for i in described(ec2)]
    first = ec2.describe_network_interfaces(MaxResults=5)
    second = ec2.describe_network_interfaces(MaxResults=5, NextToken=first["NextToken"])
    assert "NextToken" not in second
    paged = [i["NetworkInterfaceId"] for i in first["NetworkInterfaces"] + second["NetworkInterfaces"]]
    assert len(everything) == 6 and paged == everything


def test_a_load_balancers_interface_cannot_be_deleted(ec2: Any, elbv2: Any) -> None:
    _, subnets, _ = own_network(ec2)
    elbv2.create_load_balancer(Name="web", Subnets=subnets)
    interface = described(ec2)[0]["NetworkInterfaceId"]
    assert error_of(ec2.delete_network_interface, NetworkInterfaceId=interface) == (
        "InvalidParameterValue",
        f"Network interface '{interface}' is currently in use.",
    )
    assert len(described(ec2)) == 2
    assert error_of(ec2.delete_network_interface, NetworkInterfaceId="eni-00000000000000000") == (
        "InvalidNetworkInterfaceID.NotFound",
        "The networkInterface ID 'eni-00000000000000000' does not exist",
    )
    assert error_of(ec2.delete_network_interface, NetworkInterfaceId="nic-1") == (
        "InvalidNetworkInterfaceID.Malformed",
        'Invalid id: "nic-1" (expecting "eni-...")',
    )


def test_a_task_eni_cannot_be_deleted_either(ec2: Any, ecs: Any) -> None:
    config = {"awsvpcConfiguration": {"subnets": [DEFAULTS.subnets[0]]}}
    task = run_fargate(ecs, fargate_definition(ecs), networkConfiguration=config)["tasks"][0]
    wait_status(ecs, task["taskArn"], "RUNNING")
    (eni,) = described(ec2)
    assert error_of(ec2.delete_network_interface, NetworkInterfaceId=eni["NetworkInterfaceId"]) == (
        "InvalidParameterValue",
        f"Network interface '{eni['NetworkInterfaceId']}' is currently in use.",
    )


def test_subnets_and_groups_of_a_load_balancer_are_kept_until_it_is_deleted(ec2: Any, elbv2: Any) -> None:
    vpc, subnets, group = own_network(ec2)
    arn = elbv2.create_load_balancer(Name="web", Subnets=subnets, SecurityGroups=[group])["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    for subnet in subnets:
        assert error_of(ec2.delete_subnet, SubnetId=subnet) == (
            "DependencyViolation",
            f"The subnet '{subnet}' has dependencies and cannot be deleted.",
        )
    assert error_of(ec2.delete_security_group, GroupId=group) == (
        "DependencyViolation",
        f"resource {group} has a dependent object",
    )
    assert error_of(ec2.delete_vpc, VpcId=vpc)[0] == "DependencyViolation"
    elbv2.delete_load_balancer(LoadBalancerArn=arn)
    assert described(ec2) == []
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"] == []
