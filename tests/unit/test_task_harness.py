"""Shared set-up for the task controller's unit tests: an in-memory store, the fake runtime and a
fake clock, with tasks launched the way the provider launches them (``model.task_launch``)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from ecslite.clock import FakeClock
from ecslite.config import Settings
from ecslite.control.tasks import TaskController
from ecslite.model.task_launch import LaunchRequest, build_task
from ecslite.runtime.fake import FakeRuntime
from ecslite.store import tasks as task_store
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database

REGION = "us-east-1"
ACCOUNT = "000000000000"
CLUSTER = "default"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"


def container(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": f"example/{name}:1", "essential": True, **extra}


def definition(*containers: dict[str, Any], network_mode: str = "awsvpc", **extra: Any) -> dict[str, Any]:
    return {
        "family": "app",
        "revision": 1,
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/app:1",
        "networkMode": network_mode,
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": list(containers) or [container("app")],
        "compatibilities": ["EC2", "FARGATE"],
        "status": "ACTIVE",
        **extra,
    }


def labels(**values: Any) -> dict[str, dict[str, str]]:
    """``dockerLabels`` scripting the fake runtime: ``labels(exit_code=1)`` → ``ecslite.fake.exit-code``."""
    return {"dockerLabels": {f"ecslite.fake.{k.replace('_', '-')}": str(v) for k, v in values.items()}}


class Harness:
    """A task controller on a fake clock; ``await h.run(seconds)`` lets simulated time pass."""

    def __init__(self, tmp: Path | None = None, *, retention: float = 3600.0) -> None:
        self.clock = FakeClock()
        self.db = Database(None)
        self.runtime = FakeRuntime(self.clock)
        self.settings = Settings(data_dir=tmp or Path("/nonexistent"), stopped_task_retention_seconds=retention)
        self.controller = TaskController(self.db, self.runtime, self.clock, self.settings)
        self.writes: list[dict[str, Any]] = []
        self.db.subscribe(self._record)

    def _record(self, changes: Any) -> None:
        for change in changes:
            doc = task_store.get(self.db, change.key) if change.kind == task_store.KIND else None
            if doc is not None:
                self.writes.append(doc)

    def statuses(self, arn: str) -> list[str]:
        """Every lastStatus the task was stored with, in order, without repeats."""
        out: list[str] = []
        for doc in self.writes:
            if doc["taskArn"] == arn and (not out or out[-1] != doc["lastStatus"]):
                out.append(doc["lastStatus"])
        return out

    def versions(self, arn: str) -> list[int]:
        out: list[int] = []
        for doc in self.writes:
            if doc["taskArn"] == arn and (not out or out[-1] != doc["version"]):
                out.append(doc["version"])
        return out

    @property
    def subnet(self) -> str:
        """The first default subnet: awsvpc tasks get their ENI there, as behind the API (which sets up
        the partition's default VPC on first use, also after a reset)."""
        vpc_store.ensure_default(self.db, ACCOUNT, REGION, self.settings.vpc_cidr, 0.0)
        return str(vpc_store.subnets(self.db, ACCOUNT, REGION)[0][1]["SubnetId"])

    def launch(self, task_definition: dict[str, Any] | None = None, **request: Any) -> str:
        fargate = request.pop("launch_type", "FARGATE") == "FARGATE"
        doc = build_task(
            LaunchRequest(
                account=ACCOUNT,
                region=REGION,
                cluster_name=CLUSTER,
                cluster_arn=CLUSTER_ARN,
                definition=task_definition or definition(),
                launch_type="FARGATE" if fargate else "EC2",
                now=self.clock.now(),
                subnet=request.pop("subnet", self.subnet),
                availability_zone=f"{REGION}a",
                **request,
            )
        )
        with self.db.transaction():
            task_store.insert(self.db, ACCOUNT, REGION, CLUSTER, doc)
        return str(doc["taskArn"])

    def task(self, arn: str) -> dict[str, Any]:
        doc = task_store.get(self.db, arn)
        assert doc is not None, arn
        return doc

    def container(self, arn: str, name: str) -> dict[str, Any]:
        return next(c for c in self.task(arn)["containers"] if c["name"] == name)

    def task_id(self, arn: str) -> str:
        return arn.rsplit("/", 1)[1]

    async def settle(self, turns: int = 60) -> None:
        """Let queued work run without moving the clock."""
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

    async def until(self, arn: str, status: str, limit: float = 600.0) -> dict[str, Any]:
        """Run until the task reaches ``status`` (at most ``limit`` simulated seconds)."""
        waited = 0.0
        await self.settle()
        while self.task(arn)["lastStatus"] != status:
            if waited >= limit:
                raise AssertionError(f"task still {self.task(arn)['lastStatus']} after {limit}s, wanted {status}")
            await self.run(0.5)
            waited += 0.5
        return self.task(arn)

    def stop(self, arn: str, reason: str = "done") -> None:
        task_store.request_stop(self.db, arn, task_store.StopRequest("UserInitiated", reason, self.clock.now()))


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(test)


async def started(h: Harness) -> Harness:
    await h.controller.start()
    return h
