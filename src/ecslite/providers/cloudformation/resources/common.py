"""What the resource handlers share: taking a resource down idempotently (waiting out dependents
that are still going away), tags in the shapes their operations take, and reading CloudFormation's
loosely typed property values."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from ecslite.protocol.errors import AwsError
from ecslite.providers.cloudformation.resources.base import Doc, ResourceContext

# How long a delete keeps trying while something that depends on the resource is still going away
# (CloudFormation retries DependencyViolation and ResourceInUse the same way for some minutes before
# the resource turns DELETE_FAILED).
BUSY_SECONDS = 300.0
BUSY_INTERVAL = 2.0


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
    """Calls a delete operation: an error in ``gone`` means already deleted, one in ``busy`` is tried
    again every few seconds for up to ``wait`` seconds, any other propagates."""
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


def merged_tags(rc: ResourceContext, props: Doc, *, reserved: bool = True) -> dict[str, str]:
    """The stack's tags then the template's ``Tags`` (the template's win) as a map; ``reserved=False``
    leaves out ``aws:`` keys for services that refuse them from callers (ECS, IAM, ECR, EC2, Auto
    Scaling)."""
    merged: dict[str, str] = {}
    for tag in [*rc.tags, *(props.get("Tags") or [])]:
        merged[str(tag["Key"])] = str(tag.get("Value", ""))
    return {k: v for k, v in merged.items() if reserved or not _reserved(k)}


def _reserved(key: str) -> bool:
    return key.lower().startswith("aws:")


def tag_list(rc: ResourceContext, props: Doc, *, reserved: bool = True) -> list[Doc]:
    """``merged_tags`` as ``[{"Key", "Value"}]``."""
    return pairs(merged_tags(rc, props, reserved=reserved))


def tag_map(tags: Any) -> dict[str, str]:
    """``Tags`` as a map, from either CloudFormation shape (a list of Key/Value or a JSON object)."""
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or []}


def tag_changes(old: Any, new: Any, *, reserved: bool = True) -> tuple[dict[str, str], list[str]]:
    """Tags to put and keys to take off when a template's ``Tags`` go from ``old`` to ``new`` (the
    stack's own tags do not change with an update of one resource); ``reserved=False`` puts no
    ``aws:`` keys, as in ``merged_tags``."""
    before, after = tag_map(old), tag_map(new)
    put = {k: v for k, v in after.items() if before.get(k) != v and (reserved or not _reserved(k))}
    return put, [k for k in before if k not in after]


async def retag(
    rc: ResourceContext,
    service: str,
    target: Doc,
    old: Doc,
    new: Doc,
    *,
    tag: str = "TagResource",
    untag: str = "UntagResource",
) -> None:
    """Brings a resource's tags from the template's old ``Tags`` to its new ones, for the services
    whose tag operations take ``target`` (the resource's id members) with ``TagKeys`` to take off and
    ``Tags`` as Key/Value pairs to put."""
    put, drop = tag_changes(old.get("Tags"), new.get("Tags"))
    if drop:
        await rc.call(service, untag, {**target, "TagKeys": drop})
    if put:
        await rc.call(service, tag, {**target, "Tags": pairs(put)})


def pairs(tags: Mapping[str, str], key: str = "Key", value: str = "Value") -> list[Doc]:
    """A tag map as a list of pairs under the member names a service's model uses."""
    return [{key: k, value: v} for k, v in tags.items()]


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
