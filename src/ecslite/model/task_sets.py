"""Task sets of EXTERNAL services (spec/ecs.md §4.11): the rules the provider and the scheduler share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_TASK_SETS = 5
DEFAULT_SCALE = {"value": 100.0, "unit": "PERCENT"}


def computed_desired(desired: int, scale: Mapping[str, Any], status: str) -> int:
    """``computedDesiredCount``: the service's desired count × scale %, always rounded up (1.2 → 2);
    0 once the set is DRAINING."""
    if status == "DRAINING":
        return 0
    # Rounded to 9 places first, so 3 × 33.333333333 % is 1, not 2 through a float's last bit.
    return math.ceil(round(desired * float(scale.get("value", 0.0)) / 100.0, 9))


def task_set_arn(region: str, account: str, cluster: str, service: str, task_set_id: str) -> str:
    """``…:task-set/<cluster>/<service>/<id>`` (§1.5)."""
    return f"arn:aws:ecs:{region}:{account}:task-set/{cluster}/{service}/{task_set_id}"
