"""The fake runtime keeps the runtime contract and follows its scripts (labels or in-process)."""

from __future__ import annotations

import asyncio

import pytest

from ecslite.clock import FakeClock
from ecslite.runtime.base import (
    ContainerCreateFailed,
    ContainerSpec,
    ContainerStartFailed,
    ImagePullFailed,
    SandboxFailed,
    SandboxSpec,
)
from ecslite.runtime.fake import FakeRuntime, FakeScript
from tests.unit.test_task_harness import run


def spec(name: str = "app", task_id: str = "t1", **labels: str) -> ContainerSpec:
    return ContainerSpec(
        task_id=task_id,
        name=name,
        image="example/app:1",
        runtime_id=f"{task_id}-{name}",
        labels={f"ecslite.fake.{k.replace('_', '-')}": v for k, v in labels.items()},
    )


async def ready(runtime: FakeRuntime, task_id: str = "t1") -> None:
    await runtime.prepare_sandbox(SandboxSpec(task_id=task_id, network_mode="awsvpc"))


def test_sandboxes_get_distinct_addresses_and_reuse_freed_ones() -> None:
    async def scenario() -> None:
        runtime = FakeRuntime(FakeClock())
        first = await runtime.prepare_sandbox(SandboxSpec("a", "awsvpc"))
        again = await runtime.prepare_sandbox(SandboxSpec("a", "awsvpc"))
        second = await runtime.prepare_sandbox(SandboxSpec("b", "awsvpc"))
        bridge = await runtime.prepare_sandbox(SandboxSpec("c", "bridge"))
        assert first == again
        assert (first.private_ipv4, second.private_ipv4) == ("10.0.1.10", "10.0.1.11")
        assert second.mac_address == "0a:58:0a:00:01:0b"
        assert bridge.private_ipv4 is None
        await runtime.destroy_sandbox("a")
        await runtime.destroy_sandbox("a")  # idempotent
        third = await runtime.prepare_sandbox(SandboxSpec("d", "awsvpc"))
        assert third.private_ipv4 == "10.0.1.10"
        assert await runtime.sandboxes() == ["b", "c", "d"]

    run(scenario())


def test_container_runs_until_its_scripted_exit() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        runtime = FakeRuntime(clock)
        exits: list[tuple[str, str]] = []
        runtime.on_exit(lambda task, name: exits.append((task, name)))
        await ready(runtime)
        state = await runtime.start_container(spec(run_seconds="5", exit_code="3"))
        assert state.running and state.runtime_id == "t1-app"
        assert await runtime.start_container(spec(run_seconds="5", exit_code="3")) == state  # idempotent
        await clock.run_for(4.9)
        assert (await runtime.inspect("t1", "app")).running  # type: ignore[union-attr]
        await clock.run_for(0.2)
        finished = await runtime.inspect("t1", "app")
        assert finished is not None and (finished.exit_code, finished.running) == (3, False)
        assert exits == [("t1", "app")]

    run(scenario())


def test_sigterm_exits_143_unless_ignored_then_sigkill_137() -> None:
    async def scenario() -> None:
        runtime = FakeRuntime(FakeClock())
        await ready(runtime)
        await runtime.start_container(spec("polite"))
        await runtime.start_container(spec("stubborn", ignore_sigterm="true"))
        await runtime.signal("t1", "polite", 15)
        await runtime.signal("t1", "stubborn", 15)
        assert (await runtime.inspect("t1", "polite")).exit_code == 143  # type: ignore[union-attr]
        assert (await runtime.inspect("t1", "stubborn")).running  # type: ignore[union-attr]
        await runtime.signal("t1", "stubborn", 9)
        assert (await runtime.inspect("t1", "stubborn")).exit_code == 137  # type: ignore[union-attr]
        assert runtime.container_signals("t1", "stubborn") == [15, 9]

    run(scenario())


def test_oom_is_137_with_the_oom_flag() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        runtime = FakeRuntime(clock)
        await ready(runtime)
        await runtime.start_container(spec(oom_after_seconds="2"))
        await clock.run_for(2.1)
        state = await runtime.inspect("t1", "app")
        assert state is not None and (state.exit_code, state.oom_killed) == (137, True)

    run(scenario())


