"""CloudWatch metrics and alarms, Application Auto Scaling, the alarm evaluator and the scaling
controller, which changes desired counts through the ECS provider's UpdateService."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ecslite.providers.base import RequestContext
from ecslite.wiring import Core

if TYPE_CHECKING:
    from ecslite.control.scaling import ScalingController
    from ecslite.providers.cloudwatch.provider import CloudWatchProvider
    from ecslite.providers.ecs.provider import EcsProvider
    from ecslite.telemetry.store import TelemetryStore


@dataclass(frozen=True, slots=True)
class ScalingParts:
    cloudwatch: CloudWatchProvider
    scaling: ScalingController


def add_scaling(core: Core, store: TelemetryStore, ecs: EcsProvider, providers: dict[str, object]) -> ScalingParts:
    """Adds the ``cloudwatch`` and ``application-autoscaling`` providers to ``providers`` too."""
    from ecslite.control.alarms import AlarmEvaluator
    from ecslite.control.scaling import ScalingController
    from ecslite.model.scaling import TimeScale
    from ecslite.providers.autoscaling.provider import AutoscalingProvider
    from ecslite.providers.cloudwatch.provider import CloudWatchProvider

    db, clock = core.db, core.clock
    scale = TimeScale(core.settings.metrics_period)
    cloudwatch = CloudWatchProvider(db, clock, store, scale)
    providers["cloudwatch"] = cloudwatch
    providers["application-autoscaling"] = AutoscalingProvider(db, clock, cloudwatch)
    scaling = ScalingController(db, clock, functools.partial(_set_desired_count, ecs), scale)
    evaluator = AlarmEvaluator(db, clock, cloudwatch, scale, handlers=[scaling.handle])
    cloudwatch.state_listeners.append(evaluator.state_set)
    core.components.extend([scaling, evaluator])
    return ScalingParts(cloudwatch, scaling)


def _set_desired_count(ecs: EcsProvider, account: str, region: str, cluster: str, service: str, count: int) -> None:
    ctx = RequestContext(account, region, str(uuid.uuid4()), "ecs", "UpdateService")
    ecs.prepare(ctx)
    ecs.update_service(ctx, {"cluster": cluster, "service": service, "desiredCount": count})
