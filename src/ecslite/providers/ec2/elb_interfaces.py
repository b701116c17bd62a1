"""The network interfaces of load balancers, as EC2 shows them (DescribeNetworkInterfaces).

ELBv2 stores one address per subnet of a load balancer (``store.elbv2.allocate_address``: a
``network_interfaces`` row of kind ``elb`` whose ``task_arn`` is the load balancer's ARN) and
nothing more; its EC2 document is made here on every read from that row, the load balancer and
the groups it has now, so a change of the load balancer shows at once. What AWS shows for an
ALB's interface: ``Description`` ``ELB app/<name>/<id>``, requested and attached by
``amazon-elb`` (an ``ela-attach-`` attachment), ``in-use``, the load balancer's security groups.

Invariants: the MAC and the attachment id are derived from the interface id, so every read
shows the same ones; an internet-facing load balancer's interface has an ``Association`` whose
``PublicIp`` is its own address (**local model**, as for a task launched with
``assignPublicIp ENABLED``: the address this host reaches it at).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ecslite.model.task_launch import private_dns_name
from ecslite.store import elbv2 as elb_store
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database

Doc = dict[str, Any]
ELB_KIND = elb_store.ADDRESS_KIND
REQUESTER = "amazon-elb"
ATTACHMENT_HEX = 17


def _digest(interface_id: str, purpose: str) -> bytes:
    return hashlib.sha256(f"{purpose}/{interface_id}".encode()).digest()


def interface_mac(interface_id: str) -> str:
    """A locally administered unicast MAC (``0e:…``, as AWS gives ENIs), fixed by the interface id."""
    return "0e:" + ":".join(f"{b:02x}" for b in _digest(interface_id, "mac")[:5])


def attachment_id(interface_id: str) -> str:
    return "ela-attach-" + _digest(interface_id, "attachment").hex()[:ATTACHMENT_HEX]


def description(balancer: Doc) -> str:
    """``ELB app/<name>/<id>``: the load balancer's ARN after ``loadbalancer/``."""
    return "ELB " + str(balancer["LoadBalancerArn"]).split(":loadbalancer/", 1)[1]


def elb_interface_doc(db: Database, account: str, region: str, interface: vpc_store.Interface) -> Doc | None:
    """The EC2 document of a load balancer's interface; ``None`` once the load balancer is gone."""
    balancer = elb_store.get_load_balancer(db, interface.task_arn or "")
    if balancer is None:
        return None
    subnet = vpc_store.get_subnet(db, account, region, interface.subnet_id or "")
    zone = subnet["AvailabilityZone"] if subnet else _zone_of(balancer, interface.subnet_id)
    groups = [vpc_store.get_group(db, account, region, group_id) for group_id in balancer.get("SecurityGroups") or ()]
    dns = private_dns_name(region, interface.address)
    private: Doc = {"Primary": True, "PrivateIpAddress": interface.address, "PrivateDnsName": dns}
    doc: Doc = {
        "NetworkInterfaceId": interface.id,
        "Description": description(balancer),
        "InterfaceType": "interface",
        "Status": "in-use",
        "SubnetId": interface.subnet_id,
        "VpcId": interface.vpc_id,
        "AvailabilityZone": zone,
        "MacAddress": interface.mac or interface_mac(interface.id),
        "OwnerId": account,
        "PrivateIpAddress": interface.address,
        "PrivateDnsName": dns,
        "PrivateIpAddresses": [private],
        "Groups": [{"GroupId": g["GroupId"], "GroupName": g["GroupName"]} for g in groups if g is not None],
        "Ipv6Addresses": [],
        "RequesterManaged": True,
        "RequesterId": REQUESTER,
        "SourceDestCheck": True,
        "TagSet": [],
        "Attachment": {
            "AttachmentId": attachment_id(interface.id),
            "AttachTime": balancer["CreatedTime"],
            "DeleteOnTermination": False,
            "DeviceIndex": 1,
            "NetworkCardIndex": 0,
            "Status": "attached",
            "InstanceOwnerId": REQUESTER,
        },
    }
    if balancer.get("Scheme") == "internet-facing":
        association = {"IpOwnerId": REQUESTER, "PublicIp": interface.address, "PublicDnsName": ""}
        doc["Association"] = association
        private["Association"] = dict(association)
    return doc


def _zone_of(balancer: Doc, subnet_id: str | None) -> str:
    for zone in balancer.get("AvailabilityZones") or ():
        if zone.get("SubnetId") == subnet_id:
            return str(zone.get("ZoneName", ""))
    return ""


def balancers_with_group(db: Database, account: str, region: str, group_id: str) -> list[str]:
    """ARNs of the partition's load balancers whose interfaces carry ``group_id``."""
    return [
        str(doc["LoadBalancerArn"])
        for _, doc in elb_store.load_balancers(db, account, region)
        if group_id in (doc.get("SecurityGroups") or ())
    ]
