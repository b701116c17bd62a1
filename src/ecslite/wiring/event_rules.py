"""EventBridge rules: the router that matches ECS's events and PutEvents' against rules and
delivers to Logs and ECS targets (control.event_rules)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ecslite.wiring import Core

if TYPE_CHECKING:
    from ecslite.control.event_rules import EventRouter
    from ecslite.providers.ecs.provider import EcsProvider
    from ecslite.providers.events_feed import EventsFeed
    from ecslite.providers.logs.provider import LogsProvider


def add_event_rules(core: Core, feed: EventsFeed, logs: LogsProvider, ecs: EcsProvider) -> EventRouter:
    from ecslite.control.event_rules import EventRouter
    from ecslite.providers.base import RequestContext

    def run_task(account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        # ECS's own RunTask, as a request of the rule's account and region would reach it.
        ctx = RequestContext(account, region, str(uuid.uuid4()), "ecs", "RunTask")
        return ecs.run_task(ctx, params)

    router = EventRouter(core.db, core.clock, feed, logs=logs, run_task=run_task)
    core.components.append(router)
    return router
