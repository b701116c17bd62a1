"""AWS::Scheduler::Schedule: ``Ref`` is the schedule's name, ``Fn::GetAtt Arn`` its ARN.

Everything but ``Name`` and ``GroupName`` changes in place with UpdateSchedule, which takes the
whole definition again. ``StartDate``/``EndDate`` are ISO 8601 strings in templates.
"""

from __future__ import annotations

from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceHandler,
    register,
)
from ecslite.providers.cloudformation.resources.common import remove
from ecslite.providers.cloudformation.resources.properties import api_params

NAME_MAX = 64


def _params(props: Doc, name: str) -> Doc:
    # api_params reads StartDate/EndDate as the API's timestamps (ResourceFailed for a bad one).
    return {**api_params("scheduler", "CreateSchedule", props, exclude=("Name",)), "Name": name}


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