def test_health_checks_follow_the_script() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        runtime = FakeRuntime(clock)
        await ready(runtime)
        await runtime.start_container(spec("ok"))
        await runtime.start_container(spec("bad", health="UNHEALTHY"))
        await runtime.start_container(spec("slow", healthy_after_seconds="10"))
        assert (await runtime.exec("t1", "ok", ["true"], 5)).passed
        assert not (await runtime.exec("t1", "bad", ["true"], 5)).passed
        assert not (await runtime.exec("t1", "slow", ["true"], 5)).passed
        await clock.run_for(10.05)
        assert (await runtime.exec("t1", "slow", ["true"], 5)).passed
        runtime.set_health("t1", "ok", False)
        assert not (await runtime.exec("t1", "ok", ["true"], 5)).passed

    run(scenario())


def test_pull_and_start_failures_carry_the_ecs_prefixes() -> None:
    async def scenario() -> None:
        runtime = FakeRuntime(FakeClock())
        await ready(runtime)
        with pytest.raises(ImagePullFailed) as pulled:
            await runtime.pull_image(spec(pull_error="not found"))
        assert pulled.value.reason == "CannotPullContainerError: not found"
        with pytest.raises(ContainerStartFailed) as started:
            await runtime.start_container(spec(start_error="no such file"))
        assert started.value.reason == "CannotStartContainerError: no such file"
        with pytest.raises(ContainerCreateFailed) as created:
            await runtime.start_container(spec(run_seconds="soon"))
        assert created.value.reason == (
            "CannotCreateContainerError: label ecslite.fake.run-seconds must be a number of seconds; got 'soon'"
        )
        with pytest.raises(ContainerCreateFailed):
            await runtime.start_container(spec(colour="red"))

    run(scenario())


def test_pull_and_start_take_their_scripted_time() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        runtime = FakeRuntime(clock)
        await ready(runtime)
        pull = asyncio.ensure_future(runtime.pull_image(spec(pull_seconds="3")))
        await asyncio.sleep(0)
        await clock.run_for(2.9)
        assert not pull.done()
        await clock.run_for(0.2)
        assert (await pull).digest.startswith("sha256:")

    run(scenario())


def test_in_process_script_takes_precedence_over_labels() -> None:
    async def scenario() -> None:
        runtime = FakeRuntime(FakeClock())
        runtime.script_image("example/app:1", FakeScript(ignore_sigterm=True))
        await ready(runtime)
        await runtime.start_container(spec(ignore_sigterm="false"))
        await runtime.signal("t1", "app", 15)
        assert (await runtime.inspect("t1", "app")).running  # type: ignore[union-attr]

    run(scenario())


def test_sandbox_failure_and_lost_state() -> None:
    async def scenario() -> None:
        runtime = FakeRuntime(FakeClock())
        runtime.fail_next_sandbox("ResourceInitializationError: nope")
        with pytest.raises(SandboxFailed):
            await ready(runtime)
        await ready(runtime)
        await runtime.start_container(spec())
        runtime.lose_everything()
        assert await runtime.sandboxes() == []
        assert await runtime.inspect("t1", "app") is None
        assert await runtime.sandbox("t1") is None

    run(scenario())


def test_stats_report_the_scripted_cpu_and_memory() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        runtime = FakeRuntime(clock)
        await ready(runtime)
        await runtime.start_container(spec(cpu_units="512", memory_mib="48"))
        first = await runtime.stats("t1", "app")
        await clock.run_for(10)
        second = await runtime.stats("t1", "app")
        assert first is not None and second is not None
        # Half a vCPU for 10 s is 5 s of CPU time.
        assert second.cpu_usage_ns - first.cpu_usage_ns == pytest.approx(5e9, rel=1e-5)
        assert second.memory_usage_bytes == 48 * 1024 * 1024
        with pytest.raises(ContainerCreateFailed, match=r"ecslite\.fake\.cpu-units must be a non-negative number"):
            await runtime.start_container(spec("bad", cpu_units="-1"))

    run(scenario())
