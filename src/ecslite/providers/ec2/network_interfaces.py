"""DescribeNetworkInterfaces: the ENIs ECS made for awsvpc tasks, with their real addresses.

ENIs are created and deleted by the task controller (allocated before the task's sandbox, freed
when the task is STOPPED); EC2 only shows them. Seed 000 reads ``Association.PublicIp`` of a task
launched with ``assignPublicIp ENABLED`` — locally the address the task is reachable at.
"""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ec2 import errors
from ecslite.providers.ec2.common import Doc, Ec2Base, Values, yes
from ecslite.store import vpc as vpc_store

INTERFACE_FILTERS = (
    "network-interface-id",
    "subnet-id",
    "vpc-id",
    "availability-zone",
    "addresses.private-ip-address",
    "addresses.primary",
    "private-ip-address",
    "private-dns-name",
    "status",
    "mac-address",
    "description",
    "group-id",
    "group-name",
    "interface-type",
    "owner-id",
    "requester-id",
    "requester-managed",
    "attachment.status",
    "attachment.instance-id",
    "association.public-ip",
)


def interface_values(doc: Doc) -> Values:
    association = doc.get("Association") or {}
    return {
        "network-interface-id": [doc["NetworkInterfaceId"]],
        "subnet-id": [doc["SubnetId"]],
        "vpc-id": [doc["VpcId"]],
        "availability-zone": [doc["AvailabilityZone"]],
        "addresses.private-ip-address": [a["PrivateIpAddress"] for a in doc["PrivateIpAddresses"]],
        "addresses.primary": ["true"],
        "private-ip-address": [doc["PrivateIpAddress"]],
        "private-dns-name": [doc["PrivateDnsName"]],
        "status": [doc["Status"]],
        "mac-address": [doc["MacAddress"]],
        "description": [doc["Description"]],
        "group-id": [g["GroupId"] for g in doc["Groups"]],
        "group-name": [g["GroupName"] for g in doc["Groups"]],
        "interface-type": [doc["InterfaceType"]],
        "owner-id": [doc["OwnerId"]],
        "requester-id": [doc["RequesterId"]],
        "requester-managed": [yes(doc["RequesterManaged"])],
        "attachment.status": [doc["Attachment"]["Status"]],
        "attachment.instance-id": [doc["Attachment"].get("InstanceId", "")],
        "association.public-ip": [association["PublicIp"]] if association else [],
    }


class NetworkInterfaceOps(Ec2Base):
    def describe_network_interfaces(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        for interface_id in params.get("NetworkInterfaceIds") or ():
            if not interface_id.startswith("eni-"):
                raise errors.malformed("InvalidNetworkInterfaceID.Malformed", interface_id, "eni")
        rows = [(rid, eni.doc) for rid, eni in vpc_store.enis(self.db, ctx.account, ctx.region)]
        return self.describe(
            params,
            rows,
            ids_param="NetworkInterfaceIds",
            id_key="NetworkInterfaceId",
            not_found=errors.interface_not_found,
            filter_values=interface_values,
            known_filters=INTERFACE_FILTERS,
            result_key="NetworkInterfaces",
        )
