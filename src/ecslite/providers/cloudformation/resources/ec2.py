"""AWS::EC2::{VPC,Subnet,SecurityGroup,SecurityGroupIngress,SecurityGroupEgress}, as far as ecslite's EC2 goes.

``Ref`` is the VPC's, subnet's or security group's id; a group's inline ``SecurityGroupIngress``
rules are authorized after CreateSecurityGroup, as CloudFormation does.

**Local model** (ecslite's EC2 has no CreateTags, ModifyVpcAttribute, ModifySubnetAttribute,
AuthorizeSecurityGroupEgress or RevokeSecurityGroup*):
- tags are given at creation only, without CloudFormation's ``aws:`` tags (EC2 refuses the
  prefix from callers); later changes of ``Tags``, ``EnableDns*`` or ``MapPublicIpOnLaunch`` are
  accepted and change nothing (ecslite's resolver answers every VPC; there are no public addresses);
- ``SecurityGroupEgress`` is accepted and not recorded: groups keep EC2's default allow-all egress
  rule (groups are not enforced as a firewall here anyway, see docs/networking.md);
- an ingress rule added to a group is authorized in place; one taken away makes a new group; an
  AWS::EC2::SecurityGroupIngress that is deleted leaves its rule on a group that still exists;
- AWS::EC2::SecurityGroupEgress is accepted for templates that have it (the CDK's) and not recorded.
"""

from __future__ import annotations

from typing import Any

from ecslite.model.vpc import new_id
from ecslite.providers.cloudformation.resources.base import Doc, Physical, ResourceContext, ResourceHandler, register
from ecslite.providers.cloudformation.resources.common import remove, tag_list

GONE_GROUP = ("InvalidGroup.NotFound",)
DEPENDENCY = ("DependencyViolation",)


def _specs(rc: ResourceContext, props: Doc, kind: str) -> list[Doc]:
    tags = tag_list(rc, props, reserved=False)
    return [{"ResourceType": kind, "Tags": tags}] if tags else []


def _port(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def permission(rule: Doc, account: str) -> Doc:
    """A CloudFormation ingress rule (flat: ``CidrIp``, ``SourceSecurityGroupId``…) as an
    ``IpPermissions`` item."""
    out: Doc = {"IpProtocol": str(rule.get("IpProtocol", "-1"))}
    for key in ("FromPort", "ToPort"):
        port = _port(rule.get(key))
        if port is not None:
            out[key] = port
    described = {"Description": rule["Description"]} if rule.get("Description") else {}
    if rule.get("CidrIp"):
        out["IpRanges"] = [{"CidrIp": rule["CidrIp"], **described}]
    if rule.get("CidrIpv6"):
        out["Ipv6Ranges"] = [{"CidrIpv6": rule["CidrIpv6"], **described}]
    if rule.get("SourcePrefixListId"):
        out["PrefixListIds"] = [{"PrefixListId": rule["SourcePrefixListId"], **described}]
    if rule.get("SourceSecurityGroupId"):
        owner = str(rule.get("SourceSecurityGroupOwnerId") or account)
        out["UserIdGroupPairs"] = [{"GroupId": rule["SourceSecurityGroupId"], "UserId": owner, **described}]
    return out


async def _resolved(rc: ResourceContext, rule: Doc) -> Doc:
    """The rule with a ``SourceSecurityGroupName`` (a default VPC's group) turned into its id."""
    name = rule.get("SourceSecurityGroupName")
    if not name or rule.get("SourceSecurityGroupId"):
        return rule
    [group] = (await rc.call("ec2", "DescribeSecurityGroups", {"GroupNames": [name]}))["SecurityGroups"]
    return {**rule, "SourceSecurityGroupId": group["GroupId"]}


def _rule_key(rule: Doc) -> str:
    return repr(sorted((k, str(v)) for k, v in rule.items()))


@register
class VPC(ResourceHandler):
    type_name = "AWS::EC2::VPC"
    # DefaultNetworkAcl is not offered: ecslite's EC2 has no network ACLs.
    attributes = frozenset({"CidrBlock", "CidrBlockAssociations", "DefaultSecurityGroup", "Ipv6CidrBlocks", "VpcId"})
    replace_always = False
    replace_on = frozenset({"CidrBlock", "Ipv4IpamPoolId", "Ipv4NetmaskLength", "InstanceTenancy"})

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params: Doc = {"CidrBlock": props.get("CidrBlock"), "TagSpecifications": _specs(rc, props, "vpc")}
        if props.get("InstanceTenancy"):
            params["InstanceTenancy"] = props["InstanceTenancy"]
        vpc = (await rc.call("ec2", "CreateVpc", params))["Vpc"]
        async with self.finishing(rc, vpc["VpcId"], props, {"VpcId": vpc["VpcId"]}):
            return await self._physical(rc, vpc["VpcId"])

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        return await self._physical(rc, current.physical_id)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"VpcId": current.physical_id}
        await remove(rc, "ec2", "DeleteVpc", params, gone=("InvalidVpcID.NotFound",), busy=DEPENDENCY)

    @staticmethod
    async def _physical(rc: ResourceContext, vpc_id: str) -> Physical:
        [vpc] = (await rc.call("ec2", "DescribeVpcs", {"VpcIds": [vpc_id]}))["Vpcs"]
        filters = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
        groups = (await rc.call("ec2", "DescribeSecurityGroups", {"Filters": filters}))["SecurityGroups"]
        associations = [a["AssociationId"] for a in vpc.get("CidrBlockAssociationSet") or [] if a.get("AssociationId")]
        return Physical(
            vpc_id,
            {
                "CidrBlock": vpc["CidrBlock"],
                "CidrBlockAssociations": associations,
                "DefaultSecurityGroup": groups[0]["GroupId"] if groups else "",
                "Ipv6CidrBlocks": [],
                "VpcId": vpc_id,
            },
        )


