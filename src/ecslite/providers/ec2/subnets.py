"""Subnets: CreateSubnet, DescribeSubnets, DeleteSubnet.

Beside AWS's own rules (inside the VPC's CIDR, /16–/28, no overlap within the VPC, a zone of the
region), ecslite refuses a subnet that would break the one host bridge every task network shares
(model.vpc): a CIDR partly overlapping a subnet of another VPC (the same CIDR is fine: the two
share one address pool), or one overlapping the bridge-mode range. The error says why.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

from ecslite.model.vpc import (
    conflict,
    default_layout,
    new_id,
    parse_cidr,
    size_ok,
    usable_count,
    zone_id,
    zone_names,
)
from ecslite.model.vpc_docs import subnet_doc
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ec2 import errors
from ecslite.providers.ec2.common import Doc, Ec2Base, Values, yes
from ecslite.store import vpc as vpc_store

SUBNET_FILTERS = (
    "subnet-id",
    "subnet-arn",
    "vpc-id",
    "availability-zone",
    "availabilityZone",
    "availability-zone-id",
    "cidr-block",
    "cidr",
    "cidrBlock",
    "default-for-az",
    "defaultForAz",
    "state",
    "owner-id",
    "map-public-ip-on-launch",
)


def subnet_values(doc: Doc) -> Values:
    return {
        "subnet-id": [doc["SubnetId"]],
        "subnet-arn": [doc["SubnetArn"]],
        "vpc-id": [doc["VpcId"]],
        "availability-zone": [doc["AvailabilityZone"]],
        "availabilityZone": [doc["AvailabilityZone"]],
        "availability-zone-id": [doc["AvailabilityZoneId"]],
        "cidr-block": [doc["CidrBlock"]],
        "cidr": [doc["CidrBlock"]],
        "cidrBlock": [doc["CidrBlock"]],
        "default-for-az": [yes(doc["DefaultForAz"])],
        "defaultForAz": [yes(doc["DefaultForAz"])],
        "state": [doc["State"]],
        "owner-id": [doc["OwnerId"]],
        "map-public-ip-on-launch": [yes(doc["MapPublicIpOnLaunch"])],
    }


class SubnetOps(Ec2Base):
    def describe_subnets(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        for subnet_id in params.get("SubnetIds") or ():
            if not subnet_id.startswith("subnet-"):
                raise errors.malformed("InvalidSubnetID.Malformed", subnet_id, "subnet")
        rows = [(rid, self.with_free_count(doc)) for rid, doc in vpc_store.subnets(self.db, ctx.account, ctx.region)]
        return self.describe(
            params,
            rows,
            ids_param="SubnetIds",
            id_key="SubnetId",
            not_found=errors.subnet_not_found,
            filter_values=subnet_values,
            known_filters=SUBNET_FILTERS,
            result_key="Subnets",
        )

    def with_free_count(self, doc: Doc) -> Doc:
        used = vpc_store.addresses_in_pool(self.db, doc["CidrBlock"])
        return {**doc, "AvailableIpAddressCount": usable_count(doc["CidrBlock"]) - used}

    def create_subnet(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        self.check_dry_run(params)
        vpc = self.vpc(ctx, params["VpcId"])
        text = params.get("CidrBlock")
        if not text:
            raise errors.Ec2Error("MissingParameter", "The request must contain the parameter cidrBlock")
        cidr = parse_cidr(text)
        if cidr is None:
            raise errors.bad_cidr(text, "cidrBlock")
        if not size_ok(cidr) or not cidr.subnet_of(IPv4Network(vpc["CidrBlock"])):
            raise errors.Ec2Error("InvalidSubnet.Range", f"The CIDR '{text}' is invalid.")
        self._check_conflicts(ctx, vpc, cidr)
        self.check_routable(cidr, "subnet")
        zone = self._zone(ctx, vpc["VpcId"], params)
        tags = self.spec_tags(params, "subnet")
        doc = subnet_doc(
            ctx.account, ctx.region, new_id("subnet"), vpc["VpcId"], str(cidr), zone, default=False, tags=tags
        )
        with self.db.transaction():
            vpc_store.put_subnet(self.db, ctx.account, ctx.region, doc)
        return {"Subnet": self.with_free_count(doc)}

    def _check_conflicts(self, ctx: RequestContext, vpc: Doc, cidr: IPv4Network) -> None:
        text = str(cidr)
        same_vpc = [d["CidrBlock"] for _, d in vpc_store.subnets(self.db, ctx.account, ctx.region, vpc["VpcId"])]
        if any(IPv4Network(other).overlaps(cidr) for other in same_vpc):
            raise errors.Ec2Error("InvalidSubnet.Conflict", f"The CIDR '{text}' conflicts with another subnet")
        bridge = default_layout(self.settings.vpc_cidr).bridge_range
        if cidr.overlaps(bridge):
            raise errors.Ec2Error(
                "InvalidSubnet.Conflict",
                f"The CIDR '{text}' conflicts with another subnet: {bridge} is this ecslite server's range for "
                "bridge network mode tasks (the last block of --vpc-cidr); choose a CIDR outside it.",
            )
        other = conflict(cidr, vpc_store.subnet_cidrs_on_host(self.db))
        if other is not None:
            raise errors.Ec2Error(
                "InvalidSubnet.Conflict",
                f"The CIDR '{text}' conflicts with another subnet: every subnet of every VPC shares this host's "
                f"bridge, so a subnet may repeat another's CIDR exactly but not partly overlap it ({other}).",
            )

    def _zone(self, ctx: RequestContext, vpc_id: str, params: Params) -> str:
        zones = zone_names(ctx.region)
        wanted = params.get("AvailabilityZone")
        if wanted is None and params.get("AvailabilityZoneId"):
            by_id = {zone_id(ctx.region, z): z for z in zones}
            wanted = by_id.get(params["AvailabilityZoneId"])
            if wanted is None:
                raise errors.invalid_value(
                    f"Value ({params['AvailabilityZoneId']}) for parameter availabilityZoneId is invalid. "
                    f"Subnets can currently only be created in the following availability zones: "
                    f"{', '.join(by_id)}."
                )
        if wanted is None:
            # AWS picks a zone; ecslite takes the one with the fewest subnets of this VPC.
            counts = {z: 0 for z in zones}
            for _, doc in vpc_store.subnets(self.db, ctx.account, ctx.region, vpc_id):
                counts[doc["AvailabilityZone"]] = counts.get(doc["AvailabilityZone"], 0) + 1
            return min(zones, key=lambda z: counts[z])
        if wanted not in zones:
            raise errors.invalid_value(
                f"Value ({wanted}) for parameter availabilityZone is invalid. Subnets can currently only be "
                f"created in the following availability zones: {', '.join(zones)}."
            )
        return str(wanted)

    def delete_subnet(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        self.check_dry_run(params)
        subnet_id = params["SubnetId"]
        if not subnet_id.startswith("subnet-"):
            raise errors.malformed("InvalidSubnetID.Malformed", subnet_id, "subnet")
        if vpc_store.get_subnet(self.db, ctx.account, ctx.region, subnet_id) is None:
            raise errors.subnet_not_found(subnet_id)
        in_use = vpc_store.interfaces_in_subnet(self.db, ctx.account, ctx.region, subnet_id)
        if in_use or vpc_store.tasks_using_subnet(self.db, ctx.account, ctx.region, subnet_id):
            raise errors.dependency(f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
        with self.db.transaction():
            vpc_store.delete_subnet(self.db, ctx.account, ctx.region, subnet_id)
        return {}
