"""AWS::Scheduler::Schedule: ``Ref`` is the schedule's name, ``Fn::GetAtt Arn`` its ARN.

Everything but ``Name`` and ``GroupName`` changes in place with UpdateSchedule, which takes the
whole definition again. ``StartDate``/``EndDate`` are ISO 8601 strings in templates; they are read
as the API's timestamps.
"""

from __future__ import annotations

from ecslite.protocol.errors import SerializationError
from ecslite.protocol.values import parse_timestamp
from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceFailed,
    ResourceHandler,
    register,
)
from ecslite.providers.cloudformation.resources.netcommon import remove
from ecslite.providers.cloudformation.resources.properties import api_params

NAME_MAX = 64


def _params(props: Doc, name: str) -> Doc:
    params = api_params("scheduler", "CreateSchedule", props, exclude=("Name", "StartDate", "EndDate"))
    params["Name"] = name
    for key in ("StartDate", "EndDate"):
        if props.get(key) is not None:
            try:
                params[key] = parse_timestamp(props[key], key)
            except SerializationError as error:
                raise ResourceFailed(str(error)) from None
    return params


@register
class Schedule(ResourceHandler):
    type_name = "AWS::Scheduler::Schedule"
    attributes = frozenset({"Arn"})
    replace_always = False
    replace_on = frozenset({"Name", "GroupName"})
    name_property = "Name"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        name = props.get("Name") or rc.physical_name(NAME_MAX)
        arn = (await rc.call("scheduler", "CreateSchedule", _params(props, name)))["ScheduleArn"]
        return Physical(name, {"Arn": arn})

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        arn = (await rc.call("scheduler", "UpdateSchedule", _params(new, current.physical_id)))["ScheduleArn"]
        return Physical(current.physical_id, {"Arn": arn})

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params: Doc = {"Name": current.physical_id}
        if props.get("GroupName"):
            params["GroupName"] = props["GroupName"]
        await remove(rc, "scheduler", "DeleteSchedule", params, gone=("ResourceNotFoundException",))
