"""Amazon ECS native blue/green deployments (``deploymentConfiguration.strategy = BLUE_GREEN``): the
lifecycle stages in their order, the hook stages, and the listener-rule rewrite that shifts traffic.

- Stages (``ServiceDeployment.lifecycleStage``, the installed botocore model's
  ``ServiceDeploymentLifecycleStage`` in the documented order): ``RECONCILE_SERVICE`` (only when the
  deployment starts with more than one older revision still running), ``PRE_SCALE_UP``, ``SCALE_UP``,
  ``POST_SCALE_UP``, ``TEST_TRAFFIC_SHIFT``, ``POST_TEST_TRAFFIC_SHIFT``, ``PRODUCTION_TRAFFIC_SHIFT``,
  ``POST_PRODUCTION_TRAFFIC_SHIFT``, ``BAKE_TIME``, ``CLEAN_UP``.
- Hook stages (``DeploymentLifecycleHookStage``) are those minus ``SCALE_UP``, ``BAKE_TIME`` and
  ``CLEAN_UP``, plus ``PRE_PRODUCTION_TRAFFIC_SHIFT``, which has no lifecycle stage of its own: ecslite
  runs it just before the production shift and shows ``PRODUCTION_TRAFFIC_SHIFT`` meanwhile
  (unverified). ``PAUSE`` hooks cannot sit at the two shifting stages.
- Traffic: a rule's forward action gets weight 100 for the group that is to serve and 0 for the
  other (the weighted forward ELBv2 offers, 0–999); groups it names besides the two keep theirs.
  CANARY and LINEAR go through the same stages, the production shift in steps with weights between
  (``model.traffic_shift``).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

Doc = dict[str, Any]

BLUE_GREEN = "BLUE_GREEN"
BLUE_GREEN_FAMILY = frozenset({BLUE_GREEN, "CANARY", "LINEAR"})
SERVING_WEIGHT = 100
IDLE_WEIGHT = 0
DEFAULT_HOOK_TIMEOUT_MINUTES = 1440  # DeploymentLifecycleHookTimeoutConfiguration's documented default
DEFAULT_TIMEOUT_ACTION = "ROLLBACK"


class Stage(StrEnum):
    RECONCILE_SERVICE = "RECONCILE_SERVICE"
    PRE_SCALE_UP = "PRE_SCALE_UP"
    SCALE_UP = "SCALE_UP"
    POST_SCALE_UP = "POST_SCALE_UP"
    TEST_TRAFFIC_SHIFT = "TEST_TRAFFIC_SHIFT"
    POST_TEST_TRAFFIC_SHIFT = "POST_TEST_TRAFFIC_SHIFT"
    PRE_PRODUCTION_TRAFFIC_SHIFT = "PRE_PRODUCTION_TRAFFIC_SHIFT"  # a hook point, not a lifecycleStage
    PRODUCTION_TRAFFIC_SHIFT = "PRODUCTION_TRAFFIC_SHIFT"
    POST_PRODUCTION_TRAFFIC_SHIFT = "POST_PRODUCTION_TRAFFIC_SHIFT"
    BAKE_TIME = "BAKE_TIME"
    CLEAN_UP = "CLEAN_UP"


# The order a deployment goes through them (RECONCILE_SERVICE only sometimes, see above).
STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)

HOOK_STAGES = frozenset(
    {
        Stage.RECONCILE_SERVICE,
        Stage.PRE_SCALE_UP,
        Stage.POST_SCALE_UP,
        Stage.TEST_TRAFFIC_SHIFT,
        Stage.POST_TEST_TRAFFIC_SHIFT,
        Stage.PRE_PRODUCTION_TRAFFIC_SHIFT,
        Stage.PRODUCTION_TRAFFIC_SHIFT,
        Stage.POST_PRODUCTION_TRAFFIC_SHIFT,
    }
)
PAUSE_FORBIDDEN = frozenset({Stage.TEST_TRAFFIC_SHIFT, Stage.PRODUCTION_TRAFFIC_SHIFT})


class HookStatus(StrEnum):
    AWAITING_ACTION = "AWAITING_ACTION"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"


class HookAction(StrEnum):
    CONTINUE = "CONTINUE"
    ROLLBACK = "ROLLBACK"


def shown_stage(stage: Stage) -> str:
    """The ``lifecycleStage`` a deployment at ``stage`` shows."""
    if stage is Stage.PRE_PRODUCTION_TRAFFIC_SHIFT:
        return Stage.PRODUCTION_TRAFFIC_SHIFT.value
    return stage.value


def next_stage(stage: Stage) -> Stage | None:
    index = STAGE_ORDER.index(stage)
    return STAGE_ORDER[index + 1] if index + 1 < len(STAGE_ORDER) else None


def is_blue_green(config: Mapping[str, Any] | None) -> bool:
    """BLUE_GREEN, or CANARY / LINEAR: blue/green with the production shift in steps
    (``model.traffic_shift``)."""
    return str((config or {}).get("strategy") or "ROLLING") in BLUE_GREEN_FAMILY


def pause_hooks_at(config: Mapping[str, Any], stage: Stage) -> list[tuple[int, Mapping[str, Any]]]:
    """``(index, hook)`` of the configuration's PAUSE hooks that run at ``stage``."""
    return [
        (index, hook)
        for index, hook in enumerate(config.get("lifecycleHooks") or ())
        if hook.get("targetType") == "PAUSE" and stage.value in (hook.get("lifecycleStages") or ())
    ]


