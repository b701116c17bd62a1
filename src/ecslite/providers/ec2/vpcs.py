"""VPCs and availability zones: CreateVpc, DescribeVpcs, DeleteVpc, DescribeAvailabilityZones.

**Local model**: a VPC is an address plan; its subnets' gateways live on the host bridge (see
model.vpc for what may share it). CreateVpc also creates the VPC's ``default`` security group,
as AWS does. Deleting a VPC needs its subnets and non-default groups gone first.
"""

from __future__ import annotations

from typing import Any

from ecslite.model.vpc import new_id, parse_cidr, size_ok, usable, zone_id, zone_names
from ecslite.model.vpc_docs import vpc_doc
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ec2 import errors
from ecslite.providers.ec2.common import Doc, Ec2Base, Values, yes
from ecslite.store import vpc as vpc_store

VPC_FILTERS = (
    "vpc-id",
    "cidr",
    "cidr-block-association.cidr-block",
    "cidr-block-association.state",
    "is-default",
    "isDefault",
    "state",
    "owner-id",
    "dhcp-options-id",
)
ZONE_FILTERS = ("zone-name", "zone-id", "state", "region-name", "group-name", "zone-type", "opt-in-status")


def vpc_values(doc: Doc) -> Values:
    return {
        "vpc-id": [doc["VpcId"]],
        "cidr": [doc["CidrBlock"]],
        "cidr-block-association.cidr-block": [doc["CidrBlock"]],
        "cidr-block-association.state": ["associated"],
        "is-default": [yes(doc["IsDefault"])],
        "isDefault": [yes(doc["IsDefault"])],
        "state": [doc["State"]],
        "owner-id": [doc["OwnerId"]],
        "dhcp-options-id": [doc["DhcpOptionsId"]],
    }


class VpcOps(Ec2Base):
    def describe_vpcs(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        for vpc_id in params.get("VpcIds") or ():
            if not vpc_id.startswith("vpc-"):
                raise errors.malformed("InvalidVpcID.Malformed", vpc_id, "vpc")
        return self.describe(
            params,
            vpc_store.vpcs(self.db, ctx.account, ctx.region),
            ids_param="VpcIds",
            id_key="VpcId",
            not_found=errors.vpc_not_found,
            filter_values=vpc_values,
            known_filters=VPC_FILTERS,
            result_key="Vpcs",
        )

    def create_vpc(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        self.check_dry_run(params)
        text = params.get("CidrBlock")
        if not text:
            raise errors.Ec2Error(
                "MissingParameter",
                "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided. ecslite's VPCs need a cidrBlock.",
            )
        cidr = parse_cidr(text)
        if cidr is None:
            raise errors.bad_cidr(text, "cidrBlock")
        if not size_ok(cidr) or not usable(cidr):
            raise errors.Ec2Error("InvalidVpc.Range", f"The CIDR '{text}' is invalid.")
        self.check_routable(cidr, "VPC")
        tags = self.spec_tags(params, "vpc")
        vpc_id = new_id("vpc")
        doc = vpc_doc(ctx.account, ctx.region, vpc_id, str(cidr), default=False, tags=tags)
        if params.get("InstanceTenancy"):
            doc["InstanceTenancy"] = params["InstanceTenancy"]
        with self.db.transaction():
            vpc_store.put_vpc(self.db, ctx.account, ctx.region, doc)
            vpc_store.put_default_group(self.db, ctx.account, ctx.region, vpc_id, new_id("sg"))
        # AWS answers while the VPC is still being set up; Describe shows it available.
        return {"Vpc": {**doc, "State": "pending"}}

    def delete_vpc(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        self.check_dry_run(params)
        vpc_id = params["VpcId"]
        self.vpc(ctx, vpc_id)
        subnets = vpc_store.subnets(self.db, ctx.account, ctx.region, vpc_id)
        groups = [
            doc
            for _, doc in vpc_store.groups(self.db, ctx.account, ctx.region)
            if doc["VpcId"] == vpc_id and doc["GroupName"] != vpc_store.DEFAULT_GROUP
        ]
        if subnets or groups:
            raise errors.dependency(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
        with self.db.transaction():
            vpc_store.delete_vpc(self.db, ctx.account, ctx.region, vpc_id)
        return {}

    def describe_availability_zones(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        zones = [self._zone_doc(ctx.region, name) for name in zone_names(ctx.region)]
        rows = list(enumerate(zones, 1))
        for name in params.get("ZoneNames") or ():
            if name not in zone_names(ctx.region):
                raise errors.invalid_value(f"The zone '{name}' does not exist.")
        wanted_ids = set(params.get("ZoneIds") or ())
        unknown = wanted_ids - {z["ZoneId"] for z in zones}
        if unknown:
            raise errors.invalid_value(f"The zone id '{sorted(unknown)[0]}' does not exist.")
        if wanted_ids:
            rows = [(i, z) for i, z in rows if z["ZoneId"] in wanted_ids]
        return self.describe(
            params,
            rows,
            ids_param="ZoneNames",
            id_key="ZoneName",
            not_found=lambda name: errors.invalid_value(f"The zone '{name}' does not exist."),
            filter_values=lambda z: {
                "zone-name": [z["ZoneName"]],
                "zone-id": [z["ZoneId"]],
                "state": [z["State"]],
                "region-name": [z["RegionName"]],
                "group-name": [z["GroupName"]],
                "zone-type": [z["ZoneType"]],
                "opt-in-status": [z["OptInStatus"]],
            },
            known_filters=ZONE_FILTERS,
            result_key="AvailabilityZones",
            pageable=False,
        )

    @staticmethod
    def _zone_doc(region: str, name: str) -> Doc:
        return {
            "State": "available",
            "OptInStatus": "opt-in-not-required",
            "Messages": [],
            "RegionName": region,
            "ZoneName": name,
            "ZoneId": zone_id(region, name),
            "GroupName": region,
            "NetworkBorderGroup": region,
            "ZoneType": "availability-zone",
            "GroupLongName": region,
        }
