"""AWS::EC2::{VPC,Subnet,SecurityGroup,SecurityGroupIngress,SecurityGroupEgress}, as far as ecslite's EC2 goes.

``Ref`` is the VPC's, subnet's or security group's id; a group's inline ``SecurityGroupIngress``
and ``SecurityGroupEgress`` rules are authorized after CreateSecurityGroup, as CloudFormation does:
a template that gives egress rules replaces EC2's default allow-all one with them, and one that
gives none (or stops giving them) has the default rule.

**Local model** (ecslite's EC2 has no CreateTags, ModifyVpcAttribute or ModifySubnetAttribute):
- tags are given at creation only, without CloudFormation's ``aws:`` tags (EC2 refuses the
  prefix from callers); later changes of ``Tags``, ``EnableDns*`` or ``MapPublicIpOnLaunch`` are
  accepted and change nothing (ecslite's resolver answers every VPC; there are no public addresses);
- inline rules added to or taken away from a group are authorized or revoked in place (a changed
  rule is revoked and authorized again); groups are stored, not enforced as a firewall (see
  docs/networking.md);
- AWS::EC2::SecurityGroupIngress and AWS::EC2::SecurityGroupEgress authorize one rule each, whose
  ``sgr-`` id is their ``Ref``, and revoke it when deleted.
"""

from __future__ import annotations

from typing import Any

from ecslite.providers.cloudformation.resources.base import Doc, Physical, ResourceContext, ResourceHandler, register
from ecslite.providers.cloudformation.resources.common import remove, tag_list

