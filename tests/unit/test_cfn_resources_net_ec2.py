"""CloudFormation's EC2 resource handlers (VPC, Subnet, SecurityGroup, SecurityGroupIngress/Egress) on
an in-process server: ids as ``Ref``, the documented attributes, inline rules authorized after the
group is made and revoked in place, in-place changes and replacements, and deletes that can be repeated."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ecslite.providers.calls import Calls
from ecslite.providers.cloudformation.resources import ec2  # noqa: F401 - registers the types
from tests.unit.test_cfn_resources_net import STACK, Driver, context, default_network, refused, running

CIDR = "10.77.0.0/16"


async def group_of(call: Calls, group_id: str) -> dict[str, Any]:
    return dict((await call("ec2", "DescribeSecurityGroups", {"GroupIds": [group_id]}))["SecurityGroups"][0])


def _ingress(group: dict[str, Any], field: str = "IpPermissions") -> set[tuple[str, int, int, str]]:
    return {
        (p["IpProtocol"], p.get("FromPort", -1), p.get("ToPort", -1), peer.get("CidrIp") or peer.get("GroupId"))
        for p in group[field]
        for peer in [*p.get("IpRanges", []), *p.get("UserIdGroupPairs", [])]
    }


def _egress(group: dict[str, Any]) -> set[tuple[str, int, int, str]]:
    return _ingress(group, "IpPermissionsEgress")


ALL_OUT = ("-1", -1, -1, "0.0.0.0/0")


def test_vpc_subnet_and_security_groups(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            vpcs = Driver(call, clock, "AWS::EC2::VPC")
            subnets = Driver(call, clock, "AWS::EC2::Subnet")
            groups = Driver(call, clock, "AWS::EC2::SecurityGroup")
            ingresses = Driver(call, clock, "AWS::EC2::SecurityGroupIngress")

            vpc_props = {"CidrBlock": CIDR, "EnableDnsHostnames": "true", "Tags": [{"Key": "Name", "Value": "app"}]}
            vpc = await vpcs.create("Vpc", vpc_props)
            assert vpc.physical_id.startswith("vpc-")
            [shown] = (await call("ec2", "DescribeVpcs", {"VpcIds": [vpc.physical_id]}))["Vpcs"]
            tags = {t["Key"]: t["Value"] for t in shown.get("Tags", [])}
            # The template's tags, without CloudFormation's aws: ones that EC2 refuses from callers.
            assert tags == {"Name": "app"}
            filters = [{"Name": "vpc-id", "Values": [vpc.physical_id]}, {"Name": "group-name", "Values": ["default"]}]
            [default] = (await call("ec2", "DescribeSecurityGroups", {"Filters": filters}))["SecurityGroups"]
            assert vpc.attributes["DefaultSecurityGroup"] == default["GroupId"]
            assert vpc.attributes["CidrBlock"] == CIDR and vpc.attributes["VpcId"] == vpc.physical_id
            assert vpc.attributes["CidrBlockAssociations"] == [
                a["AssociationId"] for a in shown["CidrBlockAssociationSet"]
            ]
            assert set(vpc.attributes) == vpcs.handler.attributes
            assert vpcs.handler.needs_replacement(vpc_props, {**vpc_props, "CidrBlock": "10.78.0.0/16"})
            quiet = {**vpc_props, "EnableDnsHostnames": "false"}
            assert (await vpcs.update("Vpc", vpc, vpc_props, quiet)) == vpc

            subnet_props = {"VpcId": vpc.physical_id, "CidrBlock": "10.77.1.0/24", "AvailabilityZone": "us-east-1b"}
            subnet = await subnets.create("SubnetB", subnet_props)
            assert subnet.physical_id.startswith("subnet-")
            assert subnet.attributes["AvailabilityZone"] == "us-east-1b"
            assert subnet.attributes["VpcId"] == vpc.physical_id
            assert subnet.attributes["CidrBlock"] == "10.77.1.0/24"
            assert subnet.attributes["AvailabilityZoneId"].startswith("use1-az")
            assert subnets.handler.needs_replacement(subnet_props, {**subnet_props, "CidrBlock": "10.77.2.0/24"})
            assert not subnets.handler.needs_replacement(subnet_props, {**subnet_props, "MapPublicIpOnLaunch": True})

            web_rule = {"IpProtocol": "tcp", "FromPort": "80", "ToPort": "80", "CidrIp": "0.0.0.0/0"}
            group_props = {
                "GroupDescription": "web servers",
                "VpcId": vpc.physical_id,
                "SecurityGroupIngress": [web_rule],
                "SecurityGroupEgress": [{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}],
            }
            web = await groups.create("WebGroup", group_props)
            assert web.physical_id.startswith("sg-")
            assert web.attributes == {"GroupId": web.physical_id, "VpcId": vpc.physical_id}
            shown_group = await group_of(call, web.physical_id)
            assert shown_group["GroupName"].startswith(f"{STACK}-WebGroup-")
            assert shown_group["Description"] == "web servers"
            assert _ingress(shown_group) == {("tcp", 80, 80, "0.0.0.0/0")}

            # A rule from another group, added in place.
            db_props = {"GroupDescription": "database", "VpcId": vpc.physical_id, "GroupName": "db"}
            db = await groups.create("DbGroup", db_props)
            from_web = {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": "5432",
                "SourceSecurityGroupId": web.physical_id,
                "Description": "web to db",
            }
            db_new = {**db_props, "SecurityGroupIngress": [from_web]}
            assert (await groups.update("DbGroup", db, db_props, db_new)).physical_id == db.physical_id
            assert _ingress(await group_of(call, db.physical_id)) == {("tcp", 5432, 5432, web.physical_id)}
            # Taking a rule away revokes it in place; the name, the description or the VPC make a new group.
            assert not groups.handler.needs_replacement(db_new, db_props)
            assert (await groups.update("DbGroup", db, db_new, db_props)).physical_id == db.physical_id
            assert _ingress(await group_of(call, db.physical_id)) == set()
            assert (await groups.update("DbGroup", db, db_props, db_new)).physical_id == db.physical_id
            assert groups.handler.needs_replacement(db_props, {**db_props, "GroupDescription": "other"})
            assert not groups.handler.needs_replacement(db_props, {**db_props, "Tags": [{"Key": "a", "Value": "b"}]})

            # A standalone ingress rule: Ref and Id are the rule's id.
            ingress_props = {"GroupId": web.physical_id, "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}
            ingress_props["CidrIp"] = "10.0.0.0/8"
            rule = await ingresses.create("HttpsIn", ingress_props)
            assert rule.physical_id.startswith("sgr-") and rule.attributes == {"Id": rule.physical_id}
            assert ("tcp", 443, 443, "10.0.0.0/8") in _ingress(await group_of(call, web.physical_id))
            # Deleting it revokes the rule, and deleting it again is not an error.
            await ingresses.delete("HttpsIn", rule, ingress_props)
            await ingresses.delete("HttpsIn", rule, ingress_props)
            assert _ingress(await group_of(call, web.physical_id)) == {("tcp", 80, 80, "0.0.0.0/0")}

            # The group's own tags (without aws: ones) are on it.
            tagged = await groups.create(
                "Tagged", {"GroupDescription": "t", "VpcId": vpc.physical_id, "Tags": [{"Key": "k", "Value": "v"}]}
            )
            assert {t["Key"]: t["Value"] for t in (await group_of(call, tagged.physical_id))["Tags"]} == {"k": "v"}

            # A VPC with subnets and groups cannot go first; deleting in the stack's order works, twice.
            rc = context(call, clock, "Vpc")
            early = asyncio.ensure_future(vpcs.handler.delete(rc, vpc, vpc_props))
            await clock.run_for(4, 0.5)
            assert not early.done()  # DependencyViolation: tried again
            for driver, logical, physical, props in (
                (groups, "Tagged", tagged, {}),
                (groups, "DbGroup", db, db_new),
                (groups, "WebGroup", web, group_props),
                (subnets, "SubnetB", subnet, subnet_props),
            ):
                await driver.delete(logical, physical, props)
                await driver.delete(logical, physical, props)
            await clock.run_for(4, 0.5)
            await early
            await vpcs.delete("Vpc", vpc, vpc_props)
            gone = await refused(call("ec2", "DescribeVpcs", {"VpcIds": [vpc.physical_id]}))
            assert gone.code == "InvalidVpcID.NotFound"

    asyncio.run(scenario())


def test_a_group_without_vpc_goes_in_the_default_vpc(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            default_vpc, _ = await default_network(call)
            groups = Driver(call, clock, "AWS::EC2::SecurityGroup")
            group = await groups.create("Plain", {"GroupDescription": "plain", "GroupName": "plain"})
            assert group.attributes["VpcId"] == default_vpc
            # Ingress given by group name in the default VPC.
            ingresses = Driver(call, clock, "AWS::EC2::SecurityGroupIngress")
            props = {
                "GroupName": "plain",
                "IpProtocol": "udp",
                "FromPort": "53",
                "ToPort": "53",
                "CidrIp": "1.2.3.4/32",
            }
            await ingresses.create("Dns", props)
            assert _ingress(await group_of(call, group.physical_id)) == {("udp", 53, 53, "1.2.3.4/32")}
            # A source group named rather than given by id (default VPC).
            other = await groups.create("Other", {"GroupDescription": "other", "GroupName": "other"})
            by_name = {"GroupId": group.physical_id, "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}
            await ingresses.create("Ssh", {**by_name, "SourceSecurityGroupName": "other"})
            assert ("tcp", 22, 22, other.physical_id) in _ingress(await group_of(call, group.physical_id))
            # An egress rule is authorized on a group that exists (and refused on one that does not);
            # its Ref is the rule's id, and deleting it revokes the rule.
            egresses = Driver(call, clock, "AWS::EC2::SecurityGroupEgress")
            out = {"GroupId": group.physical_id, "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80}
            out["DestinationSecurityGroupId"] = other.physical_id
            egress = await egresses.create("Out", out)
            assert egress.physical_id.startswith("sgr-") and egress.attributes == {"Id": egress.physical_id}
            rules = await call("ec2", "DescribeSecurityGroupRules", {"SecurityGroupRuleIds": [egress.physical_id]})
            [rule] = rules["SecurityGroupRules"]
            assert (rule["GroupId"], rule["IsEgress"], rule["ReferencedGroupInfo"]["GroupId"]) == (
                group.physical_id,
                True,
                other.physical_id,
            )
            assert _egress(await group_of(call, group.physical_id)) == {ALL_OUT, ("tcp", 80, 80, other.physical_id)}
            missing = await refused(egresses.create("Lost", {**out, "GroupId": "sg-0123456789abcdef0"}))
            assert missing.code == "InvalidGroup.NotFound"
            await egresses.delete("Out", egress, out)
            await egresses.delete("Out", egress, out)
            assert _egress(await group_of(call, group.physical_id)) == {ALL_OUT}
            await groups.delete("Plain", group, {})

    asyncio.run(scenario())


def test_inline_egress_replaces_the_default_rule_and_follows_the_template(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            groups = Driver(call, clock, "AWS::EC2::SecurityGroup")
            https = {"IpProtocol": "tcp", "FromPort": "443", "ToPort": "443", "CidrIp": "10.0.0.0/8"}
            dns = {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "CidrIp": "10.0.0.2/32", "Description": "dns"}
            plain = {"GroupDescription": "egress", "GroupName": "egress"}
            props = {**plain, "SecurityGroupEgress": [https]}
            group = await groups.create("Out", props)
            # The template's egress rules instead of EC2's allow-all one, as CloudFormation does.
            assert _egress(await group_of(call, group.physical_id)) == {("tcp", 443, 443, "10.0.0.0/8")}

            # Rules added and taken away in place: the same group.
            changed = {**plain, "SecurityGroupEgress": [dns]}
            assert not groups.handler.needs_replacement(props, changed)
            assert (await groups.update("Out", group, props, changed)).physical_id == group.physical_id
            shown = await group_of(call, group.physical_id)
            assert _egress(shown) == {("udp", 53, 53, "10.0.0.2/32")}
            assert shown["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "10.0.0.2/32", "Description": "dns"}]
            # A description that changes: the rule is revoked and authorized again, not duplicated.
            described = {**plain, "SecurityGroupEgress": [{**dns, "Description": "resolver"}]}
            await groups.update("Out", group, changed, described)
            shown = await group_of(call, group.physical_id)
            assert shown["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "10.0.0.2/32", "Description": "resolver"}]
            # A template that stops giving egress rules gets the default one back.
            await groups.update("Out", group, described, plain)
            assert _egress(await group_of(call, group.physical_id)) == {ALL_OUT}

            # The default rule spelt out (ports and all) is the default rule: nothing to change.
            spelt = {
                **plain,
                "SecurityGroupEgress": [{"IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "CidrIp": "0.0.0.0/0"}],
            }
            await groups.update("Out", group, plain, spelt)
            assert _egress(await group_of(call, group.physical_id)) == {ALL_OUT}

            # Ingress and egress together: a rule revoked by hand is not an error when the template
            # takes it away too.
            inbound = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0"}
            both = {**plain, "SecurityGroupIngress": [inbound], "SecurityGroupEgress": [https]}
            await groups.update("Out", group, spelt, both)
            shown = await group_of(call, group.physical_id)
            assert _ingress(shown) == {("tcp", 80, 80, "0.0.0.0/0")}
            assert _egress(shown) == {("tcp", 443, 443, "10.0.0.0/8")}
            by_hand = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            revoke = {"GroupId": group.physical_id, "IpPermissions": [by_hand]}
            await call("ec2", "RevokeSecurityGroupIngress", revoke)
            await groups.update("Out", group, both, plain)
            shown = await group_of(call, group.physical_id)
            assert (_ingress(shown), _egress(shown)) == (set(), {ALL_OUT})
            await groups.delete("Out", group, plain)

    asyncio.run(scenario())
