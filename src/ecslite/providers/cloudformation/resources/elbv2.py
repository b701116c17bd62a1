"""AWS::ElasticLoadBalancingV2::{LoadBalancer,TargetGroup,Listener,ListenerRule,ListenerCertificate}.

``Ref`` is the ARN for every one of them (a listener certificate's is its listener's ARN). Load
balancer and target group attributes (``LoadBalancerAttributes``, ``TargetGroupAttributes``) are set
with the ``Modify*Attributes`` operations once the resource exists, as CloudFormation does. A new
load balancer is reported created only once it is ``active``.

**Local model:** ecslite's ELBv2 has no SetSubnets, SetSecurityGroups or SetIpAddressType, so a
change of a load balancer's ``Subnets``, ``SubnetMappings``, ``SecurityGroups`` or ``IpAddressType``
(in place on AWS) makes a new load balancer here.
"""

from __future__ import annotations

from typing import Any

from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceHandler,
    register,
)
from ecslite.providers.cloudformation.resources.common import changed, remove, retag, tag_list
from ecslite.providers.cloudformation.resources.properties import api_params

NAME_MAX = 32  # load balancer and target group names
GONE_LB = ("LoadBalancerNotFound",)
GONE_TG = ("TargetGroupNotFound",)
GONE_LISTENER = ("ListenerNotFound",)
GONE_RULE = ("RuleNotFound",)


async def _retag(rc: ResourceContext, arn: str, old: Doc, new: Doc) -> None:
    await retag(rc, "elbv2", {"ResourceArns": [arn]}, old, new, tag="AddTags", untag="RemoveTags")


async def _set_attributes(rc: ResourceContext, kind: str, arn: str, given: Any) -> None:
    """A load balancer's or target group's attributes (``kind`` LoadBalancer or TargetGroup), from
    the template's ``[{"Key", "Value"}]`` with its values as ELBv2's strings."""
    attributes = [{"Key": str(a["Key"]), "Value": _text(a.get("Value", ""))} for a in given or []]
    await rc.call("elbv2", f"Modify{kind}Attributes", {f"{kind}Arn": arn, "Attributes": attributes})


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- load balancers ------------------------------------------------------------------------------


@register
class LoadBalancer(ResourceHandler):
    type_name = "AWS::ElasticLoadBalancingV2::LoadBalancer"
    stack_tags = True
    attributes = frozenset(
        {
            "CanonicalHostedZoneID",
            "DNSName",
            "LoadBalancerArn",
            "LoadBalancerFullName",
            "LoadBalancerName",
            "SecurityGroups",
        }
    )
    replace_always = False
    replace_on = frozenset({"Name", "Scheme", "Type", "Subnets", "SubnetMappings", "SecurityGroups", "IpAddressType"})
    name_property = "Name"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params = api_params("elbv2", "CreateLoadBalancer", props, exclude=("Name", "Tags", "LoadBalancerAttributes"))
        params["Name"] = props.get("Name") or rc.physical_name(NAME_MAX)
        params["Tags"] = tag_list(rc, props)
        [created] = (await rc.call("elbv2", "CreateLoadBalancer", params))["LoadBalancers"]
        arn = created["LoadBalancerArn"]
        async with self.finishing(rc, arn, props, self._physical(created).attributes):
            if props.get("LoadBalancerAttributes"):
                await _set_attributes(rc, "LoadBalancer", arn, props["LoadBalancerAttributes"])
            return self._physical(await self._until_active(rc, arn))

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        arn = current.physical_id
        if old.get("LoadBalancerAttributes") != new.get("LoadBalancerAttributes") and new.get("LoadBalancerAttributes"):
            await _set_attributes(rc, "LoadBalancer", arn, new["LoadBalancerAttributes"])
        await _retag(rc, arn, old, new)
        [shown] = (await rc.call("elbv2", "DescribeLoadBalancers", {"LoadBalancerArns": [arn]}))["LoadBalancers"]
        return self._physical(shown)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        await remove(rc, "elbv2", "DeleteLoadBalancer", {"LoadBalancerArn": current.physical_id}, gone=GONE_LB)

    @staticmethod
    async def _until_active(rc: ResourceContext, arn: str) -> Doc:
        async def active() -> Doc | None:
            params = {"LoadBalancerArns": [arn]}
            [shown] = (await rc.call("elbv2", "DescribeLoadBalancers", params))["LoadBalancers"]
            return dict(shown) if shown["State"]["Code"] == "active" else None

        return await rc.poll(active, interval=1.0)

    @staticmethod
    def _physical(lb: Doc) -> Physical:
        arn = lb["LoadBalancerArn"]
        return Physical(
            arn,
            {
                "CanonicalHostedZoneID": lb["CanonicalHostedZoneId"],
                "DNSName": lb["DNSName"],
                "LoadBalancerArn": arn,
                "LoadBalancerFullName": arn.split(":loadbalancer/", 1)[1],
                "LoadBalancerName": lb["LoadBalancerName"],
                "SecurityGroups": list(lb.get("SecurityGroups") or []),
            },
        )


