"""AWS::CloudWatch::Alarm: ``Ref`` is the alarm's name, ``Fn::GetAtt Arn`` its ARN.

Every property but ``AlarmName`` changes in place: PutMetricAlarm again with the whole new
definition (it replaces the alarm's settings, as on AWS); tags through TagResource/UntagResource.
"""

from __future__ import annotations

from ecslite.providers.cloudformation.resources.base import Doc, Physical, ResourceContext, ResourceHandler, register
from ecslite.providers.cloudformation.resources.common import remove, retag, tag_list
from ecslite.providers.cloudformation.resources.properties import api_params

NAME_MAX = 255


@register
class Alarm(ResourceHandler):
    type_name = "AWS::CloudWatch::Alarm"
    attributes = frozenset({"Arn"})
    replace_always = False
    replace_on = frozenset({"AlarmName"})
    name_property = "AlarmName"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        name = props.get("AlarmName") or rc.physical_name(NAME_MAX)
        params = api_params("cloudwatch", "PutMetricAlarm", props, exclude=("AlarmName", "Tags"))
        await rc.call("cloudwatch", "PutMetricAlarm", {**params, "AlarmName": name, "Tags": tag_list(rc, props)})
        return await self._physical(rc, name)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        name = current.physical_id
        if any(old.get(k) != new.get(k) for k in set(old) | set(new) if k != "Tags"):
            params = api_params("cloudwatch", "PutMetricAlarm", new, exclude=("AlarmName", "Tags"))
            await rc.call("cloudwatch", "PutMetricAlarm", {**params, "AlarmName": name})
        await retag(rc, "cloudwatch", {"ResourceARN": current.attributes["Arn"]}, old, new)
        return await self._physical(rc, name)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"AlarmNames": [current.physical_id]}
        await remove(rc, "cloudwatch", "DeleteAlarms", params, gone=("ResourceNotFound",))

    @staticmethod
    async def _physical(rc: ResourceContext, name: str) -> Physical:
        shown = await rc.call("cloudwatch", "DescribeAlarms", {"AlarmNames": [name]})
        alarms: list[Doc] = [*(shown.get("MetricAlarms") or []), *(shown.get("CompositeAlarms") or [])]
        return Physical(name, {"Arn": alarms[0]["AlarmArn"]})
