"""Amazon ECS canary and linear deployments (``deploymentConfiguration.strategy`` ``CANARY`` /
``LINEAR``): blue/green deployments (``model.blue_green``) whose ``PRODUCTION_TRAFFIC_SHIFT`` moves
production traffic in steps instead of at once.

- ``CANARY`` (``canaryConfiguration``): ``canaryPercent`` (multiples of 0.1 from 0.1 to 100.0,
  default 5.0) goes to green, ``canaryBakeTimeInMinutes`` (0–1440, default 10) pass, then the rest.
  A canary of 100 % has nothing left to shift and so no canary bake (unverified).
- ``LINEAR`` (``linearConfiguration``): ``stepPercent`` (multiples of 0.1 from 3.0 to 100.0, default
  10.0) more after each ``stepBakeTimeInMinutes`` (0–1440, default 6); the last step is whatever is
  left (33 % steps: 33, 66, 99, 100) and no step bake follows it, as the API reference says.
- The whole of it is the ``PRODUCTION_TRAFFIC_SHIFT`` lifecycle stage, which is what
  DescribeServiceDeployments shows throughout (it has no member for the step); then, as for
  BLUE_GREEN, ``POST_PRODUCTION_TRAFFIC_SHIFT``, ``BAKE_TIME`` (``bakeTimeInMinutes``) and ``CLEAN_UP``.
- Weights: the production rule's forward action gets green ``p`` and blue ``100 - p`` for a whole
  percentage ``p``; for a fractional one (5.5 %) tenths of a percent (55 / 945), since ELBv2 weights
  are integers from 0 to 999. The final step writes 100 / 0 as BLUE_GREEN does. ECS's own choice of
  weights is not documented (unverified); the share each group gets is what it documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CANARY = "CANARY"
LINEAR = "LINEAR"
SHIFTING_STRATEGIES = frozenset({CANARY, LINEAR})

FULL = 1000  # all production traffic, in tenths of a percent
DEFAULT_CANARY_PERCENT = 5.0
DEFAULT_CANARY_BAKE_MINUTES = 10
DEFAULT_STEP_PERCENT = 10.0
DEFAULT_STEP_BAKE_MINUTES = 6
MIN_CANARY_PERCENT = 0.1
MIN_STEP_PERCENT = 3.0
MAX_PERCENT = 100.0
MAX_STEP_BAKE_MINUTES = 1440


@dataclass(frozen=True)
class ShiftPlan:
    """Green's share of production after each shift (tenths of a percent, the last one FULL) and the
    wait after every shift but the last."""

    shares: tuple[int, ...]
    bake_seconds: float


def defaults(strategy: str) -> dict[str, Any]:
    """The strategy's own configuration member with its documented defaults ({} for the others)."""
    if strategy == CANARY:
        return {
            "canaryConfiguration": {
                "canaryPercent": DEFAULT_CANARY_PERCENT,
                "canaryBakeTimeInMinutes": DEFAULT_CANARY_BAKE_MINUTES,
            }
        }
    if strategy == LINEAR:
        return {
            "linearConfiguration": {
                "stepPercent": DEFAULT_STEP_PERCENT,
                "stepBakeTimeInMinutes": DEFAULT_STEP_BAKE_MINUTES,
            }
        }
    return {}


def tenths(percent: float) -> int:
    return round(float(percent) * 10)


def is_tenth_multiple(percent: float) -> bool:
    return abs(float(percent) * 10 - tenths(percent)) < 1e-6


def shift_plan(config: Mapping[str, Any]) -> ShiftPlan | None:
    """The production shifts of a CANARY or LINEAR configuration; None for the others."""
    strategy = str(config.get("strategy") or "")
    if strategy == CANARY:
        canary = config.get("canaryConfiguration") or {}
        share = tenths(_given(canary.get("canaryPercent"), DEFAULT_CANARY_PERCENT))
        minutes = _given(canary.get("canaryBakeTimeInMinutes"), DEFAULT_CANARY_BAKE_MINUTES)
        shares: tuple[int, ...] = (share, FULL) if share < FULL else (FULL,)
        return ShiftPlan(shares, float(minutes) * 60.0)
    if strategy == LINEAR:
        linear = config.get("linearConfiguration") or {}
        step = tenths(_given(linear.get("stepPercent"), DEFAULT_STEP_PERCENT))
        minutes = _given(linear.get("stepBakeTimeInMinutes"), DEFAULT_STEP_BAKE_MINUTES)
        count = -(-FULL // step)  # ceil: the last step takes what is left
        return ShiftPlan(tuple(min(k * step, FULL) for k in range(1, count + 1)), float(minutes) * 60.0)
    return None


def _given(value: Any, default: float) -> float:
    return default if value is None else float(value)


def split_weights(share: int) -> tuple[int, int]:
    """(green, blue) forward weights for green's ``share`` (tenths of a percent; see the docstring)."""
    if share % 10 == 0:
        return share // 10, 100 - share // 10
    return share, FULL - share


def splits(actions: Sequence[Mapping[str, Any]], one: str, other: str) -> bool:
    """Whether the actions' forward action sends traffic to both groups (positive weights on each),
    as a canary or linear deployment interrupted mid-shift leaves its production rule."""
    weights = {one: 0, other: 0}
    for action in actions:
        if action.get("Type") != "forward":
            continue
        for group in (action.get("ForwardConfig") or {}).get("TargetGroups") or ():
            arn = str(group.get("TargetGroupArn"))
            if arn in weights:
                weights[arn] += int(group.get("Weight", 1) or 0)
    return weights[one] > 0 and weights[other] > 0
