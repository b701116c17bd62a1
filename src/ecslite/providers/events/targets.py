"""A rule's targets: PutTargets, RemoveTargets, ListTargetsByRule, ListRuleNamesByTarget.

Any target ARN is accepted, as EventBridge accepts it; what ecslite can deliver to is decided at
delivery (``control.event_rules``): a CloudWatch Logs log group, or an ECS cluster with
``EcsParameters``. A target put again under its Id replaces the earlier one in place.
"""

from __future__ import annotations

from typing import Any

from ecslite.model.event_inputs import InputError, check_target_input
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.events import errors
from ecslite.providers.events.common import MAX_TARGETS, EventsBase, bus_name, page
from ecslite.store import event_rules as rule_store

# ecslite's texts (unverified).
ECS_NEEDS_PARAMETERS = "EcsParameters must be specified for an Amazon ECS target ({arn})."


class TargetOps(EventsBase):
    def put_targets(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        rule = self.require_rule(ctx, params["Rule"], bus_name(ctx, params.get("EventBusName")))
        targets = [dict(t) for t in rule.targets]
        for given in params["Targets"]:
            _check_target(given)
            target = {k: v for k, v in given.items() if v is not None}
            at = next((i for i, t in enumerate(targets) if t["Id"] == target["Id"]), None)
            if at is None:
                targets.append(target)
            else:
                targets[at] = target
        if len(targets) > MAX_TARGETS:
            raise errors.LimitExceededException(errors.TOO_MANY_TARGETS)
        rule_store.set_targets(self.db, rule, targets)
        self.bus.rules_changed()
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def remove_targets(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        rule = self.require_rule(ctx, params["Rule"], bus_name(ctx, params.get("EventBusName")))
        ids = set(params["Ids"])
        # An Id the rule does not have is not an error (unverified).
        kept = [t for t in rule.targets if t["Id"] not in ids]
        if len(kept) != len(rule.targets):
            rule_store.set_targets(self.db, rule, kept)
            self.bus.rules_changed()
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def list_targets_by_rule(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        rule = self.require_rule(ctx, params["Rule"], bus_name(ctx, params.get("EventBusName")))
        chunk, token = page(rule.targets, params.get("NextToken"), params.get("Limit"))
        result: dict[str, Any] = {"Targets": chunk}
        if token:
            result["NextToken"] = token
        return result

    def list_rule_names_by_target(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        bus = bus_name(ctx, params.get("EventBusName"))
        arn = params["TargetArn"]
        rules = rule_store.listing(self.db, ctx.account, ctx.region, bus)
        names = [rule.name for rule in rules if any(t["Arn"] == arn for t in rule.targets)]
        chunk, token = page(names, params.get("NextToken"), params.get("Limit"))
        result: dict[str, Any] = {"RuleNames": chunk}
        if token:
            result["NextToken"] = token
        return result


def _check_target(target: dict[str, Any]) -> None:
    try:
        check_target_input(target)
    except InputError as problem:
        raise errors.ValidationException(str(problem)) from None
    arn = str(target["Arn"])
    if arn.startswith("arn:aws:ecs:") and ":cluster/" in arn and not target.get("EcsParameters"):
        raise errors.ValidationException(ECS_NEEDS_PARAMETERS.format(arn=arn))
