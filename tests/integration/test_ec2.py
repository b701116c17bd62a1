"""The EC2 API of the virtual VPC through boto3 and the AWS CLI: every operation and its errors."""

from __future__ import annotations

from typing import Any

import pytest

from ecslite.store.vpc import default_ids
from tests.conftest import make_client
from tests.integration.test_tasks_helpers import error_of

ACCOUNT, REGION = "000000000000", "us-east-1"
DEFAULTS = default_ids(ACCOUNT, REGION, "172.31.0.0/16")


@pytest.fixture
def ec2(endpoint: str) -> Any:
    return make_client("ec2", endpoint)


# -- the default VPC ---------------------------------------------------------------------------------


def test_a_new_partition_has_a_default_vpc_with_a_subnet_per_zone(ec2: Any) -> None:
    (vpc,) = ec2.describe_vpcs()["Vpcs"]
    assert (vpc["VpcId"], vpc["CidrBlock"], vpc["IsDefault"], vpc["State"]) == (
        DEFAULTS.vpc,
        "172.31.0.0/16",
        True,
        "available",
    )
    assert vpc["OwnerId"] == ACCOUNT
    subnets = ec2.describe_subnets()["Subnets"]
    assert [(s["SubnetId"], s["CidrBlock"], s["AvailabilityZone"]) for s in subnets] == [
        (DEFAULTS.subnets[0], "172.31.0.0/20", "us-east-1a"),
        (DEFAULTS.subnets[1], "172.31.16.0/20", "us-east-1b"),
        (DEFAULTS.subnets[2], "172.31.32.0/20", "us-east-1c"),
    ]
    assert all(s["DefaultForAz"] and s["MapPublicIpOnLaunch"] and s["AvailableIpAddressCount"] == 4091 for s in subnets)
    assert subnets[0]["SubnetArn"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{DEFAULTS.subnets[0]}"
    (group,) = ec2.describe_security_groups()["SecurityGroups"]
    assert (group["GroupId"], group["GroupName"], group["VpcId"]) == (DEFAULTS.group, "default", DEFAULTS.vpc)
    assert group["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert group["IpPermissions"][0]["UserIdGroupPairs"] == [{"GroupId": DEFAULTS.group, "UserId": ACCOUNT}]


def test_every_region_has_its_own_default_vpc(endpoint: str) -> None:
    other = make_client("ec2", endpoint, region="eu-west-1")
    subnets = other.describe_subnets()["Subnets"]
    assert [s["AvailabilityZone"] for s in subnets] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert [s["SubnetId"] for s in subnets] == list(default_ids(ACCOUNT, "eu-west-1", "172.31.0.0/16").subnets)


def test_availability_zones_of_the_region(ec2: Any) -> None:
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"], z["State"]) for z in zones] == [
        ("us-east-1a", "use1-az1", "available"),
        ("us-east-1b", "use1-az2", "available"),
        ("us-east-1c", "use1-az3", "available"),
    ]
    assert ec2.describe_availability_zones(ZoneNames=["us-east-1b"])["AvailabilityZones"][0]["ZoneId"] == "use1-az2"
    picked = ec2.describe_availability_zones(Filters=[{"Name": "zone-id", "Values": ["use1-az3"]}])
    assert [z["ZoneName"] for z in picked["AvailabilityZones"]] == ["us-east-1c"]
    assert error_of(ec2.describe_availability_zones, ZoneNames=["us-east-1z"]) == (
        "InvalidParameterValue",
        "The zone 'us-east-1z' does not exist.",
    )


# -- VPCs ----------------------------------------------------------------------------------------------


def test_create_describe_and_delete_a_vpc(ec2: Any) -> None:
    tags = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "demo"}]}]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=tags)["Vpc"]
    assert vpc["VpcId"].startswith("vpc-") and len(vpc["VpcId"]) == 21
    assert (vpc["State"], vpc["IsDefault"], vpc["Tags"]) == ("pending", False, [{"Key": "Name", "Value": "demo"}])
    described = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]
    assert (described["State"], described["CidrBlock"]) == ("available", "10.0.0.0/16")
    by_tag = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["demo"]}])["Vpcs"]
    assert [v["VpcId"] for v in by_tag] == [vpc["VpcId"]]
    default_only = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert [v["VpcId"] for v in default_only] == [DEFAULTS.vpc]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == ["default"]  # every VPC comes with its default group
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    assert error_of(ec2.describe_vpcs, VpcIds=[vpc["VpcId"]]) == (
        "InvalidVpcID.NotFound",
        f"The vpc ID '{vpc['VpcId']}' does not exist",
    )


