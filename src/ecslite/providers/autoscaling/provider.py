"""The Application Auto Scaling provider: all 14 operations of the model, for ECS services.

Scaling activities are written by the scaling controller (control.scaling) as it acts; this module
lists them, newest first. Tags belong to scalable targets and are named by the target's ARN.
"""

from __future__ import annotations

from typing import Any

from ecslite.providers.autoscaling import errors
from ecslite.providers.autoscaling.policies import PolicyOps
from ecslite.providers.autoscaling.scheduled import ScheduledOps
from ecslite.providers.autoscaling.targets import TargetOps
from ecslite.providers.base import Params, RequestContext
from ecslite.store import autoscaling as as_store
from ecslite.store import tags as tag_store


class AutoscalingProvider(TargetOps, PolicyOps, ScheduledOps):
    """Application Auto Scaling, API 2016-02-06."""

    def describe_scaling_activities(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        before, limit = self.page_args(params)
        where = as_store.TargetFilter(
            ctx.account,
            ctx.region,
            params["ServiceNamespace"],
            dimension=params.get("ScalableDimension"),
            resource_id=params.get("ResourceId"),
        )
        include = bool(params.get("IncludeNotScaledActivities"))
        rows = as_store.list_activities(self.db, where, before, limit + 1, include_not_scaled=include)
        result: dict[str, Any] = {"ScalingActivities": [doc for _, doc in rows[:limit]]}
        if len(rows) > limit:
            result["NextToken"] = self.token(rows[limit - 1][0])
        return result

    # -- tags --------------------------------------------------------------------------------------

    def _tagged(self, ctx: RequestContext, arn: str) -> str:
        found = as_store.target_by_arn(self.db, arn)
        if found is None or (found[0].account, found[0].region) != (ctx.account, ctx.region):
            raise errors.ResourceNotFoundException(errors.TAG_TARGET_NOT_FOUND.format(arn=arn))
        return arn

    def tag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._tagged(ctx, params["ResourceARN"])
        tags = self.checked_tags(arn, params["Tags"])
        with self.db.transaction():
            tag_store.put(self.db, arn, tags)
        return {}

    def untag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._tagged(ctx, params["ResourceARN"])
        with self.db.transaction():
            tag_store.remove(self.db, arn, list(params["TagKeys"]))
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._tagged(ctx, params["ResourceARN"])
        return {"Tags": dict(tag_store.get(self.db, arn))}
