"""CreateService/UpdateService rules for native blue/green deployments (``strategy: BLUE_GREEN``,
``model.blue_green``) and their canary and linear forms (``CANARY`` / ``LINEAR``,
``model.traffic_shift``), and ContinueServiceDeployment's hook lookup.

Configuration (``deploymentConfiguration``):
- ``bakeTimeInMinutes`` 0–1440 (the range is unverified; the API reference says it must be given for
  BLUE_GREEN, but ecslite takes an omitted one as 0 rather than refuse it: unverified);
- ``lifecycleHooks``: ``PAUSE`` hooks with at least one stage, never at ``TEST_TRAFFIC_SHIFT`` or
  ``PRODUCTION_TRAFFIC_SHIFT``; ``AWS_LAMBDA`` hooks (the default target type) are refused with
  UnsupportedFeatureException: ecslite cannot invoke Lambda functions;
- the ECS deployment controller, REPLICA scheduling, no Service Connect;
- CANARY: ``canaryConfiguration.canaryPercent`` a multiple of 0.1 from 0.1 to 100.0 and
  ``canaryBakeTimeInMinutes`` 0–1440; LINEAR: ``linearConfiguration.stepPercent`` a multiple of 0.1
  from 3.0 to 100.0 and ``stepBakeTimeInMinutes`` 0–1440 (the API reference's ranges).

The three strategies share every other rule below.

Load balancers (``loadBalancers[].advancedConfiguration``, spec §7.3/§7.4): every entry with a target
group needs one, with an ``alternateTargetGroupArn`` that exists, is not the primary group and fits
the task definition's network mode, and a ``productionListenerRule`` that exists, only forwards
(a rule mixing forward with other action types is not supported by ECS blue/green, per the
developer guide) and names the primary group; a ``testListenerRule`` is optional and checked the
same way; one of the two rules must name the alternate group, so the shift has somewhere to send
traffic. ECS's texts for these refusals are not documented: every message here is unverified.
Services without load balancers may use BLUE_GREEN too (no traffic to shift).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecslite.model import traffic_shift
from ecslite.model.blue_green import HOOK_STAGES, PAUSE_FORBIDDEN, Stage, forward_groups
from ecslite.model.services import DeploymentSpec
from ecslite.providers.base import RequestContext
from ecslite.providers.ecs.errors import InvalidParameterException, UnsupportedFeatureException
from ecslite.providers.ecs.service_load_balancers import TARGET_GROUP_UNKNOWN, TARGET_TYPE_MISMATCH
from ecslite.store import elbv2 as elb_store
from ecslite.store.db import Database

MAX_BAKE_MINUTES = 1440

# All unverified wording (see the module docstring).
BAKE_TIME_RANGE = "bakeTimeInMinutes must be between 0 and {high}; got {value}."
LAMBDA_HOOKS = (
    "Lifecycle hooks with targetType AWS_LAMBDA are not supported by ecslite: it cannot invoke Lambda "
    "functions. Use targetType PAUSE and ContinueServiceDeployment instead."
)
HOOK_STAGES_REQUIRED = "A lifecycle hook must specify at least one lifecycle stage."
HOOK_STAGE_INVALID = "The lifecycle stage {stage} is not valid for a lifecycle hook."
PAUSE_STAGE = "A PAUSE lifecycle hook cannot be configured for the {stage} lifecycle stage."
BLUE_GREEN_CONTROLLER = "The {strategy} deployment strategy is only supported with the ECS deployment controller."
BLUE_GREEN_DAEMON = (
    "The {strategy} deployment strategy is not supported for services using the DAEMON scheduling strategy."
)
PERCENT_RANGE = "{member} must be a multiple of 0.1 from {low:g} to {high:g}; got {value}."
STEP_BAKE_RANGE = "{member} must be between 0 and {high}; got {value}."
BLUE_GREEN_SERVICE_CONNECT = (
    "Service Connect with the BLUE_GREEN, CANARY and LINEAR deployment strategies is not supported by ecslite yet; "
    "use a load balancer, or the ROLLING strategy."
)
CLASSIC_LOAD_BALANCER = (
    "The BLUE_GREEN, CANARY and LINEAR deployment strategies require target groups; "
    "Classic Load Balancers are not supported."
)
ADVANCED_REQUIRED = (
    "The load balancer for target group {arn} must have an advancedConfiguration with an alternateTargetGroupArn "
    "and a productionListenerRule for the BLUE_GREEN, CANARY and LINEAR deployment strategies."
)
ALTERNATE_SAME = "The alternateTargetGroupArn {arn} must be different from the targetGroupArn."
RULE_UNKNOWN = "The listener rule {arn} does not exist in this account and region."
RULE_NOT_FORWARD = (
    "The listener rule {arn} must only forward to target groups; blue/green deployments do not support rules "
    "with other action types."
)
RULE_WITHOUT_PRIMARY = "The production listener rule {rule} does not forward to the target group {arn}."
RULES_WITHOUT_ALTERNATE = (
    "Neither the production nor the test listener rule forwards to the alternate target group {arn}."
)


def check_configuration(config: Mapping[str, Any], *, daemon: bool, ecs_controller: bool) -> None:
    """The BLUE_GREEN (CANARY, LINEAR) members of a service's (merged) deployment configuration."""
    strategy = str(config.get("strategy"))
    if not ecs_controller:
        raise InvalidParameterException(BLUE_GREEN_CONTROLLER.format(strategy=strategy))
    if daemon:
        raise InvalidParameterException(BLUE_GREEN_DAEMON.format(strategy=strategy))
    if strategy == traffic_shift.CANARY:
        canary = config.get("canaryConfiguration") or {}
        _check_percent(canary, "canaryPercent", traffic_shift.MIN_CANARY_PERCENT)
        _check_step_bake(canary, "canaryBakeTimeInMinutes")
    elif strategy == traffic_shift.LINEAR:
        linear = config.get("linearConfiguration") or {}
        _check_percent(linear, "stepPercent", traffic_shift.MIN_STEP_PERCENT)
        _check_step_bake(linear, "stepBakeTimeInMinutes")
    bake = config.get("bakeTimeInMinutes")
    if bake is not None and not 0 <= int(bake) <= MAX_BAKE_MINUTES:
        raise InvalidParameterException(BAKE_TIME_RANGE.format(high=MAX_BAKE_MINUTES, value=bake))
    for hook in config.get("lifecycleHooks") or ():
        if (hook.get("targetType") or "AWS_LAMBDA") != "PAUSE":
            raise UnsupportedFeatureException(LAMBDA_HOOKS)
        stages = hook.get("lifecycleStages") or ()
        if not stages:
            raise InvalidParameterException(HOOK_STAGES_REQUIRED)
        for stage in stages:
            if stage not in {s.value for s in HOOK_STAGES}:
                raise InvalidParameterException(HOOK_STAGE_INVALID.format(stage=stage))
            if Stage(stage) in PAUSE_FORBIDDEN:
                raise InvalidParameterException(PAUSE_STAGE.format(stage=stage))


