"""The EventBridge provider (JSON 1.1, ``AWSEvents.<Op>``): rules of the default event bus, their
targets, PutEvents and TestEventPattern (spec/ecs.md §12.1).

ecslite has one event bus per account and region, ``default``; ECS's own events (``aws.ecs``) and
the custom events PutEvents accepts go through it. The provider records rules and targets and hands
accepted events to the router (``control.event_rules.EventRouter``), which matches and delivers
them asynchronously. Other buses are refused with AWS's "does not exist" answer, except in
PutEvents, where AWS accepts an event for a bus that does not exist and delivers it nowhere
(aws/aws-cli#9186); ecslite does the same.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.events.common import DEFAULT_BUS, bus_arn
from ecslite.providers.events.rules import RuleOps
from ecslite.providers.events.targets import TargetOps

# PutEvents entry errors: codes and texts as moto reproduces them from AWS (unverified here).
MISSING = "Parameter {name} is not valid. Reason: {name} is a required argument."
MALFORMED_DETAIL = "Detail is malformed."
AWS_SOURCE = "Not authorized for the source."


class EventsProvider(RuleOps, TargetOps):
    """Amazon EventBridge, API version 2015-10-07 (default event bus only)."""

    def put_events(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        accepted: list[dict[str, Any]] = []
        for entry in params["Entries"]:
            problem = _entry_problem(entry)
            if problem is not None:
                results.append({"ErrorCode": problem[0], "ErrorMessage": problem[1]})
                continue
            event_id = str(uuid.uuid4())
            results.append({"EventId": event_id})
            bus = entry.get("EventBusName")
            if bus is None or bus in (DEFAULT_BUS, bus_arn(ctx)):
                accepted.append(self._event(ctx, entry, event_id))
        if accepted:
            self.bus.publish(accepted)
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}

    def _event(self, ctx: RequestContext, entry: dict[str, Any], event_id: str) -> dict[str, Any]:
        at = entry.get("Time")
        when = float(at) if at is not None else self.clock.now()
        return {
            "version": "0",
            "id": event_id,
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": ctx.account,
            "time": dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": ctx.region,
            "resources": list(entry.get("Resources") or []),
            "detail": orjson.loads(entry["Detail"]),
        }


def _entry_problem(entry: dict[str, Any]) -> tuple[str, str] | None:
    for member in ("Source", "DetailType", "Detail"):
        if not entry.get(member):
            return "InvalidArgument", MISSING.format(name=member)
    try:
        detail = orjson.loads(entry["Detail"])
    except orjson.JSONDecodeError:
        return "MalformedDetail", MALFORMED_DETAIL
    if not isinstance(detail, dict):
        return "MalformedDetail", MALFORMED_DETAIL
    if str(entry["Source"]).lower().startswith("aws."):
        # Only AWS services put events of their own sources on a bus.
        return "NotAuthorizedForSourceException", AWS_SOURCE
    return None
