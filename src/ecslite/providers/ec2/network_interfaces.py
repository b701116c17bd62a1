"""DescribeNetworkInterfaces, DeleteNetworkInterface: the ENIs ECS made for awsvpc tasks and those
of load balancers (:mod:`.elb_interfaces`), with their real addresses.

ENIs are created and deleted by the task controller (allocated before the task's sandbox, freed
when the task is STOPPED) and by ELBv2 (with each load balancer); EC2 only shows them, in
allocation order. Seed 000 reads ``Association.PublicIp`` of a task launched with
``assignPublicIp ENABLED`` — locally the address the task is reachable at.

Every interface here is requester-managed and attached while it exists, so DeleteNetworkInterface
of one is always refused, with AWS's words for an interface in use; it goes with its task or load
balancer.
"""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ec2 import errors
from ecslite.providers.ec2.common import Doc, Ec2Base, Values, yes
from ecslite.providers.ec2.elb_interfaces import ELB_KIND, elb_interface_doc
from ecslite.store import vpc as vpc_store

TASK_KIND = "eni"

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
    "attachment.instance-owner-id",
    "attachment.attachment-id",
    "attachment.device-index",
    "attachment.delete-on-termination",
    "association.public-ip",
)


def interface_values(doc: Doc) -> Values:
    association = doc.get("Association") or {}
    attachment = doc["Attachment"]
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
        "attachment.status": [attachment["Status"]],
        "attachment.instance-id": [attachment["InstanceId"]] if "InstanceId" in attachment else [],
        "attachment.instance-owner-id": [attachment["InstanceOwnerId"]],
        "attachment.attachment-id": [attachment["AttachmentId"]],
        "attachment.device-index": [str(attachment["DeviceIndex"])],
        "attachment.delete-on-termination": [yes(attachment["DeleteOnTermination"])],
        "association.public-ip": [association["PublicIp"]] if association else [],
    }


class NetworkInterfaceOps(Ec2Base):
    def describe_network_interfaces(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        for interface_id in params.get("NetworkInterfaceIds") or ():
            self._check_id(interface_id)
        return self.describe(
            params,
            self._interfaces(ctx),
            ids_param="NetworkInterfaceIds",
            id_key="NetworkInterfaceId",
            not_found=errors.interface_not_found,
            filter_values=interface_values,
            known_filters=INTERFACE_FILTERS,
            result_key="NetworkInterfaces",
        )

    def delete_network_interface(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        self.check_dry_run(params)
        interface_id = params["NetworkInterfaceId"]
        self._check_id(interface_id)
        if not any(doc["NetworkInterfaceId"] == interface_id for _, doc in self._interfaces(ctx)):
            raise errors.interface_not_found(interface_id)
        raise errors.interface_in_use(interface_id)

    @staticmethod
    def _check_id(interface_id: str) -> None:
        if not interface_id.startswith("eni-"):
            raise errors.malformed("InvalidNetworkInterfaceID.Malformed", interface_id, "eni")

    def _interfaces(self, ctx: RequestContext) -> list[tuple[int, Doc]]:
        rows: list[tuple[int, Doc]] = []
        for rid, interface in vpc_store.interfaces_of_kinds(self.db, ctx.account, ctx.region, (TASK_KIND, ELB_KIND)):
            if interface.kind == TASK_KIND:
                rows.append((rid, interface.doc))
                continue
            doc = elb_interface_doc(self.db, ctx.account, ctx.region, interface)
            if doc is not None:
                rows.append((rid, doc))
        return rows
