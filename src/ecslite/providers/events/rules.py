"""Rules of the default event bus: PutRule, DescribeRule, ListRules, DeleteRule, EnableRule,
DisableRule, TestEventPattern, and the bus itself (DescribeEventBus, ListEventBuses).

A rule has an event pattern (ecslite's pattern language, ``model.event_patterns``), a schedule
(``rate(...)`` or ``cron(...)``, read by ``model.scaling``; cron in UTC), or both. Only ENABLED
scheduled rules have a next firing time; a rate counts from when the rule got its schedule.
"""

from __future__ import annotations

from typing import Any

import orjson

from ecslite.model.event_patterns import PatternError, matches, parse_pattern
from ecslite.model.scaling import ScheduleError, next_run, parse_schedule
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.events import errors
from ecslite.providers.events.common import DEFAULT_BUS, EventsBase, bus_arn, bus_name, page, rule_arn
from ecslite.providers.events_feed import PATTERN_INVALID
from ecslite.store import event_rules as rule_store

SHOWN = ("Name", "Arn", "EventPattern", "ScheduleExpression", "State", "Description", "RoleArn", "EventBusName")


def check_pattern(text: str) -> dict[str, Any]:
    try:
        return parse_pattern(text)
    except PatternError as problem:
        raise errors.InvalidEventPatternException(PATTERN_INVALID.format(reason=problem)) from None


def rule_view(doc: dict[str, Any], *, describe: bool = False) -> dict[str, Any]:
    view = {key: doc[key] for key in SHOWN if doc.get(key) is not None}
    if describe:
        view["CreatedBy"] = doc["CreatedBy"]
    return view


class RuleOps(EventsBase):
    def put_rule(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        bus = bus_name(ctx, params.get("EventBusName"))
        name = params["Name"]
        pattern, schedule = params.get("EventPattern"), params.get("ScheduleExpression")
        if not pattern and not schedule:
            raise errors.ValidationException(errors.NO_PATTERN_OR_SCHEDULE)
        if pattern:
            check_pattern(pattern)
        if schedule:
            _check_schedule(schedule)
        existing = rule_store.get(self.db, ctx.account, ctx.region, bus, name)
        # State defaults to ENABLED for a new rule; an update without State keeps the rule's (unverified).
        state = params.get("State") or (existing.state if existing else "ENABLED")
        arn = rule_arn(ctx, name)
        doc: dict[str, Any] = {
            "Name": name,
            "Arn": arn,
            "EventPattern": pattern or None,
            "ScheduleExpression": schedule or None,
            "State": state,
            "Description": params.get("Description"),
            "RoleArn": params.get("RoleArn"),
            "EventBusName": bus,
            "CreatedBy": ctx.account,
            "Tags": params.get("Tags") or (existing.doc.get("Tags") if existing else None),
        }
        keep_origin = existing is not None and existing.doc.get("ScheduleExpression") == schedule
        doc["_origin"] = existing.doc.get("_origin") if keep_origin and existing else self.clock.now()
        rule_store.put(self.db, ctx.account, ctx.region, bus, name, arn, doc, self._next_run(doc, state))
        self.bus.rules_changed()
        return {"RuleArn": arn}

    def describe_rule(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        bus = bus_name(ctx, params.get("EventBusName"))
        return rule_view(self.require_rule(ctx, params["Name"], bus).doc, describe=True)

    def list_rules(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        bus = bus_name(ctx, params.get("EventBusName"))
        rules = rule_store.listing(self.db, ctx.account, ctx.region, bus, params.get("NamePrefix") or "")
        chunk, token = page(rules, params.get("NextToken"), params.get("Limit"))
        result: dict[str, Any] = {"Rules": [rule_view(rule.doc) for rule in chunk]}
        if token:
            result["NextToken"] = token
        return result

    def delete_rule(self, ctx: RequestContext, params: Params) -> None:
        bus = bus_name(ctx, params.get("EventBusName"))
        rule = rule_store.get(self.db, ctx.account, ctx.region, bus, params["Name"])
        if rule is None:
            return None  # deleting a rule that is not there succeeds (unverified)
        if rule.targets:
            raise errors.ValidationException(errors.RULE_HAS_TARGETS)
        rule_store.delete(self.db, rule)
        self.bus.rules_changed()
        return None

    def enable_rule(self, ctx: RequestContext, params: Params) -> None:
        self._set_state(ctx, params, "ENABLED")

    def disable_rule(self, ctx: RequestContext, params: Params) -> None:
        self._set_state(ctx, params, "DISABLED")

    def _set_state(self, ctx: RequestContext, params: Params, state: str) -> None:
        rule = self.require_rule(ctx, params["Name"], bus_name(ctx, params.get("EventBusName")))
        if rule.state == state:
            return
        doc = {**rule.doc, "State": state}
        if state == "ENABLED":
            doc["_origin"] = self.clock.now()  # a re-enabled rate counts from now (unverified)
        next_at = self._next_run(doc, state)
        rule_store.put(self.db, rule.account, rule.region, rule.bus, rule.name, rule.arn, doc, next_at)
        self.bus.rules_changed()

    def _next_run(self, doc: dict[str, Any], state: str) -> float | None:
        if state == "DISABLED" or not doc.get("ScheduleExpression"):
            return None
        now = self.clock.now()
        return next_run(parse_schedule(doc["ScheduleExpression"]), now, origin=doc.get("_origin", now))

    def test_event_pattern(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        pattern = check_pattern(params["EventPattern"])
        try:
            event = orjson.loads(params["Event"])
        except orjson.JSONDecodeError:
            raise errors.ValidationException(errors.BAD_EVENT) from None
        if not isinstance(event, dict):
            raise errors.ValidationException(errors.BAD_EVENT)
        return {"Result": matches(pattern, event)}

    # -- the bus --

    def describe_event_bus(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name = bus_name(ctx, params.get("Name"))
        return {"Name": name, "Arn": bus_arn(ctx, name)}

    def list_event_buses(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        prefix = params.get("NamePrefix") or ""
        buses = [{"Name": DEFAULT_BUS, "Arn": bus_arn(ctx)}] if DEFAULT_BUS.startswith(prefix) else []
        return {"EventBuses": buses}


def _check_schedule(expression: str) -> None:
    """rate(...) or cron(...); EventBridge rules take no at(...) (Scheduler does)."""
    try:
        schedule = parse_schedule(expression)
    except ScheduleError:
        raise errors.ValidationException(errors.BAD_SCHEDULE) from None
    if schedule.kind == "at":
        raise errors.ValidationException(errors.BAD_SCHEDULE)