@pytest.mark.parametrize(
    ("cidr", "code", "message"),
    [
        ("10.0.0.0/8", "InvalidVpc.Range", "The CIDR '10.0.0.0/8' is invalid."),
        ("10.0.0.0/29", "InvalidVpc.Range", "The CIDR '10.0.0.0/29' is invalid."),
        ("127.0.0.0/16", "InvalidVpc.Range", "The CIDR '127.0.0.0/16' is invalid."),
        (
            "10.0.0.1/16",
            "InvalidParameterValue",
            "Value (10.0.0.1/16) for parameter cidrBlock is invalid. This is not a valid CIDR block.",
        ),
    ],
)
def test_create_vpc_refuses_bad_blocks(ec2: Any, cidr: str, code: str, message: str) -> None:
    assert error_of(ec2.create_vpc, CidrBlock=cidr) == (code, message)


def test_a_vpc_with_subnets_cannot_be_deleted(ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    assert error_of(ec2.delete_vpc, VpcId=vpc) == (
        "DependencyViolation",
        f"The vpc '{vpc}' has dependencies and cannot be deleted.",
    )
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


def test_unknown_and_malformed_vpc_ids(ec2: Any) -> None:
    assert error_of(ec2.describe_vpcs, VpcIds=["vpc-00000000000000000"]) == (
        "InvalidVpcID.NotFound",
        "The vpc ID 'vpc-00000000000000000' does not exist",
    )
    assert error_of(ec2.delete_vpc, VpcId="subnet-1") == (
        "InvalidVpcID.Malformed",
        'Invalid id: "subnet-1" (expecting "vpc-...")',
    )


def test_unknown_filters_are_refused(ec2: Any) -> None:
    assert error_of(ec2.describe_vpcs, Filters=[{"Name": "colour", "Values": ["red"]}]) == (
        "InvalidParameterValue",
        "The filter 'colour' is invalid",
    )


def test_dry_run_answers_without_acting(ec2: Any) -> None:
    assert error_of(ec2.create_vpc, CidrBlock="10.2.0.0/16", DryRun=True) == (
        "DryRunOperation",
        "Request would have succeeded, but DryRun flag is set.",
    )
    assert len(ec2.describe_vpcs()["Vpcs"]) == 1


def test_describe_vpcs_pages(ec2: Any) -> None:
    made = [ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(10, 16)]
    first = ec2.describe_vpcs(MaxResults=5)
    assert len(first["Vpcs"]) == 5 and "NextToken" in first
    rest = ec2.describe_vpcs(MaxResults=5, NextToken=first["NextToken"])
    assert "NextToken" not in rest
    assert [v["VpcId"] for v in first["Vpcs"] + rest["Vpcs"]] == [DEFAULTS.vpc, *made]
    paginated = [
        v["VpcId"]
        for page in ec2.get_paginator("describe_vpcs").paginate(PaginationConfig={"PageSize": 5})
        for v in page["Vpcs"]
    ]
    assert paginated == [DEFAULTS.vpc, *made]


# -- subnets -------------------------------------------------------------------------------------------


def test_create_subnet_in_a_zone_and_filter_it(ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc,
        CidrBlock="10.3.1.0/24",
        AvailabilityZone="us-east-1b",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "tier", "Value": "app"}]}],
    )["Subnet"]
    assert (subnet["VpcId"], subnet["CidrBlock"], subnet["AvailabilityZone"]) == (vpc, "10.3.1.0/24", "us-east-1b")
    assert (subnet["AvailabilityZoneId"], subnet["DefaultForAz"], subnet["MapPublicIpOnLaunch"]) == (
        "use1-az2",
        False,
        False,
    )
    assert subnet["AvailableIpAddressCount"] == 251
    found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert [s["SubnetId"] for s in found] == [subnet["SubnetId"]]
    by_zone = ec2.describe_subnets(Filters=[{"Name": "availability-zone", "Values": ["us-east-1b"]}])["Subnets"]
    assert {s["SubnetId"] for s in by_zone} == {subnet["SubnetId"], DEFAULTS.subnets[1]}
    assert (
        ec2.describe_subnets(Filters=[{"Name": "tag:tier", "Values": ["app"]}])["Subnets"][0]["SubnetId"]
        == (subnet["SubnetId"])
    )
    picked = ec2.create_subnet(VpcId=vpc, CidrBlock="10.3.2.0/24")["Subnet"]
    assert picked["AvailabilityZone"] == "us-east-1a"  # the zone with the fewest subnets of the VPC


