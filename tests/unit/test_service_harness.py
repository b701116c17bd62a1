"""Shared set-up for the service controller's unit tests: the ECS provider on an in-memory store,
the task and service controllers on the fake runtime and a fake clock. Services are created and
updated through the provider's operations, as the API does, and time passes in simulated seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from ecslite.clock import FakeClock
from ecslite.config import Settings
from ecslite.control.service_events import Announcement
from ecslite.control.services import ServiceController
from ecslite.control.tasks import TaskController
from ecslite.providers.base import RequestContext
from ecslite.providers.ecs.provider import EcsProvider
from ecslite.runtime.fake import FakeRuntime
from ecslite.store import tasks as task_store
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database

REGION = "us-east-1"
ACCOUNT = "000000000000"
CLUSTER = "default"
HEALTH = {"command": ["CMD", "true"], "interval": 5, "timeout": 2, "retries": 1}


def labels(**values: Any) -> dict[str, str]:
    """Fake-runtime scripting labels: ``labels(exit_code=1)`` → ``ecslite.fake.exit-code``."""
    return {f"ecslite.fake.{k.replace('_', '-')}": str(v) for k, v in values.items()}


class ServiceHarness:
    def __init__(self, *, throttle_max: float = 900.0) -> None:
        self.clock = FakeClock()
        self.db = Database(None)
        self.runtime = FakeRuntime(self.clock)
        self.settings = Settings(data_dir=Path("/nonexistent"), service_throttle_max_seconds=throttle_max)
        self.ecs = EcsProvider(self.db, self.clock, self.settings)
        self.ctx = RequestContext(account=ACCOUNT, region=REGION, request_id="test", service="ecs", operation="test")
        self.ecs.prepare(self.ctx)
        self.announcements: list[Announcement] = []
        self.tasks = TaskController(self.db, self.runtime, self.clock, self.settings)
        self.services = self._service_controller()
        self.changes: list[Callable[[], None]] = []
        self.db.subscribe(lambda _: [watch() for watch in self.changes])

    def _service_controller(self) -> ServiceController:
        return ServiceController(self.db, self.clock, self.settings, hooks=[self.announcements.append])

    async def start(self) -> ServiceHarness:
        await self.tasks.start()
        await self.services.start()
        return self

    async def stop(self) -> None:
        await self.services.stop()
        await self.tasks.stop()

    async def restart_services(self) -> None:
        """What a server restart does to the scheduler: a new controller reading the same store."""
        await self.services.stop()
        self.services = self._service_controller()
        await self.services.start()

    # -- API ----------------------------------------------------------------------------------------

    @property
    def subnets(self) -> list[str]:
        return [doc["SubnetId"] for _, doc in vpc_store.subnets(self.db, ACCOUNT, REGION)]

    def register(self, family: str = "web", *, health: bool = True, **container: Any) -> str:
        definition: dict[str, Any] = {"name": "app", "image": f"example/{family}:1", "essential": True}
        if health:
            definition["healthCheck"] = HEALTH
        definition.update(container)
        result = self.ecs.register_task_definition(
            self.ctx,
            {
                "family": family,
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
                "cpu": "256",
                "memory": "512",
                "containerDefinitions": [definition],
            },
        )
        return str(result["taskDefinition"]["taskDefinitionArn"])

    def create(self, name: str = "web", **params: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "serviceName": name,
            "taskDefinition": "web",
            "desiredCount": 1,
            "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": self.subnets[:2]}},
        }
        request.update(params)
        service: dict[str, Any] = self.ecs.create_service(self.ctx, request)["service"]
        return service

    def update(self, name: str = "web", **params: Any) -> dict[str, Any]:
        service: dict[str, Any] = self.ecs.update_service(self.ctx, {"service": name, **params})["service"]
        return service

    def describe(self, name: str = "web") -> dict[str, Any]:
        service: dict[str, Any] = self.ecs.describe_services(self.ctx, {"services": [name]})["services"][0]
        return service

    def events(self, name: str = "web") -> list[str]:
        """Event messages, oldest first (the API shows them newest first)."""
        return [e["message"] for e in reversed(self.describe(name)["events"])]

    def service_tasks(self, name: str = "web", *, desired: str | None = "RUNNING") -> list[dict[str, Any]]:
        sql = "SELECT doc FROM tasks WHERE service_name=?" + (" AND desired_status=?" if desired else "")
        args = (name, desired) if desired else (name,)
        return [task for row in self.db.query(sql + " ORDER BY rid", args) if (task := _load(row["doc"]))]

    def stop_task(self, arn: str, reason: str = "test") -> None:
        task_store.request_stop(self.db, arn, task_store.StopRequest("UserInitiated", reason, self.clock.now()))

    # -- time ---------------------------------------------------------------------------------------

    async def settle(self, turns: int = 80) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)

    async def run(self, seconds: float, step: float = 0.5) -> None:
        await self.settle()
        elapsed = 0.0
        while elapsed < seconds:
            delta = min(step, seconds - elapsed)
            self.clock.advance(delta)
            elapsed += delta
            await self.settle()

    async def until(self, done: Callable[[], bool], limit: float = 600.0, step: float = 0.5) -> float:
        """Run until ``done()``; returns the simulated seconds it took."""
        waited = 0.0
        await self.settle()
        while not done():
            if waited >= limit:
                raise AssertionError(f"not done after {limit} simulated seconds: {self.describe()}")
            await self.run(step, step)
            waited += step
        return waited

    def completed(self, name: str = "web") -> bool:
        service = self.describe(name)
        deployments = service["deployments"]
        return (
            len(deployments) == 1
            and deployments[0]["rolloutState"] == "COMPLETED"
            and (service["runningCount"] == service["desiredCount"])
        )


def _load(text: str) -> dict[str, Any]:
    from ecslite.store.db import loads

    doc: dict[str, Any] = loads(text)
    return doc


def run(test: Callable[[ServiceHarness], Coroutine[Any, Any, None]], **options: Any) -> None:
    async def scenario() -> None:
        harness = await ServiceHarness(**options).start()
        try:
            await test(harness)
        finally:
            await harness.stop()

    asyncio.run(scenario())
