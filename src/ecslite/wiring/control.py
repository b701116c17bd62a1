"""The ECS controllers: tasks (with their awslogs streams and ELBv2 target registration), EventBridge
events, services, Cloud Map registration of service tasks and capacity providers' managed scaling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ecslite.wiring import Core

if TYPE_CHECKING:
    from ecslite.control.target_groups import ElbTargetGroups
    from ecslite.control.task_logs import TaskLogs
    from ecslite.providers.ecs.provider import EcsProvider
    from ecslite.providers.events_feed import EventsFeed
    from ecslite.providers.logs.provider import LogsProvider


@dataclass(frozen=True, slots=True)
class ControlParts:
    output_path: Callable[[str, str], Path] | None  # a container's output file, where the runtime keeps one
    task_logs: TaskLogs
    target_groups: ElbTargetGroups
    events: EventsFeed


def add_controllers(core: Core, logs: LogsProvider, ecs: EcsProvider) -> ControlParts:
    from ecslite.control.services import ServiceController
    from ecslite.control.task_logs import TaskLogs
    from ecslite.control.tasks import TaskController

    db, clock, settings, components = core.db, core.clock, core.settings, core.components
    # The awslogs driver: streams at task start, containers' output shipped to the logs provider.
    output_path: Callable[[str, str], Path] | None = getattr(core.runtime, "output_path", None)
    task_logs = TaskLogs(db, logs, output_path, clock)
    components.append(task_logs)
    tasks = TaskController(db, core.runtime, clock, settings, logs=task_logs)
    # ELBv2 target groups: service tasks register in ACTIVATING and drain in DEACTIVATING (§7.4).
    from ecslite.control.target_groups import ElbTargetGroups

    target_groups = ElbTargetGroups(db)
    tasks.reconciler.activation.target_groups = target_groups
    components.append(tasks)
    # ECS's EventBridge events from committed changes and the scheduler's announcements (§12.1).
    from ecslite.providers.events_feed import EventsFeed

    events = EventsFeed(db, clock)
    components.append(events)
    components.append(ServiceController(db, clock, settings, hooks=[events.announce]))
    # Cloud Map instances of service tasks with serviceRegistries (§8.2).
    from ecslite.control.service_registry import ServiceRegistryController

    components.append(ServiceRegistryController(db, clock))
    from ecslite.control.capacity import CapacityController
    from ecslite.control.capacity_scaling import ManagedScaling
    from ecslite.providers.ecs.internal_routes import ScalingCallbacks

    callbacks = ScalingCallbacks(ecs)
    scaling = ManagedScaling(db, clock, callbacks.add, callbacks.remove)
    components.append(CapacityController(db, clock, settings, scaling=scaling))
    return ControlParts(output_path, task_logs, target_groups, events)