def _check_percent(member: Mapping[str, Any], name: str, low: float) -> None:
    value = member.get(name)
    if value is None:
        return
    percent = float(value)
    if not low <= percent <= traffic_shift.MAX_PERCENT or not traffic_shift.is_tenth_multiple(percent):
        raise InvalidParameterException(
            PERCENT_RANGE.format(member=name, low=low, high=traffic_shift.MAX_PERCENT, value=value)
        )


def _check_step_bake(member: Mapping[str, Any], name: str) -> None:
    value = member.get(name)
    if value is not None and not 0 <= int(value) <= traffic_shift.MAX_STEP_BAKE_MINUTES:
        raise InvalidParameterException(
            STEP_BAKE_RANGE.format(member=name, high=traffic_shift.MAX_STEP_BAKE_MINUTES, value=value)
        )


def check_service(db: Database, ctx: RequestContext, spec: DeploymentSpec, definition: Mapping[str, Any]) -> None:
    """What a BLUE_GREEN deployment of ``spec`` needs from its load balancers and Service Connect."""
    if (spec.service_connect_configuration or {}).get("enabled"):
        raise UnsupportedFeatureException(BLUE_GREEN_SERVICE_CONNECT)
    mode = str(definition.get("networkMode") or "bridge")
    for item in spec.load_balancers:
        primary = item.get("targetGroupArn")
        if not primary:
            raise InvalidParameterException(CLASSIC_LOAD_BALANCER)
        advanced = item.get("advancedConfiguration") or {}
        alternate, production = advanced.get("alternateTargetGroupArn"), advanced.get("productionListenerRule")
        if not alternate or not production:
            raise InvalidParameterException(ADVANCED_REQUIRED.format(arn=primary))
        if alternate == primary:
            raise InvalidParameterException(ALTERNATE_SAME.format(arn=alternate))
        _check_group(db, ctx, str(alternate), mode)
        named = _forwarded_by(db, ctx, str(production))
        if primary not in named:
            raise InvalidParameterException(RULE_WITHOUT_PRIMARY.format(rule=production, arn=primary))
        test = advanced.get("testListenerRule")
        if test:
            named = named + _forwarded_by(db, ctx, str(test))
        if alternate not in named:
            raise InvalidParameterException(RULES_WITHOUT_ALTERNATE.format(arn=alternate))


def _check_group(db: Database, ctx: RequestContext, arn: str, mode: str) -> None:
    group = elb_store.get_target_group(db, arn) if _in_partition(ctx, arn) else None
    if group is None:
        raise InvalidParameterException(TARGET_GROUP_UNKNOWN.format(arn=arn))
    target_type = str(group.get("TargetType") or "instance")
    if target_type != ("ip" if mode == "awsvpc" else "instance"):
        raise InvalidParameterException(TARGET_TYPE_MISMATCH.format(arn=arn, target_type=target_type, mode=mode))


def _forwarded_by(db: Database, ctx: RequestContext, rule_arn: str) -> list[str]:
    found = elb_store.get_rule(db, rule_arn) if _in_partition(ctx, rule_arn) else None
    if found is None:
        raise InvalidParameterException(RULE_UNKNOWN.format(arn=rule_arn))
    actions = found[1].get("Actions") or []
    if not actions or any(a.get("Type") != "forward" for a in actions):
        raise InvalidParameterException(RULE_NOT_FORWARD.format(arn=rule_arn))
    return forward_groups(actions)


def _in_partition(ctx: RequestContext, arn: str) -> bool:
    parts = arn.split(":")
    return len(parts) >= 6 and parts[2] == "elasticloadbalancing" and parts[3] == ctx.region and parts[4] == ctx.account
