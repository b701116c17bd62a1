"""Scheduled actions (spec/ecs.md §6.3): PutScheduledAction, DescribeScheduledActions,
DeleteScheduledAction.

A schedule is ``at(...)``, ``rate(...)`` or ``cron(...)`` in the action's time zone (UTC by
default), read by model.scaling; the action's next run is stored with it and the scaling controller
runs it when due, within StartTime and EndTime. The same name updates the action: members the
request leaves out keep their values.
"""

from __future__ import annotations

from typing import Any

from ecslite.model.scaling import ScheduleError, next_run, parse_schedule, zone
from ecslite.providers.autoscaling import errors
from ecslite.providers.autoscaling.common import AutoscalingBase, action_arn, public
from ecslite.providers.base import Params, RequestContext
from ecslite.store import autoscaling as as_store

MAX_ACTIONS = 200
OPTIONAL = ("Timezone", "StartTime", "EndTime")


class ScheduledOps(AutoscalingBase):
    def put_scheduled_action(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        key = self.target_key(ctx, params)
        self.require_target(key)
        name = params["ScheduledActionName"]
        existing = as_store.get_action(self.db, key, name)
        if existing is None and len(list_all(self, key)) >= MAX_ACTIONS:
            raise errors.LimitExceededException(f"A scalable target can have at most {MAX_ACTIONS} scheduled actions.")
        now = self.now()
        doc: dict[str, Any] = (
            dict(existing)
            if existing
            else {
                "ScheduledActionName": name,
                "ScheduledActionARN": action_arn(ctx, key, name),
                "ServiceNamespace": key.namespace,
                "ResourceId": key.resource_id,
                "ScalableDimension": key.dimension,
                "CreationTime": now,
            }
        )
        if params.get("Schedule") is not None:
            doc["Schedule"] = params["Schedule"]
        for member in OPTIONAL:
            if params.get(member) is not None:
                doc[member] = params[member]
        if params.get("ScalableTargetAction") is not None:
            doc["ScalableTargetAction"] = dict(params["ScalableTargetAction"])
        action = doc.get("ScalableTargetAction") or {}
        if action.get("MinCapacity") is None and action.get("MaxCapacity") is None:
            raise errors.ValidationException(errors.NO_CAPACITY_IN_ACTION)
        low, high = action.get("MinCapacity"), action.get("MaxCapacity")
        if low is not None and high is not None and low > high:
            raise errors.ValidationException(errors.MIN_ABOVE_MAX)
        due = self.first_run(doc, now)
        doc["_updated"] = now
        with self.db.transaction():
            as_store.put_action(self.db, key, doc, due)
        return {}

    def first_run(self, doc: dict[str, Any], now: float) -> float | None:
        schedule_text = doc.get("Schedule")
        if not schedule_text:
            raise errors.ValidationException(errors.INVALID_SCHEDULE.format(schedule=schedule_text))
        try:
            zone(doc.get("Timezone"))
        except ScheduleError:
            raise errors.ValidationException(errors.INVALID_TIMEZONE.format(timezone=doc.get("Timezone"))) from None
        try:
            schedule = parse_schedule(schedule_text)
        except ScheduleError as error:
            raise errors.ValidationException(
                f"{errors.INVALID_SCHEDULE.format(schedule=schedule_text)} {error}."
            ) from None
        start, end = doc.get("StartTime"), doc.get("EndTime")
        if start is not None and end is not None and float(start) >= float(end):
            raise errors.ValidationException(errors.START_AFTER_END)
        return next_run(
            schedule,
            now,
            doc.get("Timezone"),
            start=None if start is None else float(start),
            end=None if end is None else float(end),
            origin=now,
        )

    def describe_scheduled_actions(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        after, limit = self.page_args(params)
        where = as_store.TargetFilter(
            ctx.account,
            ctx.region,
            params["ServiceNamespace"],
            dimension=params.get("ScalableDimension"),
            resource_id=params.get("ResourceId"),
            names=tuple(params.get("ScheduledActionNames") or ()),
        )
        rows = as_store.list_actions(self.db, where, after, limit + 1)
        result: dict[str, Any] = {"ScheduledActions": [public(doc) for _, doc in rows[:limit]]}
        if len(rows) > limit:
            result["NextToken"] = self.token(rows[limit - 1][0])
        return result

    def delete_scheduled_action(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        key = self.target_key(ctx, params)
        name = params["ScheduledActionName"]
        if as_store.get_action(self.db, key, name) is None:
            raise errors.ObjectNotFoundException(
                errors.ACTION_NOT_FOUND.format(
                    namespace=key.namespace, resource_id=key.resource_id, dimension=key.dimension, name=name
                )
            )
        with self.db.transaction():
            as_store.delete_action(self.db, key, name)
        return {}


def list_all(ops: AutoscalingBase, key: as_store.TargetKey) -> list[tuple[int, dict[str, Any]]]:
    where = as_store.TargetFilter(key.account, key.region, key.namespace, resource_id=key.resource_id)
    return as_store.list_actions(ops.db, where, None, MAX_ACTIONS + 1)
