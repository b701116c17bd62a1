"""Tasks outlive the server: a new runtime (or a server started after kill -9) re-attaches to their shims."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ecslite.config import Settings
from ecslite.runtime.base import ContainerSpec, SandboxSpec
from ecslite.runtime.process.runtime import ProcessRuntime
from ecslite.runtime.process.shim_client import read_shim_pid, read_started
from tests.conftest import make_client
from tests.runtime.conftest import Restartable, wait_for

HOST_IMAGE = "ecslite-test/host"


@pytest.fixture
def settings(runtime_settings: Settings, tmp_path: Path) -> Settings:
    image_map = tmp_path / "images.json"
    image_map.write_text(json.dumps({HOST_IMAGE: {"path": "/"}}))
    return replace(runtime_settings, image_map=image_map)


@contextlib.asynccontextmanager
async def attached(settings: Settings) -> AsyncIterator[ProcessRuntime]:
    """A runtime that lets go at the end (as a server that stops), leaving its tasks running."""
    runtime = ProcessRuntime(settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()


def container(task_id: str, name: str, *command: str) -> ContainerSpec:
    return ContainerSpec(task_id=task_id, name=name, image=HOST_IMAGE, runtime_id=f"rid-{name}", command=command)


def start_time(pid: int) -> str:
    """The process's start time in clock ticks: with the pid, it names one process for good."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2 :].split()[19]


def test_a_new_runtime_reattaches_with_unchanged_pids_and_sees_exits_from_meanwhile(settings: Settings) -> None:
    async def first() -> tuple[int, float]:
        async with attached(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="t1", network_mode="none"))
            for spec in (
                container("t1", "long", "sleep", "100"),
                container("t1", "short", "sh", "-c", "sleep 1; exit 3"),
            ):
                await runtime.pull_image(spec)
                await runtime.start_container(spec)
            state = await runtime.inspect("t1", "long")
            assert state is not None and state.pid is not None and state.started_at is not None
            return state.pid, state.started_at

    pid, started_at = asyncio.run(first())
    shim_pid = read_shim_pid(settings.runtime_dir / "tasks" / "t1")
    assert shim_pid is not None
    wait_for(lambda: (settings.runtime_dir / "tasks" / "t1" / "short.exit").exists(), timeout=10)

    async def second() -> None:
        async with attached(settings) as runtime:
            heard: list[str] = []
            runtime.on_exit(lambda task_id, name: heard.append(name))
            assert await runtime.sandboxes() == ["t1"]
            assert await runtime.sandbox("t1") is not None
            long = await runtime.inspect("t1", "long")
            assert long is not None and long.running
            assert (long.pid, long.started_at, long.runtime_id) == (pid, started_at, "rid-long")
            short = await runtime.inspect("t1", "short")
            assert short is not None and not short.running and short.exit_code == 3
            result = await runtime.exec("t1", "long", ["sh", "-c", "echo $$"], 5)
            assert result.passed
            await runtime.signal("t1", "long", signal.SIGKILL)
            for _ in range(200):
                if heard:
                    break
                await asyncio.sleep(0.02)
            assert heard == ["long"]
            assert read_shim_pid(settings.runtime_dir / "tasks" / "t1") == shim_pid
            await runtime.destroy_sandbox("t1")

    asyncio.run(second())


def test_a_shim_that_died_while_no_server_ran_is_reported_on_reattach(settings: Settings) -> None:
    async def first() -> int:
        async with attached(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="t2", network_mode="none"))
            spec = container("t2", "app", "sleep", "100")
            await runtime.pull_image(spec)
            state = await runtime.start_container(spec)
            assert state.pid is not None
            return state.pid

    pid = asyncio.run(first())
    shim_pid = read_shim_pid(settings.runtime_dir / "tasks" / "t2")
    assert shim_pid is not None
    os.kill(shim_pid, signal.SIGKILL)

    async def second() -> None:
        async with attached(settings) as runtime:
            state = await runtime.inspect("t2", "app")
            assert state is not None and not state.running and state.exit_code is None
            assert state.reason is not None and f"ecslite shim (pid {shim_pid}) exited unexpectedly" in state.reason
            await runtime.destroy_sandbox("t2")

    asyncio.run(second())
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2])


# -- through the server ----------------------------------------------------------------------------


