"""CreateSchedule, GetSchedule, UpdateSchedule, DeleteSchedule and ListSchedules.

A schedule's document is what GetSchedule shows, plus ecslite's own members: ``_origin`` (when a
rate without StartDate starts counting: creation or last update), ``_nominal`` (the nominal time
of the next invocation, before any flexible window) and ``_pending`` (a failed invocation waiting
for its retry; the scheduler controller owns it). UpdateSchedule replaces the whole definition, as
Scheduler's does: what it leaves out goes back to its default.
"""

from __future__ import annotations

import re
from typing import Any

from ecslite.model.scaling import ScheduleError, parse_schedule, zone
from ecslite.model.schedule_timing import (
    DEFAULT_EVENT_AGE,
    DEFAULT_RETRY_ATTEMPTS,
    due_time,
    first_nominal,
    one_time,
)
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.scheduler.common import Doc, SchedulerBase, public, schedule_arn
from ecslite.providers.scheduler.errors import (
    BAD_EXPRESSION,
    BAD_TIMEZONE,
    ECS_PARAMETERS_NEEDED,
    ECS_TARGET_ARN,
    END_BEFORE_START,
    END_IN_PAST,
    ONE_TARGET_TYPE,
    SCHEDULE_EXISTS,
    SCHEDULE_NOT_FOUND,
    WINDOW_NEEDED,
    WINDOW_NOT_ALLOWED,
    ConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from ecslite.store import schedules as store

CLUSTER_ARN = re.compile(r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/[a-zA-Z0-9_-]{1,255}")
# The templated target types; a target carries at most one of them.
TEMPLATED = (
    "EcsParameters",
    "EventBridgeParameters",
    "EventBridgePutEventsV2Parameters",
    "EventBridgePutRawEventsParameters",
    "KinesisParameters",
    "SageMakerPipelineParameters",
    "SqsParameters",
)
# The definition's members UpdateSchedule sets (everything else is kept or ecslite's own).
DEFINITION = (
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "StartDate",
    "EndDate",
    "Description",
    "KmsKeyArn",
    "Target",
    "FlexibleTimeWindow",
)


class ScheduleOps(SchedulerBase):
    def create_schedule(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self.group(ctx, params.get("GroupName"))["Name"]
        name = params["Name"]
        if store.get_schedule(self.db, ctx.account, ctx.region, group, name) is not None:
            raise ConflictException(SCHEDULE_EXISTS.format(name=name))
        now = self.now()
        doc: Doc = {"Arn": schedule_arn(ctx, group, name), "Name": name, "GroupName": group, "CreationDate": now}
        self._define(doc, params, now)
        with self.db.transaction():
            self._store(ctx, doc, now)
        return {"ScheduleArn": doc["Arn"]}

    def update_schedule(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self._find(ctx, params.get("GroupName"), params["Name"])
        now = self.now()
        for member in DEFINITION:
            doc.pop(member, None)
        doc.pop("_pending", None)
        self._define(doc, params, now)
        with self.db.transaction():
            self._store(ctx, doc, now)
        return {"ScheduleArn": doc["Arn"]}

    def get_schedule(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return public(self._find(ctx, params.get("GroupName"), params["Name"]))

    def delete_schedule(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self._find(ctx, params.get("GroupName"), params["Name"])
        with self.db.transaction():
            store.delete_schedule(self.db, ctx.account, ctx.region, doc["GroupName"], doc["Name"])
        return {}

    def list_schedules(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = params.get("GroupName")
        if group is not None:
            self.group(ctx, group)
        after, limit = self.page_of(params)
        rows = store.list_schedules(
            self.db,
            ctx.account,
            ctx.region,
            group=group,
            prefix=params.get("NamePrefix"),
            state=params.get("State"),
            after=after,
            limit=limit + 1,
        )
        out: dict[str, Any] = {"Schedules": [_summary(doc) for _, doc in rows[:limit]]}
        if len(rows) > limit:
            out["NextToken"] = self.token(rows[limit - 1][0])
        return out

    # -- steps -----------------------------------------------------------------------------------

    def _find(self, ctx: RequestContext, group: str | None, name: str) -> Doc:
        group_name = self.group(ctx, group)["Name"]
        doc = store.get_schedule(self.db, ctx.account, ctx.region, group_name, name)
        if doc is None:
            raise ResourceNotFoundException(SCHEDULE_NOT_FOUND.format(name=name))
        return doc

    def _define(self, doc: Doc, params: Params, now: float) -> None:
        """Checks the definition in ``params`` and writes it into ``doc``."""
        expression = params["ScheduleExpression"]
        timezone = params.get("ScheduleExpressionTimezone")
        try:
            parse_schedule(expression)
        except ScheduleError:
            raise ValidationException(BAD_EXPRESSION.format(expression=expression)) from None
        try:
            zone(timezone)
        except ScheduleError:
            raise ValidationException(BAD_TIMEZONE.format(timezone=timezone)) from None
        window = dict(params["FlexibleTimeWindow"])
        if window["Mode"] == "FLEXIBLE" and window.get("MaximumWindowInMinutes") is None:
            raise ValidationException(WINDOW_NEEDED)
        if window["Mode"] == "OFF" and window.get("MaximumWindowInMinutes") is not None:
            raise ValidationException(WINDOW_NOT_ALLOWED)
        start, end = params.get("StartDate"), params.get("EndDate")
        if start is not None and end is not None and end <= start:
            raise ValidationException(END_BEFORE_START)
        if end is not None and end <= now and not expression.strip().startswith("at("):
            raise ValidationException(END_IN_PAST)
        for member in DEFINITION:
            if params.get(member) is not None:
                doc[member] = params[member]
        doc["Target"] = _target(params["Target"])
        doc["FlexibleTimeWindow"] = window
        doc["State"] = params.get("State") or "ENABLED"
        doc["ActionAfterCompletion"] = params.get("ActionAfterCompletion") or "NONE"
        doc["LastModificationDate"] = now
        doc["_origin"] = now

    def _store(self, ctx: RequestContext, doc: Doc, now: float) -> None:
        nominal = first_nominal(doc, now, float(doc["_origin"])) if doc["State"] == "ENABLED" else None
        doc["_nominal"] = nominal
        due = None if nominal is None else due_time(nominal, doc["FlexibleTimeWindow"], self.rng)
        # A one-time schedule that runs at once still gets its window's delay from now.
        if due is not None and one_time(doc):
            due = max(due, now)
        store.put_schedule(self.db, ctx.account, ctx.region, doc, due)


def _target(given: dict[str, Any]) -> dict[str, Any]:
    target = dict(given)
    present = [m for m in TEMPLATED if target.get(m) is not None]
    if len(present) > 1:
        raise ValidationException(ONE_TARGET_TYPE.format(members=", ".join(TEMPLATED)))
    arn = str(target["Arn"])
    if "EcsParameters" in present and not CLUSTER_ARN.fullmatch(arn):
        raise ValidationException(ECS_TARGET_ARN.format(arn=arn))
    if CLUSTER_ARN.fullmatch(arn) and "EcsParameters" not in present:
        raise ValidationException(ECS_PARAMETERS_NEEDED.format(arn=arn))
    # GetSchedule shows the retry policy in force; these are Scheduler's defaults (unverified that
    # GetSchedule fills them in when CreateSchedule had none).
    policy = dict(target.get("RetryPolicy") or {})
    policy.setdefault("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE)
    policy.setdefault("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS)
    target["RetryPolicy"] = policy
    return target


def _summary(doc: Doc) -> Doc:
    keys = ("Arn", "Name", "GroupName", "State", "CreationDate", "LastModificationDate")
    return {**{k: doc[k] for k in keys if k in doc}, "Target": {"Arn": doc["Target"]["Arn"]}}
