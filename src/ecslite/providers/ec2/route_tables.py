"""Route tables and VPN gateways as far as lookups need them: DescribeRouteTables, DescribeVpnGateways.

**Local model**: ecslite routes every subnet of every VPC through its host bridge, so no route table is
stored: each VPC shows one main route table (no explicit subnet associations) with its ``local``
route, and the default VPC's also with ``0.0.0.0/0`` through its internet gateway, as a new AWS
account's default VPC has. Their ids are derived from the VPC's, so they stay the same across calls
and restarts. There are no VPN gateways. This is what the AWS CDK's ``Vpc.fromLookup`` reads to tell
public subnets from private ones.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ec2 import errors
from ecslite.providers.ec2.common import Doc, Ec2Base, Values, yes
from ecslite.store import vpc as vpc_store

ROUTE_TABLE_FILTERS = (
    "route-table-id",
    "vpc-id",
    "owner-id",
    "association.main",
    "association.route-table-id",
    "association.route-table-association-id",
    "association.subnet-id",
    "route.destination-cidr-block",
    "route.gateway-id",
    "route.state",
    "route.origin",
)
VPN_GATEWAY_FILTERS = ("attachment.vpc-id", "attachment.state", "state", "type", "vpn-gateway-id", "amazon-side-asn")


def _derived(prefix: str, vpc_id: str) -> str:
    return f"{prefix}-{hashlib.sha256(f'{prefix}:{vpc_id}'.encode()).hexdigest()[:17]}"


def internet_gateway_id(vpc_id: str) -> str:
    return _derived("igw", vpc_id)


def main_route_table(vpc: Doc) -> Doc:
    vpc_id = str(vpc["VpcId"])
    table_id = _derived("rtb", vpc_id)
    routes: list[Doc] = [
        {
            "DestinationCidrBlock": vpc["CidrBlock"],
            "GatewayId": "local",
            "Origin": "CreateRouteTable",
            "State": "active",
        }
    ]
    if vpc.get("IsDefault"):
        routes.append(
            {
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": internet_gateway_id(vpc_id),
                "Origin": "CreateRoute",
                "State": "active",
            }
        )
    return {
        "RouteTableId": table_id,
        "VpcId": vpc_id,
        "OwnerId": vpc["OwnerId"],
        "Associations": [
            {
                "Main": True,
                "RouteTableAssociationId": _derived("rtbassoc", vpc_id),
                "RouteTableId": table_id,
                "AssociationState": {"State": "associated"},
            }
        ],
        "Routes": routes,
        "PropagatingVgws": [],
        "Tags": [],
    }


def route_table_values(doc: Doc) -> Values:
    associations = doc["Associations"]
    return {
        "route-table-id": [doc["RouteTableId"]],
        "vpc-id": [doc["VpcId"]],
        "owner-id": [doc["OwnerId"]],
        "association.main": [yes(bool(a.get("Main"))) for a in associations],
        "association.route-table-id": [a["RouteTableId"] for a in associations],
        "association.route-table-association-id": [a["RouteTableAssociationId"] for a in associations],
        "association.subnet-id": [a["SubnetId"] for a in associations if a.get("SubnetId")],
        "route.destination-cidr-block": [r["DestinationCidrBlock"] for r in doc["Routes"]],
        "route.gateway-id": [r["GatewayId"] for r in doc["Routes"]],
        "route.state": [r["State"] for r in doc["Routes"]],
        "route.origin": [r["Origin"] for r in doc["Routes"]],
    }


class RouteTableOps(Ec2Base):
    def describe_route_tables(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        for table_id in params.get("RouteTableIds") or ():
            if not table_id.startswith("rtb-"):
                raise errors.malformed("InvalidRouteTableID.Malformed", table_id, "rtb")
        rows = [(rid, main_route_table(vpc)) for rid, vpc in vpc_store.vpcs(self.db, ctx.account, ctx.region)]
        return self.describe(
            params,
            rows,
            ids_param="RouteTableIds",
            id_key="RouteTableId",
            not_found=lambda table_id: errors.Ec2Error(
                "InvalidRouteTableID.NotFound", f"The routeTable ID '{table_id}' does not exist"
            ),
            filter_values=route_table_values,
            known_filters=ROUTE_TABLE_FILTERS,
            result_key="RouteTables",
        )

    def describe_vpn_gateways(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self.describe(
            params,
            [],
            ids_param="VpnGatewayIds",
            id_key="VpnGatewayId",
            not_found=lambda gateway_id: errors.Ec2Error(
                "InvalidVpnGatewayID.NotFound", f"The vpnGateway ID '{gateway_id}' does not exist"
            ),
            filter_values=lambda doc: {},
            known_filters=VPN_GATEWAY_FILTERS,
            result_key="VpnGateways",
            pageable=False,
        )