@pytest.mark.parametrize(
    ("cidr", "zone", "code", "message"),
    [
        ("10.4.2.0/24", "us-east-1z", "InvalidParameterValue", None),
        ("10.5.0.0/24", None, "InvalidSubnet.Range", "The CIDR '10.5.0.0/24' is invalid."),
        ("10.4.0.0/29", None, "InvalidSubnet.Range", "The CIDR '10.4.0.0/29' is invalid."),
        ("10.4.1.128/25", None, "InvalidSubnet.Conflict", "The CIDR '10.4.1.128/25' conflicts with another subnet"),
    ],
)
def test_create_subnet_errors(ec2: Any, cidr: str, zone: str | None, code: str, message: str | None) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.4.1.0/24")
    kwargs: dict[str, Any] = {"VpcId": vpc, "CidrBlock": cidr}
    if zone:
        kwargs["AvailabilityZone"] = zone
    got = error_of(ec2.create_subnet, **kwargs)
    expected = message or (
        "Value (us-east-1z) for parameter availabilityZone is invalid. Subnets can currently only be created in the "
        "following availability zones: us-east-1a, us-east-1b, us-east-1c."
    )
    assert got == (code, expected)


def test_subnets_of_other_vpcs_may_repeat_a_cidr_but_not_overlap_it(ec2: Any, endpoint: str) -> None:
    first = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=first, CidrBlock="10.6.1.0/24")
    other = make_client("ec2", endpoint, region="eu-west-1")
    second = other.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    other.create_subnet(VpcId=second, CidrBlock="10.6.1.0/24")  # the same block: one shared address pool
    third = other.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    code, message = error_of(other.create_subnet, VpcId=third, CidrBlock="10.6.0.0/20")
    assert code == "InvalidSubnet.Conflict"
    assert message == (
        "The CIDR '10.6.0.0/20' conflicts with another subnet: every subnet of every VPC shares this host's bridge, "
        "so a subnet may repeat another's CIDR exactly but not partly overlap it (10.6.1.0/24)."
    )


def test_the_bridge_mode_range_is_not_a_subnet(ec2: Any) -> None:
    code, message = error_of(ec2.create_subnet, VpcId=DEFAULTS.vpc, CidrBlock="172.31.240.0/24")
    assert code == "InvalidSubnet.Conflict"
    assert message.startswith("The CIDR '172.31.240.0/24' conflicts with another subnet: 172.31.240.0/20 is")


def test_unknown_subnet_and_vpc(ec2: Any) -> None:
    assert error_of(ec2.describe_subnets, SubnetIds=[DEFAULTS.subnets[0], "subnet-00000000000000000"]) == (
        "InvalidSubnetID.NotFound",
        "The subnet ID 'subnet-00000000000000000' does not exist",
    )
    assert error_of(ec2.create_subnet, VpcId="vpc-00000000000000000", CidrBlock="10.0.0.0/24") == (
        "InvalidVpcID.NotFound",
        "The vpc ID 'vpc-00000000000000000' does not exist",
    )
    assert error_of(ec2.delete_subnet, SubnetId="subnet-00000000000000000") == (
        "InvalidSubnetID.NotFound",
        "The subnet ID 'subnet-00000000000000000' does not exist",
    )


# -- security groups ---------------------------------------------------------------------------------


