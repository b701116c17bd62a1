"""AWS::ApplicationAutoScaling::ScalableTarget and ::ScalingPolicy through ecslite's Application Auto
Scaling operations.

ScalableTarget: ``Ref`` (and ``Id``) is ``<ResourceId>|<ScalableDimension>|<ServiceNamespace>``, as
CloudFormation documents it; those three need a replacement, capacities, role, suspended state and
``ScheduledActions`` change in place (RegisterScalableTarget again updates a registered target).

ScalingPolicy: ``Ref`` and ``Arn`` are the policy's ARN. ``PolicyName`` and what names the target
(``ScalingTargetId``, or ``ResourceId``/``ScalableDimension``/``ServiceNamespace``) need a
replacement; the type and configurations change in place (PutScalingPolicy again).
"""

from __future__ import annotations

from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceFailed,
    ResourceHandler,
    register,
)
from ecslite.providers.cloudformation.resources.common import changed, merged_tags, remove
from ecslite.providers.cloudformation.resources.properties import api_params

_GONE = ("ObjectNotFoundException",)
_KEY = ("ResourceId", "ScalableDimension", "ServiceNamespace")


def _key(props: Doc) -> Doc:
    return {name: str(props[name]) for name in _KEY}


@register
class ScalableTarget(ResourceHandler):
    type_name = "AWS::ApplicationAutoScaling::ScalableTarget"
    attributes = frozenset({"Id"})
    replace_always = False
    replace_on = frozenset(_KEY)

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        await self._register(rc, props, first=True)
        physical = "|".join(str(props[name]) for name in _KEY)
        async with self.finishing(rc, physical, props, {"Id": physical}):
            await self._put_actions(rc, props)
        return Physical(physical, {"Id": physical})

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        if changed(old, new, ("MinCapacity", "MaxCapacity", "RoleARN", "SuspendedState")):
            await self._register(rc, new, first=False)
        names = {str(a["ScheduledActionName"]) for a in new.get("ScheduledActions") or []}
        for action in old.get("ScheduledActions") or []:
            if str(action["ScheduledActionName"]) not in names:
                params = {**_key(new), "ScheduledActionName": str(action["ScheduledActionName"])}
                await remove(rc, "application-autoscaling", "DeleteScheduledAction", params, gone=_GONE)
        if old.get("ScheduledActions") != new.get("ScheduledActions"):
            await self._put_actions(rc, new)
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        # Deregistering takes the target's policies and scheduled actions with it.
        await remove(rc, "application-autoscaling", "DeregisterScalableTarget", _key(props), gone=_GONE)

    @staticmethod
    async def _register(rc: ResourceContext, props: Doc, *, first: bool) -> None:
        params = api_params(
            "application-autoscaling", "RegisterScalableTarget", props, exclude=("ScheduledActions", "Tags")
        )
        if first:
            tags = merged_tags(rc, props, reserved=False)
            if tags:
                params["Tags"] = tags
        await rc.call("application-autoscaling", "RegisterScalableTarget", params)

    @staticmethod
    async def _put_actions(rc: ResourceContext, props: Doc) -> None:
        for action in props.get("ScheduledActions") or []:
            params = api_params("application-autoscaling", "PutScheduledAction", {**action, **_key(props)})
            await rc.call("application-autoscaling", "PutScheduledAction", params)


def _target(props: Doc) -> Doc:
    """The target a policy scales: from ``ScalingTargetId`` (a ScalableTarget's Ref) or named outright."""
    target = props.get("ScalingTargetId")
    if target:
        parts = str(target).split("|")
        if len(parts) != 3:
            raise ResourceFailed(f"ScalingTargetId {target} is not a scalable target's id")
        return dict(zip(_KEY, parts, strict=True))
    missing = [name for name in _KEY if not props.get(name)]
    if missing:
        raise ResourceFailed(
            "Either ScalingTargetId or ResourceId, ScalableDimension and ServiceNamespace are required"
        )
    return _key(props)


@register
class ScalingPolicy(ResourceHandler):
    type_name = "AWS::ApplicationAutoScaling::ScalingPolicy"
    attributes = frozenset({"Arn"})
    replace_always = False
    replace_on = frozenset({"PolicyName", "ScalingTargetId", *_KEY})

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        return await self._put(rc, props)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        return await self._put(rc, new)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {**_target(props), "PolicyName": str(props["PolicyName"])}
        await remove(rc, "application-autoscaling", "DeleteScalingPolicy", params, gone=_GONE)

    @staticmethod
    async def _put(rc: ResourceContext, props: Doc) -> Physical:
        params = api_params("application-autoscaling", "PutScalingPolicy", props, exclude=("ScalingTargetId", *_KEY))
        params.update(_target(props))
        arn = str((await rc.call("application-autoscaling", "PutScalingPolicy", params))["PolicyARN"])
        return Physical(arn, {"Arn": arn})
