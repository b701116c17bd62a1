"""Scalable targets (spec/ecs.md §6.1): RegisterScalableTarget, DescribeScalableTargets,
DeregisterScalableTarget.

Registering needs an ACTIVE service; MinCapacity and MaxCapacity are required the first time, and a
later call changes only what it gives (suspend and resume keep the range). Registering does not
move the desired count; the scaling controller does that when a policy or a scheduled action acts.
Deregistering removes the target's policies (and their alarms) and scheduled actions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecslite.providers.autoscaling import errors
from ecslite.providers.autoscaling.common import ROLE, AutoscalingBase, public, target_arn
from ecslite.providers.base import Params, RequestContext
from ecslite.store import autoscaling as as_store
from ecslite.store import tags as tag_store

SUSPENSIONS = ("DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended")
MAX_TAGS = 50


class TargetOps(AutoscalingBase):
    if TYPE_CHECKING:  # provided by PolicyOps in the assembled provider

        def delete_policy_alarms(self, ctx: RequestContext, policy: dict[str, Any]) -> None: ...

    def register_scalable_target(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        key = self.target_key(ctx, params)
        if self.ecs_service(key) is None:
            raise errors.ValidationException(errors.SERVICE_MISSING.format(resource_id=key.resource_id))
        existing = as_store.get_target(self.db, key)
        if existing is None:
            if params.get("MinCapacity") is None or params.get("MaxCapacity") is None:
                raise errors.ValidationException(errors.MIN_MAX_REQUIRED)
            doc: dict[str, Any] = {
                "ServiceNamespace": key.namespace,
                "ResourceId": key.resource_id,
                "ScalableDimension": key.dimension,
                "RoleARN": params.get("RoleARN") or ROLE.format(account=ctx.account),
                "CreationTime": self.now(),
                "SuspendedState": dict.fromkeys(SUSPENSIONS, False),
                "ScalableTargetARN": target_arn(ctx),
            }
        else:
            doc = dict(existing)
        for member in ("MinCapacity", "MaxCapacity"):
            if params.get(member) is not None:
                doc[member] = int(params[member])
        if params.get("RoleARN"):
            doc["RoleARN"] = params["RoleARN"]
        for member, value in (params.get("SuspendedState") or {}).items():
            doc["SuspendedState"][member] = bool(value)
        if doc["MinCapacity"] > doc["MaxCapacity"]:
            raise errors.ValidationException(errors.MIN_ABOVE_MAX)
        tags = self.checked_tags(doc["ScalableTargetARN"], params.get("Tags") or {})
        with self.db.transaction():
            as_store.put_target(self.db, key, doc)
            tag_store.put(self.db, doc["ScalableTargetARN"], tags)
        return {"ScalableTargetARN": doc["ScalableTargetARN"]}

    def checked_tags(self, arn: str, tags: dict[str, str]) -> list[tuple[str, str]]:
        if any(k.lower().startswith("aws:") for k in tags):
            raise errors.ValidationException(errors.TAG_RESERVED)
        if tag_store.count_after(self.db, arn, list(tags)) > MAX_TAGS:
            raise errors.TooManyTagsException()
        return list(tags.items())

    def describe_scalable_targets(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        after, limit = self.page_args(params)
        where = as_store.TargetFilter(
            ctx.account,
            ctx.region,
            params["ServiceNamespace"],
            tuple(params.get("ResourceIds") or ()),
            params.get("ScalableDimension"),
        )
        rows = as_store.list_targets(self.db, where, after, limit + 1)
        result: dict[str, Any] = {"ScalableTargets": [public(doc) for _, doc in rows[:limit]]}
        if len(rows) > limit:
            result["NextToken"] = self.token(rows[limit - 1][0])
        return result

    def deregister_scalable_target(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        key = self.target_key(ctx, params)
        doc = as_store.get_target(self.db, key)
        if doc is None:
            raise errors.ObjectNotFoundException(
                errors.TARGET_NOT_FOUND.format(
                    namespace=key.namespace, resource_id=key.resource_id, dimension=key.dimension
                )
            )
        with self.db.transaction():
            for policy in as_store.policies_of(self.db, key):
                self.delete_policy_alarms(ctx, policy)
            as_store.delete_target(self.db, key)
            arn = doc["ScalableTargetARN"]
            tag_store.remove(self.db, arn, [k for k, _ in tag_store.get(self.db, arn)])
        return {}
