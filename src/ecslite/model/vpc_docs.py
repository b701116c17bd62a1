"""The stored documents of the virtual VPC, in EC2's own shapes (what Describe* returns).

Pure builders shared by the EC2 provider (user-created resources), the default-VPC set-up that
runs on a partition's first use, and the task controller (a task's ENI). Field names are EC2's
(``VpcId``, ``CidrBlock``); values that change with use (a subnet's free address count, a group's
rules) are filled in by the provider when it answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecslite.model.task_launch import private_dns_name
from ecslite.model.vpc import new_id, stable_id, zone_id

Doc = dict[str, Any]
ALL_TRAFFIC = "-1"


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tags_of(doc: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in doc.get("Tags") or ()}


def vpc_doc(account: str, region: str, vpc_id: str, cidr: str, *, default: bool, tags: Mapping[str, str]) -> Doc:
    return {
        "VpcId": vpc_id,
        "CidrBlock": cidr,
        "State": "available",
        "OwnerId": account,
        "InstanceTenancy": "default",
        "DhcpOptionsId": stable_id("dopt", account, region),
        "IsDefault": default,
        "CidrBlockAssociationSet": [
            {
                "AssociationId": stable_id("vpc-cidr-assoc", vpc_id, cidr),
                "CidrBlock": cidr,
                "CidrBlockState": {"State": "associated"},
            }
        ],
        "Ipv6CidrBlockAssociationSet": [],
        "Tags": tag_list(tags),
    }


def subnet_doc(
    account: str,
    region: str,
    subnet_id: str,
    vpc_id: str,
    cidr: str,
    zone: str,
    *,
    default: bool,
    tags: Mapping[str, str],
) -> Doc:
    return {
        "SubnetId": subnet_id,
        "SubnetArn": f"arn:aws:ec2:{region}:{account}:subnet/{subnet_id}",
        "VpcId": vpc_id,
        "CidrBlock": cidr,
        "AvailabilityZone": zone,
        "AvailabilityZoneId": zone_id(region, zone),
        "State": "available",
        "OwnerId": account,
        "DefaultForAz": default,
        # AWS's default subnets give public addresses on launch; subnets users create do not.
        "MapPublicIpOnLaunch": default,
        "MapCustomerOwnedIpOnLaunch": False,
        "AssignIpv6AddressOnCreation": False,
        "Ipv6CidrBlockAssociationSet": [],
        "EnableDns64": False,
        "Ipv6Native": False,
        "PrivateDnsNameOptionsOnLaunch": {
            "HostnameType": "ip-name",
            "EnableResourceNameDnsARecord": False,
            "EnableResourceNameDnsAAAARecord": False,
        },
        "Tags": tag_list(tags),
    }


def egress_all() -> list[Doc]:
    return [
        {
            "IpProtocol": ALL_TRAFFIC,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            "Ipv6Ranges": [],
            "PrefixListIds": [],
            "UserIdGroupPairs": [],
        }
    ]


def security_group_doc(
    account: str,
    region: str,
    group_id: str,
    vpc_id: str,
    name: str,
    description: str,
    *,
    tags: Mapping[str, str],
    self_ingress: bool = False,
) -> Doc:
    """A group with EC2's default egress rule; the default group also lets its members talk to each other."""
    ingress: list[Doc] = []
    if self_ingress:
        ingress.append(
            {
                "IpProtocol": ALL_TRAFFIC,
                "IpRanges": [],
                "Ipv6Ranges": [],
                "PrefixListIds": [],
                "UserIdGroupPairs": [{"GroupId": group_id, "UserId": account}],
            }
        )
    return {
        "GroupId": group_id,
        "GroupName": name,
        "Description": description,
        "VpcId": vpc_id,
        "OwnerId": account,
        "SecurityGroupArn": f"arn:aws:ec2:{region}:{account}:security-group/{group_id}",
        "IpPermissions": ingress,
        "IpPermissionsEgress": egress_all(),
        "Tags": tag_list(tags),
    }


@dataclass(frozen=True, slots=True)
class EniFacts:
    """What a task's ENI is made of: chosen by the task controller when it allocates it (§3.7)."""

    account: str
    region: str
    eni_id: str
    subnet: Mapping[str, Any]  # the subnet's stored document
    address: str
    mac: str
    groups: Sequence[Mapping[str, Any]]  # stored security group documents
    attachment_id: str  # the ECS attachment id; EC2 shows it in the description
    public: bool  # assignPublicIp ENABLED
    attached_at: float
    instance_id: str | None = None  # EC2 launch type: the container instance's EC2 id


def eni_doc(facts: EniFacts) -> Doc:
    """The ENI as DescribeNetworkInterfaces shows one ECS created for a task."""
    subnet = facts.subnet
    dns = private_dns_name(facts.region, facts.address)
    private: Doc = {"Primary": True, "PrivateIpAddress": facts.address, "PrivateDnsName": dns}
    doc: Doc = {
        "NetworkInterfaceId": facts.eni_id,
        "Description": f"arn:aws:ecs:{facts.region}:{facts.account}:attachment/{facts.attachment_id}",
        "InterfaceType": "interface",
        "Status": "in-use",
        "SubnetId": subnet["SubnetId"],
        "VpcId": subnet["VpcId"],
        "AvailabilityZone": subnet["AvailabilityZone"],
        "MacAddress": facts.mac,
        "OwnerId": facts.account,
        "PrivateIpAddress": facts.address,
        "PrivateDnsName": dns,
        "PrivateIpAddresses": [private],
        "Groups": [{"GroupId": g["GroupId"], "GroupName": g["GroupName"]} for g in facts.groups],
        "Ipv6Addresses": [],
        "RequesterManaged": True,
        "RequesterId": "amazon-ecs" if facts.instance_id else "amazon-aws",
        "SourceDestCheck": True,
        "TagSet": [],
        "Attachment": {
            "AttachmentId": new_id("eni-attach"),
            "AttachTime": facts.attached_at,
            "DeleteOnTermination": False,
            "DeviceIndex": 1,
            "NetworkCardIndex": 0,
            "Status": "attached",
            "InstanceOwnerId": facts.account if facts.instance_id else "amazon-aws",
        },
    }
    if facts.instance_id:
        doc["Attachment"]["InstanceId"] = facts.instance_id
    if facts.public:
        # Local model (spec §1.2): the "public" address is the one reachable from this host, the
        # task's own address on the bridge; seed 000 reads it from here.
        association = {"IpOwnerId": "amazon", "PublicIp": facts.address, "PublicDnsName": ""}
        doc["Association"] = association
        private["Association"] = dict(association)
    return doc