def task_definition(ecs: Any, family: str, command: str) -> None:
    # ``sleep`` as PID 1 has no SIGTERM handler: a 2 s stopTimeout ends it without waiting out the 30 s default.
    ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": HOST_IMAGE, "command": ["sh", "-c", command], "stopTimeout": 2}],
    )


def describe(ecs: Any, arns: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(arns), 100):
        for task in ecs.describe_tasks(tasks=arns[start : start + 100])["tasks"]:
            found[task["taskArn"]] = task
    return found


def test_kill_9_of_the_server_keeps_tasks_running_and_reports_exits_from_meanwhile(
    restartable_server: Restartable,
) -> None:
    server = restartable_server.start()
    ecs = server.ecs()
    subnet = make_client("ec2", server.endpoint).describe_subnets()["Subnets"][0]["SubnetId"]
    network = {"awsvpcConfiguration": {"subnets": [subnet]}}
    task_definition(ecs, "sleeper", "exec sleep 600")
    task_definition(ecs, "quitter", "sleep 3; exit 5")
    arns = [
        t["taskArn"]
        for _ in range(2)
        for t in ecs.run_task(taskDefinition="sleeper", launchType="FARGATE", count=5, networkConfiguration=network)[
            "tasks"
        ]
    ]
    quitter = ecs.run_task(taskDefinition="quitter", launchType="FARGATE", networkConfiguration=network)["tasks"][0][
        "taskArn"
    ]
    wait_for(lambda: all(t["lastStatus"] == "RUNNING" for t in describe(ecs, [*arns, quitter]).values()), timeout=60)
    tasks_dir = restartable_server.data_dir / "runtime" / "tasks"

    def processes() -> dict[str, tuple[int, str]]:
        found = {}
        for arn in arns:
            record = read_started(tasks_dir / arn.rsplit("/", 1)[1] / "app.started")
            assert record is not None
            found[arn] = (record.pid, start_time(record.pid))
        return found

    before = processes()
    restartable_server.kill()
    # The quitter exits while no server runs (its shim records the exit).
    wait_for(lambda: (tasks_dir / quitter.rsplit("/", 1)[1] / "app.exit").exists(), timeout=10)
    server = restartable_server.start()
    ecs = server.ecs()
    after = describe(ecs, arns)
    assert {arn: task["lastStatus"] for arn, task in after.items()} == dict.fromkeys(arns, "RUNNING")
    assert processes() == before
    stopped = wait_for(
        lambda: describe(ecs, [quitter])[quitter]["lastStatus"] == "STOPPED" and describe(ecs, [quitter]), timeout=60
    )
    task = stopped[quitter]
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["containers"][0]["exitCode"] == 5
    for arn in arns:
        ecs.stop_task(task=arn)
    wait_for(lambda: all(t["lastStatus"] == "STOPPED" for t in describe(ecs, arns).values()), timeout=60)
    assert all(t["containers"][0]["exitCode"] in (137, 143) for t in describe(ecs, arns).values())


def test_a_task_whose_shim_dies_stops_with_a_reason_naming_the_shim(process_server: Any, process_ecs: Any) -> None:
    ecs = process_ecs
    subnet = make_client("ec2", process_server.endpoint).describe_subnets()["Subnets"][0]["SubnetId"]
    task_definition(ecs, "victim", "exec sleep 600")
    arn = ecs.run_task(
        taskDefinition="victim",
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}},
    )["tasks"][0]["taskArn"]
    wait_for(lambda: describe(ecs, [arn])[arn]["lastStatus"] == "RUNNING", timeout=30)
    task_dir = process_server.settings.runtime_dir / "tasks" / arn.rsplit("/", 1)[1]
    shim_pid = read_shim_pid(task_dir)
    assert shim_pid is not None
    os.kill(shim_pid, signal.SIGKILL)
    wait_for(lambda: describe(ecs, [arn])[arn]["lastStatus"] == "STOPPED", timeout=30)
    task = describe(ecs, [arn])[arn]
    assert task["stopCode"] == "InfrastructureHealth"
    assert task["stoppedReason"].startswith(f"The task's ecslite shim (pid {shim_pid}) exited unexpectedly")
    assert task["containers"][0]["reason"] == task["stoppedReason"]
    assert "exitCode" not in task["containers"][0]