@register
class Subnet(ResourceHandler):
    type_name = "AWS::EC2::Subnet"
    # NetworkAclAssociationId and OutpostArn are not offered: no network ACLs or Outposts here.
    attributes = frozenset(
        {"AvailabilityZone", "AvailabilityZoneId", "CidrBlock", "Ipv6CidrBlocks", "SubnetId", "VpcId"}
    )
    replace_always = False
    replace_on = frozenset({"VpcId", "CidrBlock", "AvailabilityZone", "AvailabilityZoneId", "Ipv4IpamPoolId"})

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params: Doc = {"VpcId": props.get("VpcId"), "CidrBlock": props.get("CidrBlock")}
        for key in ("AvailabilityZone", "AvailabilityZoneId"):
            if props.get(key):
                params[key] = props[key]
        params["TagSpecifications"] = _specs(rc, props, "subnet")
        subnet = (await rc.call("ec2", "CreateSubnet", params))["Subnet"]
        return self._physical(subnet)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        [subnet] = (await rc.call("ec2", "DescribeSubnets", {"SubnetIds": [current.physical_id]}))["Subnets"]
        return self._physical(subnet)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"SubnetId": current.physical_id}
        await remove(rc, "ec2", "DeleteSubnet", params, gone=("InvalidSubnetID.NotFound",), busy=DEPENDENCY)

    @staticmethod
    def _physical(subnet: Doc) -> Physical:
        return Physical(
            subnet["SubnetId"],
            {
                "AvailabilityZone": subnet["AvailabilityZone"],
                "AvailabilityZoneId": subnet.get("AvailabilityZoneId", ""),
                "CidrBlock": subnet["CidrBlock"],
                "Ipv6CidrBlocks": [],
                "SubnetId": subnet["SubnetId"],
                "VpcId": subnet["VpcId"],
            },
        )


