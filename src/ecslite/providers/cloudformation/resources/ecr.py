"""AWS::ECR::Repository through ecslite's ECR operations.

``Ref`` is the repository's name; ``Fn::GetAtt`` gives ``Arn`` and ``RepositoryUri``
(``<account>.dkr.ecr.<region>.amazonaws.com/<name>``, which ecslite's registry serves). A repository
without ``RepositoryName`` gets CloudFormation's generated name, lowercase. ``RepositoryName`` and
``EncryptionConfiguration`` need a replacement; tag mutability, scanning, the lifecycle and repository
policies and tags change in place. Deleting a repository that holds images fails (ECR's
RepositoryNotEmptyException) unless ``EmptyOnDelete`` is true, as in CloudFormation.
"""

from __future__ import annotations

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
from ecslite.providers.cloudformation.resources.common import as_bool, policy_text, remove, tag_changes, tag_list
from ecslite.providers.cloudformation.resources.properties import convert_for

NAME_MAX = 256
_GONE = ("RepositoryNotFoundException",)
_NO_POLICY = ("RepositoryPolicyNotFoundException", "LifecyclePolicyNotFoundException")


@register
class Repository(ResourceHandler):
    type_name = "AWS::ECR::Repository"
    attributes = frozenset({"Arn", "RepositoryUri"})
    replace_always = False
    replace_on = frozenset({"RepositoryName", "EncryptionConfiguration"})
    name_property = "RepositoryName"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        name = str(props.get("RepositoryName") or rc.physical_name(NAME_MAX, lowercase=True))
        params: Doc = {"repositoryName": name}
        for prop, member in (
            ("ImageTagMutability", "imageTagMutability"),
            ("ImageScanningConfiguration", "imageScanningConfiguration"),
            ("EncryptionConfiguration", "encryptionConfiguration"),
            ("ImageTagMutabilityExclusionFilters", "imageTagMutabilityExclusionFilters"),
        ):
            if props.get(prop) is not None:
                params[member] = convert_for("ecr", "CreateRepository", member, props[prop])
        # ECR refuses aws: keys from callers, CloudFormation's own tags among them.
        tags = tag_list(rc, props, reserved=False)
        if tags:
            params["tags"] = tags
        found = await rc.call("ecr", "CreateRepository", params)
        try:
            await self._policies(rc, name, {}, props)
        except (AwsError, ResourceFailed):
            # CloudFormation leaves nothing behind when a repository's policies are refused.
            await remove(rc, "ecr", "DeleteRepository", {"repositoryName": name, "force": True}, gone=_GONE)
            raise
        return _physical(found["repository"])

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        name = current.physical_id
        if old.get("ImageTagMutability") != new.get("ImageTagMutability") or old.get(
            "ImageTagMutabilityExclusionFilters"
        ) != new.get("ImageTagMutabilityExclusionFilters"):
            params: Doc = {
                "repositoryName": name,
                "imageTagMutability": str(new.get("ImageTagMutability") or "MUTABLE"),
            }
            if new.get("ImageTagMutabilityExclusionFilters"):
                params["imageTagMutabilityExclusionFilters"] = convert_for(
                    "ecr",
                    "PutImageTagMutability",
                    "imageTagMutabilityExclusionFilters",
                    new["ImageTagMutabilityExclusionFilters"],
                )
            await rc.call("ecr", "PutImageTagMutability", params)
        if old.get("ImageScanningConfiguration") != new.get("ImageScanningConfiguration"):
            config = {"scanOnPush": as_bool((new.get("ImageScanningConfiguration") or {}).get("ScanOnPush"))}
            await rc.call(
                "ecr", "PutImageScanningConfiguration", {"repositoryName": name, "imageScanningConfiguration": config}
            )
        await self._policies(rc, name, old, new)
        put, drop = tag_changes(old.get("Tags"), new.get("Tags"))
        arn = str(current.attributes.get("Arn") or f"arn:aws:ecr:{rc.region}:{rc.account}:repository/{name}")
        if drop:
            await rc.call("ecr", "UntagResource", {"resourceArn": arn, "tagKeys": drop})
        if put:
            await rc.call(
                "ecr", "TagResource", {"resourceArn": arn, "tags": [{"Key": k, "Value": v} for k, v in put.items()]}
            )
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"repositoryName": current.physical_id, "force": as_bool(props.get("EmptyOnDelete"))}
        await remove(rc, "ecr", "DeleteRepository", params, gone=_GONE)

    @staticmethod
    async def _policies(rc: ResourceContext, name: str, old: Doc, new: Doc) -> None:
        """The lifecycle and repository policies from ``old``'s to ``new``'s."""
        lifecycle = _lifecycle_text(new.get("LifecyclePolicy"))
        if lifecycle != _lifecycle_text(old.get("LifecyclePolicy")):
            if lifecycle is not None:
                params = {"repositoryName": name, "lifecyclePolicyText": lifecycle}
                await rc.call("ecr", "PutLifecyclePolicy", params)
            else:
                await remove(rc, "ecr", "DeleteLifecyclePolicy", {"repositoryName": name}, gone=_NO_POLICY)
        if new.get("RepositoryPolicyText") != old.get("RepositoryPolicyText"):
            if new.get("RepositoryPolicyText") is not None:
                params = {"repositoryName": name, "policyText": policy_text(new["RepositoryPolicyText"])}
                await rc.call("ecr", "SetRepositoryPolicy", params)
            else:
                await remove(rc, "ecr", "DeleteRepositoryPolicy", {"repositoryName": name}, gone=_NO_POLICY)


def _lifecycle_text(policy: Any) -> str | None:
    if not isinstance(policy, dict) or policy.get("LifecyclePolicyText") is None:
        return None
    return policy_text(policy["LifecyclePolicyText"])


def _physical(repository: Doc) -> Physical:
    return Physical(
        str(repository["repositoryName"]),
        {"Arn": repository["repositoryArn"], "RepositoryUri": repository["repositoryUri"]},
    )
