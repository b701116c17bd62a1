"""Attributes of container instances (spec/ecs.md §5.1, §5.4): PutAttributes, DeleteAttributes,
ListAttributes.

Targets are container instances named by id or ARN (``targetType`` is required with a bare id).
A target must be a registered instance of the request's cluster, else ``TargetNotFoundException``.
Names starting with ``ecs.`` or ``com.amazonaws.ecs.`` are the attributes ECS itself sets at
registration (``ecs.os-type``, capabilities …): they are listed but never changed here, and do not
count towards the limit of ``MAX_CUSTOM`` custom attributes per instance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import (
    AttributeLimitExceededException,
    InvalidParameterException,
    TargetNotFoundException,
)
from ecslite.providers.pagination import encode_token
from ecslite.store import attributes as attribute_store

TARGET_TYPE = "container-instance"
MAX_PER_CALL = 10
MAX_CUSTOM = 10
BUILT_IN_PREFIXES = ("ecs.", "com.amazonaws.ecs.")
NAME_PATTERN = re.compile(r"[a-zA-Z0-9_./\\-]{1,128}")
VALUE_PATTERN = re.compile(r"[a-zA-Z0-9_.@/\\: -]{1,128}")

# The first two texts are the ECS API reference's descriptions of these errors; every text here is
# unverified against the live service and kept in one place so it can be corrected.
TARGET_NOT_FOUND = (
    "The specified target wasn't found. You can view your available container instances with "
    "ListContainerInstances. Amazon ECS container instances are cluster-specific and Region-specific."
)
LIMIT_EXCEEDED = (
    "You can apply up to 10 custom attributes for each resource. You can view the attributes of a resource "
    "with ListAttributes. You can remove existing attributes on a resource with DeleteAttributes."
)
TOO_MANY_IN_CALL = f"You can specify up to {MAX_PER_CALL} attributes in a single call; this request has {{count}}."
BAD_NAME = (
    "Invalid attribute name '{name}'. A name has 1 to 128 letters, numbers, hyphens, underscores, forward "
    "slashes, back slashes or periods."
)
BAD_VALUE = (
    "Invalid value '{value}' for attribute '{name}'. A value has 1 to 128 letters, numbers, hyphens, underscores, "
    "periods, at signs, forward slashes, back slashes, colons or spaces, and does not start or end with a space."
)
NO_TARGET = "The attribute '{name}' has no targetId. Specify the container instance id or ARN."
NEEDS_TARGET_TYPE = "The attribute '{name}' names its target by id; targetType must be specified as well."
RESERVED_NAME = "The attribute '{name}' is set by Amazon ECS and cannot be changed or deleted."
VALUE_NEEDS_NAME = "The attributeValue filter requires attributeName as well."


@dataclass(frozen=True, slots=True)
class Target:
    cluster: str
    arn: str


class AttributeOps(EcsBase):
    def put_attributes(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))["clusterName"]
        items = params["attributes"]
        if len(items) > MAX_PER_CALL:
            raise InvalidParameterException(TOO_MANY_IN_CALL.format(count=len(items)))
        resolved = []
        for item in items:
            _check_attribute(item, with_value=True)
            resolved.append((item, self._target(ctx, cluster, item)))
        self._check_limit(resolved)
        with self.db.transaction():
            for item, target in resolved:
                attribute_store.put(
                    self.db, ctx.account, ctx.region, cluster, TARGET_TYPE, target.arn, item["name"], item.get("value")
                )
        return {"attributes": items}

    def delete_attributes(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))["clusterName"]
        items = params["attributes"]
        if len(items) > MAX_PER_CALL:
            raise InvalidParameterException(TOO_MANY_IN_CALL.format(count=len(items)))
        deleted = []
        targets = []
        for item in items:
            _check_attribute(item, with_value=False)
            target = self._target(ctx, cluster, item)
            stored = attribute_store.of_target(self.db, TARGET_TYPE, target.arn)
            entry = {key: item[key] for key in ("name", "targetType", "targetId") if key in item}
            if stored.get(item["name"]) is not None:
                entry["value"] = stored[item["name"]]
            deleted.append(entry)
            targets.append(target)
        with self.db.transaction():
            for item, target in zip(items, targets, strict=True):
                attribute_store.delete(self.db, ctx.account, ctx.region, cluster, TARGET_TYPE, target.arn, item["name"])
        return {"attributes": deleted}

    def list_attributes(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))["clusterName"]
        name, value = params.get("attributeName"), params.get("attributeValue")
        if value is not None and name is None:
            raise InvalidParameterException(VALUE_NEEDS_NAME)
        after, limit = self.page_args(params)
        if after is not None and not isinstance(after, int):
            raise InvalidParameterException("Invalid nextToken.")
        rows = attribute_store.page(
            self.db, ctx.account, ctx.region, cluster, params["targetType"], name, value, after, limit + 1
        )
        attributes = []
        for row in rows[:limit]:
            entry: dict[str, Any] = {"name": row.name, "targetId": row.target_id}
            if row.value is not None:
                entry["value"] = row.value
            attributes.append(entry)
        result: dict[str, Any] = {"attributes": attributes}
        if len(rows) > limit:
            result["nextToken"] = encode_token(rows[limit - 1].rid)
        return result

    # -- helpers ---------------------------------------------------------------------------------

    def _target(self, ctx: RequestContext, cluster: str, item: dict[str, Any]) -> Target:
        """The registered container instance of ``cluster`` an attribute names (§1.5: id or ARN)."""
        ref = item.get("targetId")
        if not ref:
            raise InvalidParameterException(NO_TARGET.format(name=item["name"]))
        if not ref.startswith("arn:") and item.get("targetType") is None:
            raise InvalidParameterException(NEEDS_TARGET_TYPE.format(name=item["name"]))
        instance_id = self.ref_id(ctx, ref, TARGET_TYPE, cluster=cluster, lengths=(1, 2))
        if instance_id is None:
            raise self._not_found(ref, cluster)
        row = self.db.query_one(
            """SELECT arn FROM container_instances WHERE account=? AND region=? AND cluster=? AND id=?
               AND status != 'INACTIVE'""",
            (ctx.account, ctx.region, cluster, instance_id),
        )
        if row is None:
            raise self._not_found(ref, cluster)
        return Target(cluster, str(row["arn"]))

    @staticmethod
    def _not_found(ref: str, cluster: str) -> TargetNotFoundException:
        return TargetNotFoundException(f"{TARGET_NOT_FOUND} No container instance {ref} is registered in {cluster}.")

    def _check_limit(self, resolved: list[tuple[dict[str, Any], Target]]) -> None:
        """No instance may end up with more than ``MAX_CUSTOM`` custom attributes."""
        custom: dict[str, set[str]] = {}
        for item, target in resolved:
            if target.arn not in custom:
                stored = attribute_store.of_target(self.db, TARGET_TYPE, target.arn)
                custom[target.arn] = {n for n in stored if not n.startswith(BUILT_IN_PREFIXES)}
            custom[target.arn].add(item["name"])
        if any(len(names) > MAX_CUSTOM for names in custom.values()):
            raise AttributeLimitExceededException(LIMIT_EXCEEDED)


def _check_attribute(item: dict[str, Any], *, with_value: bool) -> None:
    name = item["name"]
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidParameterException(BAD_NAME.format(name=name))
    if name.startswith(BUILT_IN_PREFIXES):
        raise InvalidParameterException(RESERVED_NAME.format(name=name))
    value = item.get("value")
    if with_value and value is not None and (not VALUE_PATTERN.fullmatch(value) or value != value.strip(" ")):
        raise InvalidParameterException(BAD_VALUE.format(name=name, value=value))
