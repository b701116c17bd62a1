"""DescribeRouteTables and DescribeVpnGateways through boto3: each VPC's main route table (the default
VPC's with a route to its internet gateway, so lookups such as the CDK's ``Vpc.fromLookup`` see its
subnets as public), the usual id and filter rules, and no VPN gateways."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_client
from tests.integration.test_tasks_helpers import error_of


@pytest.fixture
def ec2(endpoint: str) -> Any:
    return make_client("ec2", endpoint)


def test_each_vpc_has_a_main_route_table(ec2: Any) -> None:
    [default] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    [table] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [default["VpcId"]]}])["RouteTables"]
    assert table["RouteTableId"].startswith("rtb-")
    [association] = table["Associations"]
    assert association["Main"] is True and "SubnetId" not in association
    routes = {r["DestinationCidrBlock"]: r["GatewayId"] for r in table["Routes"]}
    assert routes[default["CidrBlock"]] == "local"
    assert routes["0.0.0.0/0"].startswith("igw-")

    made = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    [own] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [made]}])["RouteTables"]
    # A new VPC has no internet gateway in ecslite: only its local route.
    assert [r["GatewayId"] for r in own["Routes"]] == ["local"]
    assert own["RouteTableId"] != table["RouteTableId"]
    # Ids stay the same from call to call, and answer by id and by filter.
    by_id = ec2.describe_route_tables(RouteTableIds=[own["RouteTableId"]])["RouteTables"]
    assert by_id == [own]
    mains = ec2.describe_route_tables(Filters=[{"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    assert {t["RouteTableId"] for t in mains} == {table["RouteTableId"], own["RouteTableId"]}
    assert (
        ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": ["subnet-1"]}])["RouteTables"]
        == []
    )

    assert error_of(lambda: ec2.describe_route_tables(RouteTableIds=["rtb-0123456789abcdef0"]))[0] == (
        "InvalidRouteTableID.NotFound"
    )
    assert error_of(lambda: ec2.describe_route_tables(Filters=[{"Name": "nope", "Values": ["x"]}]))[0] == (
        "InvalidParameterValue"
    )


def test_there_are_no_vpn_gateways(ec2: Any) -> None:
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    filters = [{"Name": "attachment.vpc-id", "Values": [vpc]}, {"Name": "state", "Values": ["available"]}]
    assert ec2.describe_vpn_gateways(Filters=filters)["VpnGateways"] == []
    assert error_of(lambda: ec2.describe_vpn_gateways(VpnGatewayIds=["vgw-0123456789abcdef0"]))[0] == (
        "InvalidVpnGatewayID.NotFound"
    )
