"""AWS::Logs::LogGroup and AWS::Logs::LogStream through ecslite's CloudWatch Logs operations.

LogGroup: ``Ref`` is the group's name, ``Arn`` is ``arn:aws:logs:<region>:<account>:log-group:<name>:*``
(as CloudFormation documents it, with the ``:*``). ``LogGroupName`` and ``LogGroupClass`` need a
replacement; retention, KMS key, deletion protection and tags change in place. LogStream: ``Ref`` is
the stream's name; both its properties need a replacement.
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
from ecslite.providers.cloudformation.resources.common import as_bool, merged_tags, remove, tag_changes
from ecslite.providers.cloudformation.resources.properties import api_params

GROUP_NAME_MAX = 512
STREAM_NAME_MAX = 512
_GONE = ("ResourceNotFoundException",)


def _group_arn(rc: ResourceContext, name: str) -> str:
    return f"arn:aws:logs:{rc.region}:{rc.account}:log-group:{name}"


@register
class LogGroup(ResourceHandler):
    type_name = "AWS::Logs::LogGroup"
    stack_tags = True
    attributes = frozenset({"Arn"})
    replace_always = False
    replace_on = frozenset({"LogGroupName", "LogGroupClass"})
    name_property = "LogGroupName"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        name = str(props.get("LogGroupName") or rc.physical_name(GROUP_NAME_MAX))
        params = api_params("logs", "CreateLogGroup", props, exclude=("LogGroupName", "Tags"))
        params["logGroupName"] = name
        tags = merged_tags(rc, props)
        if tags:
            params["tags"] = tags
        await rc.call("logs", "CreateLogGroup", params)
        physical = Physical(name, {"Arn": f"{_group_arn(rc, name)}:*"})
        async with self.finishing(rc, name, props, physical.attributes):
            if props.get("RetentionInDays") is not None:
                await rc.call("logs", "PutRetentionPolicy", _retention(name, props))
        return physical

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        name = current.physical_id
        if old.get("RetentionInDays") != new.get("RetentionInDays"):
            if new.get("RetentionInDays") is None:
                await rc.call("logs", "DeleteRetentionPolicy", {"logGroupName": name})
            else:
                await rc.call("logs", "PutRetentionPolicy", _retention(name, new))
        if old.get("KmsKeyId") != new.get("KmsKeyId"):
            if new.get("KmsKeyId"):
                await rc.call("logs", "AssociateKmsKey", {"logGroupName": name, "kmsKeyId": str(new["KmsKeyId"])})
            else:
                await rc.call("logs", "DisassociateKmsKey", {"logGroupName": name})
        if as_bool(old.get("DeletionProtectionEnabled")) != as_bool(new.get("DeletionProtectionEnabled")):
            # ecslite's Logs serves no PutLogGroupDeletionProtection: the setting is fixed at creation.
            raise ResourceFailed(
                "ecslite cannot change DeletionProtectionEnabled of an existing log group; "
                "give the group a new name (or none) to replace it"
            )
        put, drop = tag_changes(old.get("Tags"), new.get("Tags"))
        arn = _group_arn(rc, name)
        if put:
            await rc.call("logs", "TagResource", {"resourceArn": arn, "tags": put})
        if drop:
            await rc.call("logs", "UntagResource", {"resourceArn": arn, "tagKeys": drop})
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        await remove(rc, "logs", "DeleteLogGroup", {"logGroupName": current.physical_id}, gone=_GONE)


def _retention(name: str, props: Doc) -> Doc:
    params = api_params("logs", "PutRetentionPolicy", {"RetentionInDays": props["RetentionInDays"]})
    params["logGroupName"] = name
    return params


@register
class LogStream(ResourceHandler):
    type_name = "AWS::Logs::LogStream"
    name_property = "LogStreamName"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        name = str(props.get("LogStreamName") or rc.physical_name(STREAM_NAME_MAX))
        await rc.call("logs", "CreateLogStream", {"logGroupName": str(props["LogGroupName"]), "logStreamName": name})
        return Physical(name)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"logGroupName": str(props["LogGroupName"]), "logStreamName": current.physical_id}
        await remove(rc, "logs", "DeleteLogStream", params, gone=_GONE)
