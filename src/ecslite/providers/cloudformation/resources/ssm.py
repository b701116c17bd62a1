"""AWS::SSM::Parameter: ``Ref`` is the parameter's name; ``Fn::GetAtt`` gives ``Type`` and ``Value``.

Every property but ``Name`` changes in place (PutParameter with Overwrite); ``Tags`` (a JSON object
in this type's template syntax) are changed with AddTagsToResource/RemoveTagsFromResource.
"""

from __future__ import annotations

from ecslite.providers.cloudformation.resources.base import (
    SUFFIX_LENGTH,
    Doc,
    Physical,
    ResourceContext,
    ResourceHandler,
    register,
)
from ecslite.providers.cloudformation.resources.common import pairs, remove, retag, tag_list, tag_map
from ecslite.providers.cloudformation.resources.properties import api_params

_OWN = ("Name", "Tags")


@register
class Parameter(ResourceHandler):
    type_name = "AWS::SSM::Parameter"
    attributes = frozenset({"Type", "Value"})
    replace_always = False
    replace_on = frozenset({"Name"})
    name_property = "Name"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        # CloudFormation's generated names read CFN-<logical id>-<random> (names may not start with "aws").
        name = props.get("Name") or f"CFN-{rc.logical_id}-{rc.physical_name(SUFFIX_LENGTH)}"
        params = api_params("ssm", "PutParameter", props, exclude=_OWN)
        tags = tag_list(rc, {"Tags": pairs(tag_map(props.get("Tags")))})
        await rc.call("ssm", "PutParameter", {**params, "Name": name, **({"Tags": tags} if tags else {})})
        return self._physical(name, props)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        name = current.physical_id
        if any(old.get(k) != new.get(k) for k in set(old) | set(new) if k not in _OWN):
            params = api_params("ssm", "PutParameter", new, exclude=_OWN)
            await rc.call("ssm", "PutParameter", {**params, "Name": name, "Overwrite": True})
        target = {"ResourceType": "Parameter", "ResourceId": name}
        await retag(rc, "ssm", target, old, new, tag="AddTagsToResource", untag="RemoveTagsFromResource")
        return self._physical(name, new)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        await remove(rc, "ssm", "DeleteParameter", {"Name": current.physical_id}, gone=("ParameterNotFound",))

    @staticmethod
    def _physical(name: str, props: Doc) -> Physical:
        return Physical(name, {"Type": str(props.get("Type") or "String"), "Value": str(props.get("Value", ""))})
