"""AWS::Events::Rule with its ``Targets``: ``Ref`` is the rule's name (``<bus>|<name>`` for a rule
on another bus than the default one, as CloudFormation gives it), ``Fn::GetAtt Arn`` its ARN.

``EventPattern`` is a JSON object in templates and a string in the API. Everything but ``Name`` and
``EventBusName`` changes in place: PutRule again, then the targets the template no longer has are
removed and the others put. Deleting removes the targets first (DeleteRule refuses a rule that has
some).
"""

from __future__ import annotations

import json

from ecslite.protocol.errors import AwsError
from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceFailed,
    ResourceHandler,
    register,
)
from ecslite.providers.cloudformation.resources.common import remove, tag_list
from ecslite.providers.cloudformation.resources.properties import api_params

NAME_MAX = 64
GONE = ("ResourceNotFoundException",)
_OWN = ("Name", "Targets", "EventPattern", "Tags")


def _bus(props: Doc) -> str | None:
    given = props.get("EventBusName")
    return str(given).rsplit("event-bus/", 1)[-1] if given else None


def _pattern(props: Doc) -> str | None:
    pattern = props.get("EventPattern")
    if pattern is None or isinstance(pattern, str):
        return pattern
    return json.dumps(pattern)


def _names(props: Doc) -> Doc:
    """The parameters that name the rule in the target operations."""
    bus = _bus(props)
    return {"EventBusName": bus} if bus else {}


@register
class Rule(ResourceHandler):
    type_name = "AWS::Events::Rule"
    attributes = frozenset({"Arn"})
    replace_always = False
    replace_on = frozenset({"Name", "EventBusName"})
    name_property = "Name"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        name = props.get("Name") or rc.physical_name(NAME_MAX)
        arn = await self._put_rule(rc, name, props)
        physical = self._physical(name, props, arn)
        async with self.finishing(rc, physical.physical_id, props, physical.attributes):
            if props.get("Targets"):
                await self._put_targets(rc, name, props)
        return physical

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        name = self._name(current)
        arn = await self._put_rule(rc, name, new)
        kept = {str(t.get("Id")) for t in new.get("Targets") or []}
        dropped = [str(t.get("Id")) for t in old.get("Targets") or [] if str(t.get("Id")) not in kept]
        if dropped:
            await rc.call("events", "RemoveTargets", {"Rule": name, "Ids": dropped, **_names(new)})
        if new.get("Targets") and new.get("Targets") != old.get("Targets"):
            await self._put_targets(rc, name, new)
        return self._physical(name, new, arn)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        name, where = self._name(current), _names(props)
        try:
            listed = await rc.call("events", "ListTargetsByRule", {"Rule": name, **where})
        except AwsError as error:
            if error.code in GONE:
                return
            raise
        ids = [t["Id"] for t in listed.get("Targets") or []]
        if ids:
            await rc.call("events", "RemoveTargets", {"Rule": name, "Ids": ids, **where})
        await remove(rc, "events", "DeleteRule", {"Name": name, **where}, gone=GONE)

    @staticmethod
    def _name(current: Physical) -> str:
        return current.physical_id.rsplit("|", 1)[-1]

    @staticmethod
    async def _put_rule(rc: ResourceContext, name: str, props: Doc) -> str:
        params = api_params("events", "PutRule", props, exclude=_OWN)
        params.update(Name=name, **_names(props))
        pattern = _pattern(props)
        if pattern is not None:
            params["EventPattern"] = pattern
        tags = tag_list(rc, props)
        if tags:
            params["Tags"] = tags
        return str((await rc.call("events", "PutRule", params))["RuleArn"])

    @staticmethod
    async def _put_targets(rc: ResourceContext, name: str, props: Doc) -> None:
        params = api_params("events", "PutTargets", {"Targets": props["Targets"]})
        result = await rc.call("events", "PutTargets", {**params, "Rule": name, **_names(props)})
        if result.get("FailedEntryCount"):
            failed = result["FailedEntries"][0]
            raise ResourceFailed(f"Target {failed.get('TargetId')}: {failed.get('ErrorMessage')}")

    @staticmethod
    def _physical(name: str, props: Doc, arn: str) -> Physical:
        bus = _bus(props)
        ref = f"{bus}|{name}" if bus and bus != "default" else name
        return Physical(ref, {"Arn": arn})
