"""AWS::S3::Bucket and AWS::S3::BucketPolicy through ecslite's S3 operations.

Bucket: ``Ref`` is the bucket's name; ``Fn::GetAtt`` gives ``Arn``, ``DomainName``,
``RegionalDomainName``, ``DualStackDomainName`` and ``WebsiteURL`` in AWS's forms (the names S3 would
answer to; ecslite's S3 itself is reached path-style on ecslite's endpoint). A bucket without
``BucketName`` gets CloudFormation's generated name, lowercase and at most 63 characters. Encryption,
versioning, the public access block, the lifecycle rules and tags are applied with S3's own operations
(and stored by ecslite's S3, not enforced) and change in place; ``BucketName`` needs a replacement.
Deleting a bucket that still holds objects fails as in CloudFormation (``DeletionPolicy: Retain`` keeps
it, as the CDK's bootstrap template does). BucketPolicy: ``Ref`` is the bucket's name; a new ``Bucket``
needs a replacement, a new document is put in place.
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
from ecslite.providers.cloudformation.resources.common import as_bool, changed, policy_text, remove, tag_list
from ecslite.providers.cloudformation.resources.properties import convert_for

BUCKET_NAME_MAX = 63
DEFAULT_REGION = "us-east-1"
_GONE = ("NoSuchBucket",)
# Bucket properties applied by an operation of their own after the bucket is made (and changed in
# place): each with what puts it and what takes it off.
_CONFIGS: dict[str, tuple[str, str, str | None]] = {
    # property: (put operation, the operation's member, delete operation)
    "BucketEncryption": ("PutBucketEncryption", "ServerSideEncryptionConfiguration", "DeleteBucketEncryption"),
    "PublicAccessBlockConfiguration": (
        "PutPublicAccessBlock",
        "PublicAccessBlockConfiguration",
        "DeletePublicAccessBlock",
    ),
    "LifecycleConfiguration": ("PutBucketLifecycleConfiguration", "LifecycleConfiguration", "DeleteBucketLifecycle"),
    "VersioningConfiguration": ("PutBucketVersioning", "VersioningConfiguration", None),
}


def bucket_attributes(region: str, name: str) -> Doc:
    return {
        "Arn": f"arn:aws:s3:::{name}",
        "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
        "DualStackDomainName": f"{name}.s3.dualstack.{region}.amazonaws.com",
        "WebsiteURL": f"http://{name}.s3-website-{region}.amazonaws.com",
    }


@register
class Bucket(ResourceHandler):
    type_name = "AWS::S3::Bucket"
    attributes = frozenset({"Arn", "DomainName", "RegionalDomainName", "DualStackDomainName", "WebsiteURL"})
    replace_always = False
    replace_on = frozenset({"BucketName", "ObjectLockEnabled"})
    name_property = "BucketName"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        name = str(props.get("BucketName") or rc.physical_name(BUCKET_NAME_MAX, lowercase=True))
        params: Doc = {"Bucket": name}
        if rc.region != DEFAULT_REGION:
            params["CreateBucketConfiguration"] = {"LocationConstraint": rc.region}
        await rc.call("s3", "CreateBucket", params)
        try:
            for prop in _CONFIGS:
                if props.get(prop) is not None:
                    await _put_config(rc, name, prop, props[prop])
            tags = tag_list(rc, props)
            if tags:
                await rc.call("s3", "PutBucketTagging", {"Bucket": name, "Tagging": {"TagSet": tags}})
        except (AwsError, ResourceFailed):
            # CloudFormation leaves nothing behind when a bucket's settings are refused.
            await remove(rc, "s3", "DeleteBucket", {"Bucket": name}, gone=_GONE)
            raise
        return Physical(name, bucket_attributes(rc.region, name))

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        name = current.physical_id
        for prop, (_, _, delete) in _CONFIGS.items():
            if old.get(prop) == new.get(prop):
                continue
            if new.get(prop) is not None:
                await _put_config(rc, name, prop, new[prop])
            elif delete is not None:
                await rc.call("s3", delete, {"Bucket": name})
            else:  # versioning cannot be taken off a bucket once on, only suspended
                await rc.call(
                    "s3", "PutBucketVersioning", {"Bucket": name, "VersioningConfiguration": {"Status": "Suspended"}}
                )
        if changed(old, new, ("Tags",)):
            tags = tag_list(rc, new)
            if tags:
                await rc.call("s3", "PutBucketTagging", {"Bucket": name, "Tagging": {"TagSet": tags}})
            else:
                await rc.call("s3", "DeleteBucketTagging", {"Bucket": name})
        return Physical(name, bucket_attributes(rc.region, name))

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        await remove(rc, "s3", "DeleteBucket", {"Bucket": current.physical_id}, gone=_GONE)


async def _put_config(rc: ResourceContext, name: str, prop: str, value: Any) -> None:
    operation, member, _ = _CONFIGS[prop]
    if prop == "BucketEncryption":
        # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
        rules = (value.get("ServerSideEncryptionConfiguration") if isinstance(value, dict) else None) or []
        value = {
            "Rules": [
                {
                    ("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                    for k, v in r.items()
                }
                for r in rules
                if isinstance(r, dict)
            ]
        }
    elif prop == "LifecycleConfiguration":
        value = {"Rules": [_lifecycle_rule(rule) for rule in (value or {}).get("Rules") or []]}
    params = convert_for("s3", operation, member, value)
    await rc.call("s3", operation, {"Bucket": name, member: params})


def _lifecycle_rule(rule: Doc) -> Doc:
    """A lifecycle rule in CloudFormation's shape (``ExpirationInDays``, ``Prefix``, ``TagFilters``,
    ``NoncurrentVersionExpirationInDays``, ``Transitions[].TransitionInDays``) in the API's."""
    out: Doc = {
        key: value
        for key, value in rule.items()
        if key in ("Id", "Status", "AbortIncompleteMultipartUpload", "NoncurrentVersionExpiration")
    }
    expiration: Doc = {}
    if rule.get("ExpirationInDays") is not None:
        expiration["Days"] = rule["ExpirationInDays"]
    if rule.get("ExpirationDate") is not None:
        expiration["Date"] = rule["ExpirationDate"]
    if rule.get("ExpiredObjectDeleteMarker") is not None:
        expiration["ExpiredObjectDeleteMarker"] = as_bool(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        out["Expiration"] = expiration
    if rule.get("NoncurrentVersionExpirationInDays") is not None:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]}
    transitions = [
        {
            "StorageClass": t.get("StorageClass"),
            **({"Days": t["TransitionInDays"]} if t.get("TransitionInDays") is not None else {}),
            **({"Date": t["TransitionDate"]} if t.get("TransitionDate") is not None else {}),
        }
        for t in rule.get("Transitions") or []
    ]
    if transitions:
        out["Transitions"] = transitions
    tag_filters = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in rule.get("TagFilters") or []]
    prefix = rule.get("Prefix")
    if tag_filters and (prefix is not None or len(tag_filters) > 1):
        out["Filter"] = {"And": {**({"Prefix": prefix} if prefix is not None else {}), "Tags": tag_filters}}
    elif tag_filters:
        out["Filter"] = {"Tag": tag_filters[0]}
    else:
        out["Filter"] = {"Prefix": prefix or ""}
    return out


@register
class BucketPolicy(ResourceHandler):
    type_name = "AWS::S3::BucketPolicy"
    replace_always = False
    replace_on = frozenset({"Bucket"})

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        bucket = str(props["Bucket"])
        await rc.call("s3", "PutBucketPolicy", {"Bucket": bucket, "Policy": policy_text(props["PolicyDocument"])})
        return Physical(bucket)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        params = {"Bucket": current.physical_id, "Policy": policy_text(new["PolicyDocument"])}
        await rc.call("s3", "PutBucketPolicy", params)
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        await remove(rc, "s3", "DeleteBucketPolicy", {"Bucket": current.physical_id}, gone=_GONE)