# -- target groups -------------------------------------------------------------------------------

_HEALTH = (
    "HealthCheckEnabled",
    "HealthCheckIntervalSeconds",
    "HealthCheckPath",
    "HealthCheckPort",
    "HealthCheckProtocol",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
    "Matcher",
)


@register
class TargetGroup(ResourceHandler):
    type_name = "AWS::ElasticLoadBalancingV2::TargetGroup"
    stack_tags = True
    attributes = frozenset({"LoadBalancerArns", "TargetGroupArn", "TargetGroupFullName", "TargetGroupName"})
    replace_always = False
    replace_on = frozenset({"Name", "Port", "Protocol", "ProtocolVersion", "TargetType", "VpcId", "IpAddressType"})
    name_property = "Name"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        exclude = ("Name", "Tags", "TargetGroupAttributes", "Targets")
        params = api_params("elbv2", "CreateTargetGroup", props, exclude=exclude)
        params["Name"] = props.get("Name") or rc.physical_name(NAME_MAX)
        params["Tags"] = tag_list(rc, props)
        [created] = (await rc.call("elbv2", "CreateTargetGroup", params))["TargetGroups"]
        arn = created["TargetGroupArn"]
        async with self.finishing(rc, arn, props, {"TargetGroupArn": arn}):
            if props.get("TargetGroupAttributes"):
                await _set_attributes(rc, "TargetGroup", arn, props["TargetGroupAttributes"])
            if props.get("Targets"):
                await self._targets(rc, arn, "RegisterTargets", props["Targets"])
            return await self._physical(rc, arn)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        arn = current.physical_id
        if changed(old, new, _HEALTH):
            health = {k: v for k, v in new.items() if k in _HEALTH}
            params = api_params("elbv2", "ModifyTargetGroup", health)
            await rc.call("elbv2", "ModifyTargetGroup", {**params, "TargetGroupArn": arn})
        if old.get("TargetGroupAttributes") != new.get("TargetGroupAttributes") and new.get("TargetGroupAttributes"):
            await _set_attributes(rc, "TargetGroup", arn, new["TargetGroupAttributes"])
        if old.get("Targets") != new.get("Targets"):
            before = {_target_key(t): t for t in old.get("Targets") or []}
            after = {_target_key(t): t for t in new.get("Targets") or []}
            gone = [t for key, t in before.items() if key not in after]
            added = [t for key, t in after.items() if key not in before]
            if gone:
                await self._targets(rc, arn, "DeregisterTargets", gone)
            if added:
                await self._targets(rc, arn, "RegisterTargets", added)
        await _retag(rc, arn, old, new)
        return await self._physical(rc, arn)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        # A listener going away at the same moment still holds the group for an instant.
        params = {"TargetGroupArn": current.physical_id}
        await remove(rc, "elbv2", "DeleteTargetGroup", params, gone=GONE_TG, busy=("ResourceInUse",), wait=60)

    @staticmethod
    async def _targets(rc: ResourceContext, arn: str, operation: str, targets: list[Doc]) -> None:
        params = api_params("elbv2", operation, {"Targets": targets})
        await rc.call("elbv2", operation, {**params, "TargetGroupArn": arn})

    @staticmethod
    async def _physical(rc: ResourceContext, arn: str) -> Physical:
        [group] = (await rc.call("elbv2", "DescribeTargetGroups", {"TargetGroupArns": [arn]}))["TargetGroups"]
        return Physical(
            arn,
            {
                "LoadBalancerArns": list(group.get("LoadBalancerArns") or []),
                "TargetGroupArn": arn,
                "TargetGroupFullName": arn.split(":", 5)[5],
                "TargetGroupName": group["TargetGroupName"],
            },
        )


