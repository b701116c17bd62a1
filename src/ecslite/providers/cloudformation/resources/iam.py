"""AWS::IAM::Role, AWS::IAM::Policy and AWS::IAM::ManagedPolicy through ecslite's IAM operations.

Role: ``Ref`` is the role's name; ``Arn`` and ``RoleId`` are its attributes. ``RoleName`` and ``Path``
need a replacement; the trust policy, description, session length, inline ``Policies``,
``ManagedPolicyArns`` and tags change in place. A generated name is at most 64 characters.

Policy: an inline policy put on each of its ``Roles``; every property changes in place. Its ``Ref`` is a
generated id (CloudFormation's look like ``mysta-MyPol-1A2B3C4D5E6F``, unverified in detail) and ``Id``
is the same. ecslite's IAM holds roles only, so ``Groups`` and ``Users`` are refused.

ManagedPolicy: a customer managed policy; ``Ref`` is its ARN. ``ManagedPolicyName``, ``Path`` and
``Description`` need a replacement; a new ``PolicyDocument`` becomes a new default version (the
oldest other version goes first when there are five) and ``Roles`` are attached and detached in
place. Taking it down detaches it from every role, deletes its other versions, then the policy.

IAM refuses ``aws:`` tag keys from callers, so the roles get the stack's own tags and the template's,
without CloudFormation's ``aws:cloudformation:*`` ones.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from ecslite.protocol.errors import AwsError
from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceFailed,
    ResourceHandler,
    register,
)
from ecslite.providers.cloudformation.resources.common import (
    merged_tags,
    pairs,
    policy_text,
    remove,
    tag_changes,
)

ROLE_NAME_MAX = 64
POLICY_NAME_MAX = 128
MAX_POLICY_VERSIONS = 5
_GONE = ("NoSuchEntity",)
_ID_ALPHABET = string.ascii_uppercase + string.digits


def _inline(props: Doc) -> dict[str, str]:
    """``Policies`` as name → document text."""
    return {str(p["PolicyName"]): policy_text(p["PolicyDocument"]) for p in props.get("Policies") or []}


@register
class Role(ResourceHandler):
    type_name = "AWS::IAM::Role"
    stack_tags = True
    attributes = frozenset({"Arn", "RoleId"})
    replace_always = False
    replace_on = frozenset({"RoleName", "Path"})
    name_property = "RoleName"
    iam = True

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        name = str(props.get("RoleName") or rc.physical_name(ROLE_NAME_MAX))
        params: Doc = {
            "RoleName": name,
            "AssumeRolePolicyDocument": policy_text(props["AssumeRolePolicyDocument"]),
        }
        for key in ("Path", "Description", "PermissionsBoundary"):
            if props.get(key) is not None:
                params[key] = str(props[key])
        if props.get("MaxSessionDuration") is not None:
            params["MaxSessionDuration"] = _int(props["MaxSessionDuration"], "MaxSessionDuration")
        tags = merged_tags(rc, props, reserved=False)
        if tags:
            params["Tags"] = pairs(tags)
        role = (await rc.call("iam", "CreateRole", params))["Role"]
        physical = Physical(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})
        async with self.finishing(rc, name, props, physical.attributes):
            for policy, document in _inline(props).items():
                params = {"RoleName": name, "PolicyName": policy, "PolicyDocument": document}
                await rc.call("iam", "PutRolePolicy", params)
            for arn in props.get("ManagedPolicyArns") or []:
                await rc.call("iam", "AttachRolePolicy", {"RoleName": name, "PolicyArn": str(arn)})
        return physical

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        name = current.physical_id
        if policy_text(old["AssumeRolePolicyDocument"]) != policy_text(new["AssumeRolePolicyDocument"]):
            document = policy_text(new["AssumeRolePolicyDocument"])
            await rc.call("iam", "UpdateAssumeRolePolicy", {"RoleName": name, "PolicyDocument": document})
        changes: Doc = {}
        if old.get("Description") != new.get("Description"):
            changes["Description"] = str(new.get("Description") or "")
        if old.get("MaxSessionDuration") != new.get("MaxSessionDuration"):
            changes["MaxSessionDuration"] = _int(new.get("MaxSessionDuration") or 3600, "MaxSessionDuration")
        if changes:
            await rc.call("iam", "UpdateRole", {"RoleName": name, **changes})
        if old.get("PermissionsBoundary") != new.get("PermissionsBoundary"):
            raise ResourceFailed("ecslite cannot change the PermissionsBoundary of an existing role")
        before, after = _inline(old), _inline(new)
        for policy, document in after.items():
            if before.get(policy) != document:
                params = {"RoleName": name, "PolicyName": policy, "PolicyDocument": document}
                await rc.call("iam", "PutRolePolicy", params)
        for policy in [p for p in before if p not in after]:
            await remove(rc, "iam", "DeleteRolePolicy", {"RoleName": name, "PolicyName": policy}, gone=_GONE)
        attached = [str(a) for a in old.get("ManagedPolicyArns") or []]
        wanted = [str(a) for a in new.get("ManagedPolicyArns") or []]
        for arn in [a for a in wanted if a not in attached]:
            await rc.call("iam", "AttachRolePolicy", {"RoleName": name, "PolicyArn": arn})
        for arn in [a for a in attached if a not in wanted]:
            await remove(rc, "iam", "DetachRolePolicy", {"RoleName": name, "PolicyArn": arn}, gone=_GONE)
        put, drop = tag_changes(old.get("Tags"), new.get("Tags"), reserved=False)
        if put:
            await rc.call("iam", "TagRole", {"RoleName": name, "Tags": pairs(put)})
        if drop:
            await rc.call("iam", "UntagRole", {"RoleName": name, "TagKeys": drop})
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        """IAM deletes a role only without policies: whatever is on it comes off first, including
        policies an ``AWS::IAM::Policy`` of another stack put there (CloudFormation does the same)."""
        name = current.physical_id
        try:
            attached = (await rc.call("iam", "ListAttachedRolePolicies", {"RoleName": name}))["AttachedPolicies"]
            inline = (await rc.call("iam", "ListRolePolicies", {"RoleName": name}))["PolicyNames"]
        except AwsError as error:
            if error.code in _GONE:
                return
            raise
        for policy in attached:
            params = {"RoleName": name, "PolicyArn": policy["PolicyArn"]}
            await remove(rc, "iam", "DetachRolePolicy", params, gone=_GONE)
        for policy_name in inline:
            await remove(rc, "iam", "DeleteRolePolicy", {"RoleName": name, "PolicyName": policy_name}, gone=_GONE)
        await remove(rc, "iam", "DeleteRole", {"RoleName": name}, gone=_GONE)


@register
class Policy(ResourceHandler):
    type_name = "AWS::IAM::Policy"
    attributes = frozenset({"Id"})
    replace_always = False
    iam = True

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        _roles_only(props)
        await self._put(rc, props, _roles(props))
        suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))
        physical = f"{rc.stack_name[:5]}-{rc.logical_id[:5]}-{suffix}"
        return Physical(physical, {"Id": physical})

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        _roles_only(new)
        await self._put(rc, new, _roles(new))
        # What the old version put and the new one does not: on a role it leaves, or under its old name.
        kept = {(role, str(new["PolicyName"])) for role in _roles(new)}
        for role in _roles(old):
            if (role, str(old["PolicyName"])) not in kept:
                await _take_off(rc, role, str(old["PolicyName"]))
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        for role in _roles(props):
            await _take_off(rc, role, str(props["PolicyName"]))

    @staticmethod
    async def _put(rc: ResourceContext, props: Doc, roles: list[str]) -> None:
        document = policy_text(props["PolicyDocument"])
        for role in roles:
            params = {"RoleName": role, "PolicyName": str(props["PolicyName"]), "PolicyDocument": document}
            await rc.call("iam", "PutRolePolicy", params)


@register
class ManagedPolicy(ResourceHandler):
    type_name = "AWS::IAM::ManagedPolicy"
    attributes = frozenset({"PolicyArn", "DefaultVersionId", "AttachmentCount", "IsAttachable", "PolicyId"})
    replace_always = False
    replace_on = frozenset({"ManagedPolicyName", "Path", "Description"})
    name_property = "ManagedPolicyName"
    iam = True

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        _roles_only(props, required=False)
        name = str(props.get("ManagedPolicyName") or rc.physical_name(POLICY_NAME_MAX))
        params: Doc = {"PolicyName": name, "PolicyDocument": policy_text(props["PolicyDocument"])}
        for key in ("Path", "Description"):
            if props.get(key) is not None:
                params[key] = str(props[key])
        arn = str((await rc.call("iam", "CreatePolicy", params))["Policy"]["Arn"])
        async with self.finishing(rc, arn, props):
            for role in _roles(props):
                await rc.call("iam", "AttachRolePolicy", {"RoleName": role, "PolicyArn": arn})
            return await _managed_physical(rc, arn)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        _roles_only(new, required=False)
        arn = current.physical_id
        if policy_text(old["PolicyDocument"]) != policy_text(new["PolicyDocument"]):
            versions = (await rc.call("iam", "ListPolicyVersions", {"PolicyArn": arn}))["Versions"]
            if len(versions) >= MAX_POLICY_VERSIONS:
                oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=_version_number)
                params = {"PolicyArn": arn, "VersionId": oldest["VersionId"]}
                await rc.call("iam", "DeletePolicyVersion", params)
            params = {"PolicyArn": arn, "PolicyDocument": policy_text(new["PolicyDocument"]), "SetAsDefault": True}
            await rc.call("iam", "CreatePolicyVersion", params)
        before, after = _roles(old), _roles(new)
        for role in [r for r in after if r not in before]:
            await rc.call("iam", "AttachRolePolicy", {"RoleName": role, "PolicyArn": arn})
        for role in [r for r in before if r not in after]:
            await remove(rc, "iam", "DetachRolePolicy", {"RoleName": role, "PolicyArn": arn}, gone=_GONE)
        return await _managed_physical(rc, arn)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        """IAM deletes a policy only once detached and down to its default version; it comes off every
        role, including roles that another stack or caller attached it to."""
        arn = current.physical_id
        try:
            versions = (await rc.call("iam", "ListPolicyVersions", {"PolicyArn": arn}))["Versions"]
        except AwsError as error:
            if error.code in _GONE:
                return
            raise
        for role in await _all_roles(rc):
            attached = await rc.call("iam", "ListAttachedRolePolicies", {"RoleName": role["RoleName"]})
            if any(p["PolicyArn"] == arn for p in attached["AttachedPolicies"]):
                params = {"RoleName": role["RoleName"], "PolicyArn": arn}
                await remove(rc, "iam", "DetachRolePolicy", params, gone=_GONE)
        for version in versions:
            if not version["IsDefaultVersion"]:
                params = {"PolicyArn": arn, "VersionId": version["VersionId"]}
                await remove(rc, "iam", "DeletePolicyVersion", params, gone=_GONE)
        await remove(rc, "iam", "DeletePolicy", {"PolicyArn": arn}, gone=_GONE)


async def _managed_physical(rc: ResourceContext, arn: str) -> Physical:
    policy = (await rc.call("iam", "GetPolicy", {"PolicyArn": arn}))["Policy"]
    attributes = {
        "PolicyArn": arn,
        "DefaultVersionId": policy["DefaultVersionId"],
        "AttachmentCount": policy["AttachmentCount"],
        "IsAttachable": policy["IsAttachable"],
        "PolicyId": policy["PolicyId"],
    }
    return Physical(arn, attributes)


async def _all_roles(rc: ResourceContext) -> list[Doc]:
    roles: list[Doc] = []
    params: Doc = {}
    while True:
        page = await rc.call("iam", "ListRoles", params)
        roles += page["Roles"]
        if not page.get("IsTruncated"):
            return roles
        params = {"Marker": page["Marker"]}


def _version_number(version: Doc) -> int:
    return int(str(version["VersionId"]).lstrip("v").split(".")[0])


def _roles(props: Doc) -> list[str]:
    """Role names (a template may give a role's ARN; IAM's operations take the name)."""
    return [str(r).rsplit("/", 1)[-1] for r in props.get("Roles") or []]


def _roles_only(props: Doc, required: bool = True) -> None:
    if props.get("Groups") or props.get("Users"):
        raise ResourceFailed("ecslite's IAM holds roles only: an IAM policy can name Roles, not Groups or Users")
    if required and not props.get("Roles"):
        raise ResourceFailed("At least one of [Groups, Roles, Users] must be non-empty.")


async def _take_off(rc: ResourceContext, role: str, policy: str) -> None:
    await remove(rc, "iam", "DeleteRolePolicy", {"RoleName": role, "PolicyName": policy}, gone=_GONE)


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ResourceFailed(f"Property {name} has an invalid value: {value!r}") from None