def test_security_group_life(ec2: Any) -> None:
    created = ec2.create_security_group(GroupName="web", Description="web servers")
    group_id = created["GroupId"]
    assert group_id.startswith("sg-") and len(group_id) == 20
    rules = ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8000, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "tcp", "FromPort": 2020, "ToPort": 2020, "IpRanges": [{"CidrIp": "172.31.0.0/16"}]},
        ],
    )
    assert rules["Return"] is True
    assert [(r["IpProtocol"], r["FromPort"], r["CidrIpv4"]) for r in rules["SecurityGroupRules"]] == [
        ("tcp", 8000, "0.0.0.0/0"),
        ("tcp", 2020, "172.31.0.0/16"),
    ]
    assert all(r["SecurityGroupRuleId"].startswith("sgr-") for r in rules["SecurityGroupRules"])
    ec2.authorize_security_group_ingress(
        GroupName="web", IpProtocol="tcp", FromPort=8000, ToPort=8000, CidrIp="10.0.0.0/8"
    )
    (group,) = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert (group["GroupName"], group["Description"], group["VpcId"]) == ("web", "web servers", DEFAULTS.vpc)
    http = next(p for p in group["IpPermissions"] if p["FromPort"] == 8000)
    assert http["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.0.0.0/8"}]
    assert ec2.describe_security_groups(GroupNames=["web"])["SecurityGroups"][0]["GroupId"] == group_id
    named = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["w*"]}])["SecurityGroups"]
    assert [g["GroupId"] for g in named] == [group_id]
    ec2.delete_security_group(GroupId=group_id)
    assert error_of(ec2.describe_security_groups, GroupIds=[group_id]) == (
        "InvalidGroup.NotFound",
        f"The security group '{group_id}' does not exist",
    )


def test_security_group_errors(ec2: Any) -> None:
    group_id = ec2.create_security_group(GroupName="db", Description="db")["GroupId"]
    assert error_of(ec2.create_security_group, GroupName="db", Description="again") == (
        "InvalidGroup.Duplicate",
        f"The security group 'db' already exists for VPC '{DEFAULTS.vpc}'",
    )
    assert error_of(ec2.create_security_group, GroupName="sg-x", Description="x") == (
        "InvalidParameterValue",
        "Group names may not be in the format sg-*.",
    )
    permission = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
    assert error_of(ec2.authorize_security_group_ingress, GroupId=group_id, IpPermissions=[permission]) == (
        "InvalidPermission.Duplicate",
        'the specified rule "peer: 10.0.0.0/8, TCP, from port: 5432, to port: 5432, ALLOW" already exists',
    )
    assert error_of(
        ec2.authorize_security_group_ingress,
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    ) == ("InvalidParameterValue", "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange")
    assert error_of(ec2.delete_security_group, GroupId=DEFAULTS.group) == (
        "CannotDelete",
        f'the specified group: "{DEFAULTS.group}" name: "default" cannot be deleted by a user',
    )
    assert error_of(ec2.describe_security_groups, GroupNames=["nope"]) == (
        "InvalidGroup.NotFound",
        f"The security group 'nope' does not exist in default VPC '{DEFAULTS.vpc}'",
    )


# -- network interfaces --------------------------------------------------------------------------------


def test_no_interfaces_without_tasks_and_unknown_ids(ec2: Any) -> None:
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
    assert error_of(ec2.describe_network_interfaces, NetworkInterfaceIds=["eni-00000000000000000"]) == (
        "InvalidNetworkInterfaceID.NotFound",
        "The networkInterface ID 'eni-00000000000000000' does not exist",
    )


def test_an_unimplemented_ec2_operation_answers_in_ec2s_error_shape(ec2: Any) -> None:
    code, message = error_of(ec2.describe_instances)
    assert (code, message) == (
        "NotImplemented",
        "The DescribeInstances operation of ec2 is not implemented in ecslite yet.",
    )


def test_the_aws_cli_speaks_ec2(aws: Any) -> None:
    subnets = aws(
        "ec2", "describe-subnets", "--filters", "Name=default-for-az,Values=true", "--query", "Subnets[].SubnetId"
    )
    assert subnets == list(DEFAULTS.subnets)
    group = aws("ec2", "create-security-group", "--group-name", "cli", "--description", "from the CLI")
    assert group["GroupId"].startswith("sg-")
    aws(
        "ec2",
        "authorize-security-group-ingress",
        "--group-id",
        group["GroupId"],
        "--protocol",
        "tcp",
        "--port",
        "8000",
        "--cidr",
        "0.0.0.0/0",
    )
    described = aws("ec2", "describe-security-groups", "--group-ids", group["GroupId"])["SecurityGroups"][0]
    assert described["IpPermissions"][0]["FromPort"] == 8000
