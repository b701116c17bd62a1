"""EventBridge Scheduler: the ``scheduler`` provider and the controller that invokes its targets
through the ECS provider's RunTask (control.scheduler)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ecslite.wiring import Core

if TYPE_CHECKING:
    from ecslite.control.event_rules import EventRouter
    from ecslite.control.scheduler import SchedulerController
    from ecslite.control.target_invocations import InvocationRecorder
    from ecslite.providers.ecs.provider import EcsProvider
    from ecslite.telemetry.store import TelemetryStore


def add_scheduler(core: Core, ecs: EcsProvider, providers: dict[str, object]) -> SchedulerController:
    """Adds the ``scheduler`` provider to ``providers`` and its controller to the components."""
    from ecslite.control.scheduler import SchedulerController
    from ecslite.protocol.models import operation_model
    from ecslite.protocol.validate import validate
    from ecslite.providers.base import RequestContext
    from ecslite.providers.scheduler.provider import SchedulerProvider

    providers["scheduler"] = SchedulerProvider(core.db, core.clock)
    run_task_model = operation_model("ecs", "RunTask")

    def run_task(account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        # ECS's own RunTask as a request of the schedule's account and region reaches it: the
        # model's constraints first (as the edge checks them), then the provider's rules.
        ctx = RequestContext(account, region, str(uuid.uuid4()), "ecs", "RunTask")
        validate(run_task_model.input_shape if run_task_model else None, params, "InvalidParameterException")
        ecs.prepare(ctx)
        return ecs.run_task(ctx, params)

    controller = SchedulerController(core.db, core.clock, run_task)
    core.components.append(controller)
    return controller


def add_invocation_records(
    core: Core, telemetry: TelemetryStore, scheduler: SchedulerController, router: EventRouter
) -> InvocationRecorder:
    """AWS/Scheduler and AWS/Events metrics and the targets' recent invocations, told by both
    (control.target_invocations)."""
    from ecslite.control.target_invocations import InvocationRecorder

    recorder = InvocationRecorder(core.db, core.clock, telemetry)
    scheduler.recorder = recorder
    router.recorder = recorder
    return recorder