def new_hook_id() -> str:
    """``ecs-pause-<43 base64url characters>``, the form the developer guide's example shows."""
    return "ecs-pause-" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def hook_detail(hook: Mapping[str, Any], stage: Stage, index: int, now: float) -> Doc:
    """A ``DeploymentLifecycleHookDetail`` for a PAUSE hook reached at ``stage`` (``_stage``/``_index``
    private: which configured hook at which stage it stands for)."""
    timeout = hook.get("timeoutConfiguration") or {}
    minutes = int(timeout.get("timeoutInMinutes") or DEFAULT_HOOK_TIMEOUT_MINUTES)
    return {
        "hookId": new_hook_id(),
        "targetType": "PAUSE",
        "status": HookStatus.AWAITING_ACTION.value,
        "expiresAt": now + minutes * 60.0,
        "timeoutAction": str(timeout.get("action") or DEFAULT_TIMEOUT_ACTION),
        "_stage": stage.value,
        "_index": index,
    }


def shifted_actions(
    actions: Sequence[Mapping[str, Any]],
    serving: str,
    idle: str,
    weights: tuple[int, int] = (SERVING_WEIGHT, IDLE_WEIGHT),
) -> list[Doc]:
    """``actions`` with their forward action sending everything to ``serving`` and nothing to ``idle``
    (or, for a canary or linear step, ``weights`` to the two), in the form DescribeRules shows
    (``TargetGroupArn`` only with a single group)."""
    out: list[Doc] = []
    for action in actions:
        shown = dict(action)
        if action.get("Type") == "forward":
            config = dict(action.get("ForwardConfig") or {})
            groups = [dict(g) for g in config.get("TargetGroups") or ()]
            if not groups and action.get("TargetGroupArn"):
                groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
            names = [str(g["TargetGroupArn"]) for g in groups]
            for arn in (serving, idle):
                if arn not in names:
                    groups.append({"TargetGroupArn": arn, "Weight": 0})
            for group in groups:
                if group["TargetGroupArn"] == serving:
                    group["Weight"] = weights[0]
                elif group["TargetGroupArn"] == idle:
                    group["Weight"] = weights[1]
            config["TargetGroups"] = groups
            config.setdefault("TargetGroupStickinessConfig", {"Enabled": False})
            shown["ForwardConfig"] = config
            shown.pop("TargetGroupArn", None)
            if len(groups) == 1:
                shown["TargetGroupArn"] = groups[0]["TargetGroupArn"]
        out.append(shown)
    return out


def forward_groups(actions: Sequence[Mapping[str, Any]]) -> list[str]:
    """The target groups the actions' forward action names (whatever their weights)."""
    out: list[str] = []
    for action in actions:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or ()
        out.extend(str(g["TargetGroupArn"]) for g in groups)
        if not groups and action.get("TargetGroupArn"):
            out.append(str(action["TargetGroupArn"]))
    return out


def serving_group(actions: Sequence[Mapping[str, Any]], main: str, alternate: str) -> str | None:
    """Which of ``main``/``alternate`` the forward action of a production rule sends traffic to (the
    heavier positive weight; a single ``TargetGroupArn`` weighs 1); None when neither, or both alike."""
    weights = {main: 0, alternate: 0}
    for action in actions:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or ()
        if not groups and action.get("TargetGroupArn"):
            groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
        for group in groups:
            arn = str(group.get("TargetGroupArn"))
            if arn in weights:
                weight = group.get("Weight")
                weights[arn] += 1 if weight is None else int(weight)
    if weights[main] == weights[alternate]:
        return None
    return main if weights[main] > weights[alternate] else alternate


def with_target_groups(config: Mapping[str, Any], groups: Mapping[str, str] | None) -> Mapping[str, Any]:
    """A deployment's launch configuration with each load balancer's ``targetGroupArn`` replaced by the
    group its tasks register in (``groups``: primary group → the group this deployment uses)."""
    if not groups:
        return config
    out = dict(config)
    out["loadBalancers"] = [
        {**lb, "targetGroupArn": groups.get(str(lb.get("targetGroupArn")), lb.get("targetGroupArn"))}
        for lb in config.get("loadBalancers") or ()
    ]
    return out