def _target_key(target: Doc) -> tuple[str, str, str]:
    return (str(target.get("Id")), str(target.get("Port", "")), str(target.get("AvailabilityZone", "")))


# -- listeners and rules -------------------------------------------------------------------------


@register
class Listener(ResourceHandler):
    type_name = "AWS::ElasticLoadBalancingV2::Listener"
    attributes = frozenset({"ListenerArn"})
    replace_always = False
    replace_on = frozenset({"LoadBalancerArn"})

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params = api_params("elbv2", "CreateListener", props)
        [created] = (await rc.call("elbv2", "CreateListener", params))["Listeners"]
        arn = created["ListenerArn"]
        return Physical(arn, {"ListenerArn": arn})

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        params = api_params("elbv2", "ModifyListener", new)
        await rc.call("elbv2", "ModifyListener", {**params, "ListenerArn": current.physical_id})
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"ListenerArn": current.physical_id}
        await remove(rc, "elbv2", "DeleteListener", params, gone=(*GONE_LISTENER, *GONE_LB))


@register
class ListenerRule(ResourceHandler):
    type_name = "AWS::ElasticLoadBalancingV2::ListenerRule"
    attributes = frozenset({"IsDefault", "RuleArn"})
    replace_always = False
    replace_on = frozenset({"ListenerArn"})

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params = api_params("elbv2", "CreateRule", props)
        [created] = (await rc.call("elbv2", "CreateRule", params))["Rules"]
        arn = created["RuleArn"]
        return Physical(arn, {"IsDefault": bool(created.get("IsDefault")), "RuleArn": arn})

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        arn = current.physical_id
        if str(old.get("Priority")) != str(new.get("Priority")):
            moved = api_params("elbv2", "SetRulePriorities", {"RulePriorities": [{"Priority": new["Priority"]}]})
            moved["RulePriorities"][0]["RuleArn"] = arn
            await rc.call("elbv2", "SetRulePriorities", moved)
        if changed(old, new, ("Actions", "Conditions")):
            params = api_params("elbv2", "ModifyRule", {k: new.get(k) for k in ("Actions", "Conditions")})
            await rc.call("elbv2", "ModifyRule", {**params, "RuleArn": arn})
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"RuleArn": current.physical_id}
        await remove(rc, "elbv2", "DeleteRule", params, gone=(*GONE_RULE, *GONE_LISTENER, *GONE_LB))


@register
class ListenerCertificate(ResourceHandler):
    """Further (SNI) certificates of an HTTPS listener; every property change makes a new one."""

    type_name = "AWS::ElasticLoadBalancingV2::ListenerCertificate"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params = api_params("elbv2", "AddListenerCertificates", props)
        await rc.call("elbv2", "AddListenerCertificates", params)
        return Physical(params["ListenerArn"])

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = api_params("elbv2", "RemoveListenerCertificates", props)
        params["ListenerArn"] = current.physical_id
        await remove(rc, "elbv2", "RemoveListenerCertificates", params, gone=(*GONE_LISTENER, *GONE_LB))
