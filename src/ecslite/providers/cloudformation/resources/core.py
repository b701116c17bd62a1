"""CloudFormation's own bookkeeping types, and what the ECS, Logs, IAM and Application Auto Scaling
handlers share: tags, waiting out a resource still going away, taking one down idempotently.

``AWS::CDK::Metadata`` (the CDK adds one to every stack it synthesizes, carrying its analytics) and
``AWS::CloudFormation::WaitConditionHandle`` make nothing: they only need a physical id.
"""

from __future__ import annotations

import json
import secrets
import string
import uuid
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import quote

from ecslite.protocol.errors import AwsError
from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceHandler,
    register,
)

# How long a delete keeps trying while something it depends on is still going away (CloudFormation
# retries such deletes for some minutes before the resource turns DELETE_FAILED).
BUSY_SECONDS = 300.0
BUSY_INTERVAL = 2.0


def tag_pairs(rc: ResourceContext, props: Doc, *, reserved: bool = True) -> dict[str, str]:
    """The stack's tags then the template's ``Tags`` (the template's win) as a map; ``reserved=False``
    leaves out ``aws:`` keys for services that refuse them from callers (ECS, IAM, Auto Scaling)."""
    merged: dict[str, str] = {}
    for tag in [*rc.tags, *(props.get("Tags") or [])]:
        merged[str(tag["Key"])] = str(tag.get("Value", ""))
    return {k: v for k, v in merged.items() if reserved or not k.lower().startswith("aws:")}


def template_tags(props: Doc) -> dict[str, str]:
    """The template's own ``Tags`` (``[{"Key", "Value"}]``) as a map."""
    return {str(t["Key"]): str(t.get("Value", "")) for t in props.get("Tags") or []}


def tag_changes(old: Doc, new: Doc) -> tuple[dict[str, str], list[str]]:
    """Tags to put and keys to take off when a template's ``Tags`` go from ``old``'s to ``new``'s (the
    stack's own tags do not change with an update of one resource)."""
    before, after = template_tags(old), template_tags(new)
    return {k: v for k, v in after.items() if before.get(k) != v}, [k for k in before if k not in after]


def changed(old: Doc, new: Doc, names: Collection[str]) -> bool:
    return any(old.get(name) != new.get(name) for name in names)


def as_bool(value: Any, default: bool = False) -> bool:
    """A CloudFormation boolean, given as one or as the strings ``"true"``/``"false"``."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def policy_text(document: Any) -> str:
    """A policy document as IAM takes it: templates usually give a JSON object, sometimes a string."""
    return document if isinstance(document, str) else json.dumps(document, separators=(",", ":"))


async def remove(
    rc: ResourceContext,
    service: str,
    operation: str,
    params: Doc,
    *,
    gone: Collection[str],
    busy: Collection[str] = (),
    wait: float = BUSY_SECONDS,
) -> None:
    """Calls a delete operation: an error in ``gone`` means already deleted; one in ``busy`` is tried
    again every few seconds for up to ``wait`` seconds; any other propagates."""
    deadline = rc.clock.monotonic() + wait
    while True:
        try:
            await rc.call(service, operation, params)
            return
        except AwsError as error:
            if error.code in gone:
                return
            if error.code not in busy or rc.clock.monotonic() >= deadline:
                raise
        await rc.clock.sleep(BUSY_INTERVAL)


@register
class CdkMetadata(ResourceHandler):
    """The CDK's analytics record: nothing to make, and any change is made in place."""

    type_name = "AWS::CDK::Metadata"
    replace_always = False

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        return Physical(str(uuid.uuid4()))

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        return None


_SIGNATURE_ALPHABET = string.ascii_lowercase + string.digits


@register
class WaitConditionHandle(ResourceHandler):
    """A wait condition's handle: its Ref is the pre-signed URL a signal would be sent to. Nothing
    listens there in ecslite (a WaitCondition is not a supported type), so it is only a name."""

    type_name = "AWS::CloudFormation::WaitConditionHandle"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        # CloudFormation's form: an S3 URL whose key is the stack's ARN and the logical id, signed.
        key = quote(f"{rc.stack_id}/{rc.logical_id}", safe="")
        signature = "".join(secrets.choice(_SIGNATURE_ALPHABET) for _ in range(64))
        url = (
            f"https://cloudformation-waitcondition-{rc.region}.s3.amazonaws.com/{key}"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=86399&X-Amz-SignedHeaders=host"
            f"&X-Amz-Signature={signature}"
        )
        return Physical(url)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        return None


def pairs(tags: Mapping[str, str], key: str = "Key", value: str = "Value") -> list[Doc]:
    """A tag map as a list of pairs under the member names a service's model uses."""
    return [{key: k, value: v} for k, v in tags.items()]