GONE_GROUP = ("InvalidGroup.NotFound",)
DEPENDENCY = ("DependencyViolation",)
GONE_PERMISSION = ("InvalidPermission.NotFound",)
GONE_RULE = ("InvalidGroup.NotFound", "InvalidSecurityGroupRuleId.NotFound")
DEFAULT_EGRESS: Doc = {"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}


def _specs(rc: ResourceContext, props: Doc, kind: str) -> list[Doc]:
    tags = tag_list(rc, props, reserved=False)
    return [{"ResourceType": kind, "Tags": tags}] if tags else []


def _port(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def permission(rule: Doc, account: str) -> Doc:
    """A CloudFormation ingress or egress rule (flat: ``CidrIp``, ``SourceSecurityGroupId``,
    ``DestinationSecurityGroupId``…) as an ``IpPermissions`` item."""
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
    prefix_list = rule.get("SourcePrefixListId") or rule.get("DestinationPrefixListId")
    if prefix_list:
        out["PrefixListIds"] = [{"PrefixListId": prefix_list, **described}]
    peer = rule.get("SourceSecurityGroupId") or rule.get("DestinationSecurityGroupId")
    if peer:
        owner = str(rule.get("SourceSecurityGroupOwnerId") or account)
        out["UserIdGroupPairs"] = [{"GroupId": peer, "UserId": owner, **described}]
    return out


async def _resolved(rc: ResourceContext, rule: Doc) -> Doc:
    """The rule with a ``SourceSecurityGroupName`` (a default VPC's group) turned into its id."""
    name = rule.get("SourceSecurityGroupName")
    if not name or rule.get("SourceSecurityGroupId"):
        return rule
    [group] = (await rc.call("ec2", "DescribeSecurityGroups", {"GroupNames": [name]}))["SecurityGroups"]
    return {**rule, "SourceSecurityGroupId": group["GroupId"]}


def _rule_key(rule: Doc) -> str:
    """What a rule is, as EC2 tells rules apart: ``"80"`` and ``80`` are one port, and the ports of
    ``-1`` (all traffic) are not part of it."""
    fields = {k: str(v) for k, v in rule.items()}
    protocol = fields.get("IpProtocol", "-1").lower()
    fields["IpProtocol"] = protocol
    if protocol in ("-1", "all"):
        fields.pop("FromPort", None)
        fields.pop("ToPort", None)
    return repr(sorted(fields.items()))


def _egress(props: Doc) -> list[Doc]:
    """The group's egress rules: the template's, or EC2's default when it gives none."""
    return list(props.get("SecurityGroupEgress") or [DEFAULT_EGRESS])


def _changes(old: list[Doc], new: list[Doc]) -> tuple[list[Doc], list[Doc]]:
    """The rules of ``old`` that ``new`` no longer has, and those ``new`` adds."""
    before, after = {_rule_key(r) for r in old}, {_rule_key(r) for r in new}
    return [r for r in old if _rule_key(r) not in after], [r for r in new if _rule_key(r) not in before]


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

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params: Doc = {
            "GroupName": props.get("GroupName") or rc.physical_name(255),
            "Description": props.get("GroupDescription"),
            "TagSpecifications": _specs(rc, props, "security-group"),
        }
        if props.get("VpcId"):
            params["VpcId"] = props["VpcId"]
        group_id = (await rc.call("ec2", "CreateSecurityGroup", params))["GroupId"]
        async with self.finishing(rc, group_id, props, {"GroupId": group_id}):
            # The new group has EC2's default egress rule: as if the template had said nothing.
            await self._apply(rc, group_id, {}, props)
            return await self._physical(rc, group_id)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        await self._apply(rc, current.physical_id, old, new)
        return await self._physical(rc, current.physical_id)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        # Tasks' and load balancers' interfaces that are going away still hold the group a while.
        params = {"GroupId": current.physical_id}
        await remove(rc, "ec2", "DeleteSecurityGroup", params, gone=GONE_GROUP, busy=DEPENDENCY)

    @classmethod
    async def _apply(cls, rc: ResourceContext, group_id: str, old: Doc, new: Doc) -> None:
        """Revokes the rules ``old`` had and ``new`` has not, then authorizes the new ones (so a rule
        whose description changed is taken away before it is given again)."""
        ingress = _changes(list(old.get("SecurityGroupIngress") or []), list(new.get("SecurityGroupIngress") or []))
        egress = _changes(_egress(old), _egress(new))
        for direction, (removed, added) in (("Ingress", ingress), ("Egress", egress)):
            for rule in removed:
                # One at a time, and a rule already gone (revoked by hand, or an egress rule of a
                # stack made before they were recorded) is not an error: it is what was wanted.
                params = {"GroupId": group_id, "IpPermissions": [permission(await _resolved(rc, rule), rc.account)]}
                await remove(rc, "ec2", f"RevokeSecurityGroup{direction}", params, gone=GONE_PERMISSION)
            if added:
                await cls._authorize(rc, f"AuthorizeSecurityGroup{direction}", group_id, added)

    @staticmethod
    async def _authorize(rc: ResourceContext, operation: str, group_id: str, rules: list[Doc]) -> None:
        permissions = [permission(await _resolved(rc, rule), rc.account) for rule in rules]
        await rc.call("ec2", operation, {"GroupId": group_id, "IpPermissions": permissions})

    @staticmethod
    async def _physical(rc: ResourceContext, group_id: str) -> Physical:
        [group] = (await rc.call("ec2", "DescribeSecurityGroups", {"GroupIds": [group_id]}))["SecurityGroups"]
        return Physical(group_id, {"GroupId": group_id, "VpcId": group["VpcId"]})


class _StandaloneRule(ResourceHandler):
    """One rule on a group made elsewhere; ``Ref`` (and ``Id``) is the rule's ``sgr-`` id, by
    which it is revoked when deleted."""

    attributes = frozenset({"Id"})
    direction: str

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params: Doc = {"IpPermissions": [permission(await _resolved(rc, props), rc.account)]}
        params.update(self._group(props))
        result = await rc.call("ec2", f"AuthorizeSecurityGroup{self.direction}", params)
        rules = result.get("SecurityGroupRules") or []
        # An IPv6 or prefix-list rule is accepted and not kept by ecslite's EC2: it has no rule id.
        fallback = f"{props.get('GroupId')}-{self.direction.lower()}-{rc.logical_id}"
        rule_id = rules[0]["SecurityGroupRuleId"] if rules else fallback
        return Physical(rule_id, {"Id": rule_id})

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        if not current.physical_id.startswith("sgr-"):
            return
        params = {**self._group(props), "SecurityGroupRuleIds": [current.physical_id]}
        await remove(rc, "ec2", f"RevokeSecurityGroup{self.direction}", params, gone=GONE_RULE)

    @staticmethod
    def _group(props: Doc) -> Doc:
        return {"GroupId": props["GroupId"]} if props.get("GroupId") else {"GroupName": props.get("GroupName")}


@register
class SecurityGroupIngress(_StandaloneRule):
    type_name = "AWS::EC2::SecurityGroupIngress"
    direction = "Ingress"


@register
class SecurityGroupEgress(_StandaloneRule):
    """The CDK adds these between a load balancer's group and its targets'."""

    type_name = "AWS::EC2::SecurityGroupEgress"
    direction = "Egress"