@register
class SecurityGroup(ResourceHandler):
    type_name = "AWS::EC2::SecurityGroup"
    attributes = frozenset({"GroupId", "VpcId"})
    replace_always = False
    replace_on = frozenset({"GroupName", "GroupDescription", "VpcId"})
    name_property = "GroupName"

    def needs_replacement(self, old: Doc, new: Doc) -> bool:
        # Rules can be added in place but not taken away (no RevokeSecurityGroupIngress here).
        after = {_rule_key(r) for r in new.get("SecurityGroupIngress") or []}
        removed = any(_rule_key(r) not in after for r in old.get("SecurityGroupIngress") or [])
        return removed or super().needs_replacement(old, new)

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params: Doc = {
            "GroupName": props.get("GroupName") or rc.physical_name(255),
            "Description": props.get("GroupDescription"),
            "TagSpecifications": _specs(rc, props, "security-group"),
        }
        if props.get("VpcId"):
            params["VpcId"] = props["VpcId"]
        group_id = (await rc.call("ec2", "CreateSecurityGroup", params))["GroupId"]
        rules = list(props.get("SecurityGroupIngress") or [])
        async with self.finishing(rc, group_id, props, {"GroupId": group_id}):
            if rules:
                await self._authorize(rc, group_id, rules)
            return await self._physical(rc, group_id)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        before = {_rule_key(r) for r in old.get("SecurityGroupIngress") or []}
        added = [r for r in new.get("SecurityGroupIngress") or [] if _rule_key(r) not in before]
        if added:
            await self._authorize(rc, current.physical_id, added)
        return await self._physical(rc, current.physical_id)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        # Tasks' and load balancers' interfaces that are going away still hold the group a while.
        params = {"GroupId": current.physical_id}
        await remove(rc, "ec2", "DeleteSecurityGroup", params, gone=GONE_GROUP, busy=DEPENDENCY)

    @staticmethod
    async def _authorize(rc: ResourceContext, group_id: str, rules: list[Doc]) -> None:
        permissions = [permission(await _resolved(rc, rule), rc.account) for rule in rules]
        await rc.call("ec2", "AuthorizeSecurityGroupIngress", {"GroupId": group_id, "IpPermissions": permissions})

    @staticmethod
    async def _physical(rc: ResourceContext, group_id: str) -> Physical:
        [group] = (await rc.call("ec2", "DescribeSecurityGroups", {"GroupIds": [group_id]}))["SecurityGroups"]
        return Physical(group_id, {"GroupId": group_id, "VpcId": group["VpcId"]})


@register
class SecurityGroupIngress(ResourceHandler):
    """One ingress rule on a group made elsewhere; ``Ref`` (and ``Id``) is the rule's ``sgr-`` id."""

    type_name = "AWS::EC2::SecurityGroupIngress"
    attributes = frozenset({"Id"})

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params: Doc = {"IpPermissions": [permission(await _resolved(rc, props), rc.account)]}
        if props.get("GroupId"):
            params["GroupId"] = props["GroupId"]
        else:
            params["GroupName"] = props.get("GroupName")
        result = await rc.call("ec2", "AuthorizeSecurityGroupIngress", params)
        rules = result.get("SecurityGroupRules") or []
        rule_id = rules[0]["SecurityGroupRuleId"] if rules else f"{props.get('GroupId')}-ingress-{rc.logical_id}"
        return Physical(rule_id, {"Id": rule_id})

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        # Nothing to call: ecslite's EC2 cannot revoke a rule; it goes with its group.
        return None


@register
class SecurityGroupEgress(ResourceHandler):
    """An egress rule on a group made elsewhere (the CDK adds these between a load balancer's group
    and its targets'). Accepted and not recorded, as inline ``SecurityGroupEgress`` is (see above):
    the group must exist; ``Ref`` and ``Id`` are an ``sgr-`` id of the handler's own."""

    type_name = "AWS::EC2::SecurityGroupEgress"
    attributes = frozenset({"Id"})

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        await rc.call("ec2", "DescribeSecurityGroups", {"GroupIds": [props.get("GroupId")]})
        rule_id = new_id("sgr")
        return Physical(rule_id, {"Id": rule_id})

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        return None
