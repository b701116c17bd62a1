"""The process runtime through the Runtime interface: limits, identity, isolation, exec, stats, failures."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ecslite.config import Settings
from ecslite.runtime.base import (
    ContainerRunState,
    ContainerSpec,
    ContainerStartFailed,
    ContainerState,
    ImagePullFailed,
    NetworkSpec,
    SandboxSpec,
)
from ecslite.runtime.process.cgroups import Cgroups, Layout, Limits
from ecslite.runtime.process.runtime import ProcessRuntime
from ecslite.runtime.process.shim_client import read_shim_pid
from ecslite.runtime.select import RuntimeUnavailable, select_runtime

HOST_IMAGE = "ecslite-test/host"
STOPS_WITH_SIGINT = "ecslite-test/stops-with-sigint"


@pytest.fixture
def settings(runtime_settings: Settings, tmp_path: Path) -> Settings:
    image_map = tmp_path / "images.json"
    images = {HOST_IMAGE: {"path": "/"}, STOPS_WITH_SIGINT: {"path": "/", "stopSignal": "SIGINT"}}
    image_map.write_text(json.dumps(images))
    return replace(runtime_settings, image_map=image_map)


@contextlib.asynccontextmanager
async def process_runtime(settings: Settings) -> AsyncIterator[ProcessRuntime]:
    runtime = ProcessRuntime(settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        for task_id in await runtime.sandboxes():
            await runtime.destroy_sandbox(task_id)
        await runtime.close()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 120))


def container(task_id: str, name: str, *command: str, **settings: Any) -> ContainerSpec:
    return ContainerSpec(
        task_id=task_id, name=name, image=HOST_IMAGE, runtime_id=f"{task_id}-{name}", command=command, **settings
    )


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", textwrap.dedent(code))


async def start(runtime: ProcessRuntime, spec: ContainerSpec) -> ContainerState:
    await runtime.pull_image(spec)
    return await runtime.start_container(spec)


async def exited(runtime: ProcessRuntime, task_id: str, name: str, timeout: float = 20.0) -> ContainerState:
    for _ in range(int(timeout / 0.05)):
        state = await runtime.inspect(task_id, name)
        assert state is not None
        if not state.running:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} still runs after {timeout}s")


def output(runtime: ProcessRuntime, task_id: str, name: str) -> list[str]:
    lines = runtime.output_path(task_id, name).read_text().splitlines()
    return [line.split(" ", 2)[2] if line.count(" ") >= 2 else "" for line in lines]


def process_gone(pid: int) -> bool:
    """Gone or a zombie: killed, waiting only for whoever inherited it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


def awsvpc(settings: Settings, task_id: str, host: int) -> SandboxSpec:
    vpc = ipaddress.ip_network(settings.vpc_cidr)
    subnet = ipaddress.ip_network(f"{vpc.network_address + 256}/24")
    address = subnet.network_address + host
    network = NetworkSpec(
        ipv4=str(address),
        prefix_length=24,
        gateway=str(subnet.network_address + 1),
        mac_address=f"0e:00:00:00:{host // 256:02x}:{host % 256:02x}",
        subnet_cidr=str(subnet),
        dns_servers=(str(vpc.network_address + 2),),
        dns_search=("ec2.internal",),
    )
    hostname = f"ip-{str(address).replace('.', '-')}.ec2.internal"
    return SandboxSpec(task_id=task_id, network_mode="awsvpc", hostname=hostname, network=network)


# -- limits ------------------------------------------------------------------------------------------


def test_memory_hard_limit_ooms_to_137_with_the_oom_flag(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="oom", network_mode="none"))
            hog = python(
                """
                chunks = []
                while True:
                    chunks.append(bytearray(4 << 20))
                """
            )
            await start(runtime, container("oom", "hog", *hog, memory_mib=48))
            state = await exited(runtime, "oom", "hog")
            assert (state.exit_code, state.oom_killed) == (137, True)

    run(scenario)


def test_a_plain_sigkill_is_137_without_the_oom_flag(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="kill", network_mode="none"))
            await start(runtime, container("kill", "app", "sleep", "100", memory_mib=48))
            await runtime.signal("kill", "app", signal.SIGKILL)
            state = await exited(runtime, "kill", "app")
            assert (state.exit_code, state.oom_killed) == (137, False)

    run(scenario)


def test_cpu_shares_memory_limits_and_task_limits_are_written_to_the_cgroups(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(
                SandboxSpec(task_id="lim", network_mode="none", cpu_units=512, memory_mib=256)
            )
            spec = container("lim", "app", "sleep", "100", cpu_units=0, memory_mib=128, memory_reservation_mib=64)
            await start(runtime, spec)
            await start(runtime, container("lim", "big", "sleep", "100", cpu_units=300))
            cgroups = runtime.cgroups
            memory = cgroups.layout.mount_of("memory")
            cpu = cgroups.layout.mount_of("cpu")
            assert memory is not None and cpu is not None
            base = Path(cgroups.key)
            mib = 1 << 20

            def read(mount: Path, *parts: str) -> str:
                return mount.joinpath("ecslite", base, *parts).read_text().strip()

            if cgroups.layout.version == 1:
                assert read(cpu, "lim", "app", "cpu.shares") == "2"  # 0 becomes 2, as ECS does
                assert read(cpu, "lim", "big", "cpu.shares") == "300"
                assert read(memory, "lim", "app", "memory.limit_in_bytes") == str(128 * mib)
                assert read(memory, "lim", "app", "memory.soft_limit_in_bytes") == str(64 * mib)
                assert read(memory, "lim", "memory.limit_in_bytes") == str(256 * mib)
                assert read(cpu, "lim", "cpu.cfs_quota_us") == "50000"
            else:
                assert read(cpu, "lim", "app", "cpu.weight") == "1"
                assert read(memory, "lim", "app", "memory.max") == str(128 * mib)
                assert read(memory, "lim", "app", "memory.low") == str(64 * mib)
                assert read(memory, "lim", "memory.max") == str(256 * mib)
                assert read(cpu, "lim", "cpu.max") == "50000 100000"

    run(scenario)


# -- identity and isolation --------------------------------------------------------------------------


def test_user_ulimits_hostname_and_working_directory_apply(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="who", network_mode="none", hostname="task-host"))
            script = "id -un; id -gn; ulimit -n; ulimit -Hn; hostname; cat /etc/hostname; pwd; echo $HOME"
            spec = container(
                "who",
                "app",
                "sh",
                "-c",
                script,
                user="nobody",
                ulimits=(("nofile", 1024, 2048),),
                hostname="app-host",
                working_directory="/tmp",
            )
            await start(runtime, spec)
            state = await exited(runtime, "who", "app")
            assert state.exit_code == 0
            assert output(runtime, "who", "app") == [
                "nobody",
                "nogroup",
                "1024",
                "2048",
                "app-host",
                "app-host",
                "/tmp",
                "/nonexistent",
            ]

    run(scenario)


def test_the_server_takes_more_open_files_but_containers_keep_its_limits(settings: Settings) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"the hard open-file limit here ({hard}) leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1000, hard))

    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
            await runtime.prepare_sandbox(SandboxSpec(task_id="nof", network_mode="none"))
            await start(runtime, container("nof", "app", "sh", "-c", "ulimit -n"))
            await exited(runtime, "nof", "app")
            assert output(runtime, "nof", "app") == ["1000"]

    try:
        run(scenario)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_container_sees_its_own_pid_1_and_proc(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="iso", network_mode="none"))
            state = await start(runtime, container("iso", "app", "sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"))
            assert state.pid is not None and state.pid != 1  # the host sees its real pid
            await exited(runtime, "iso", "app")
            pid, count = output(runtime, "iso", "app")
            assert pid == "1" and int(count) <= 3

    run(scenario)


def test_network_mode_none_has_only_loopback(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="lo", network_mode="none"))
            await start(runtime, container("lo", "app", "sh", "-c", "ls /sys/class/net; cat /proc/net/dev | wc -l"))
            await exited(runtime, "lo", "app")
            assert output(runtime, "lo", "app")[-1] == "3"  # two header lines and lo

    run(scenario)


def test_awsvpc_containers_share_the_tasks_address_and_localhost(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            spec = awsvpc(settings, "vpc", 10)
            info = await runtime.prepare_sandbox(spec)
            assert spec.network is not None
            assert info.private_ipv4 == spec.network.ipv4
            server = python(
                """
                import socket
                s = socket.socket(); s.bind(("127.0.0.1", 18080)); s.listen()
                print("listening", flush=True)
                c, _ = s.accept(); c.sendall(b"hello from the server"); c.close()
                """
            )
            client = python(
                """
                import socket, subprocess, time
                for _ in range(200):
                    try:
                        c = socket.create_connection(("127.0.0.1", 18080)); break
                    except OSError:
                        time.sleep(0.05)
                print(c.recv(100).decode(), flush=True)
                print(subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip(), flush=True)
                print(open("/etc/resolv.conf").read().split()[1], flush=True)
                """
            )
            await start(runtime, container("vpc", "server", *server))
            await start(runtime, container("vpc", "client", *client))
            assert (await exited(runtime, "vpc", "client")).exit_code == 0
            assert output(runtime, "vpc", "client") == [
                "hello from the server",
                spec.hostname,
                spec.network.dns_servers[0],
            ]

    run(scenario)


# -- exec and stats ----------------------------------------------------------------------------------


def test_exec_runs_inside_the_container_with_its_user_env_and_cwd(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="ex", network_mode="none"))
            spec = container(
                "ex", "app", "sleep", "100", user="nobody", environment={"GREETING": "hi"}, working_directory="/tmp"
            )
            await start(runtime, spec)
            result = await runtime.exec("ex", "app", ["sh", "-c", "id -un; echo $GREETING; pwd; echo $$"], 5)
            assert result.passed
            assert result.output.split() == ["nobody", "hi", "/tmp", result.output.split()[3]]
            assert int(result.output.split()[3]) > 1  # inside the container's PID namespace, not its PID 1
            failing = await runtime.exec("ex", "app", ["sh", "-c", "exit 3"], 5)
            assert (failing.exit_code, failing.passed) == (3, False)
            missing = await runtime.exec("ex", "app", ["no-such-check"], 5)
            assert missing.exit_code == 127
            assert 'exec: "no-such-check": executable file not found in $PATH' in missing.output

    run(scenario)


def test_exec_timeout_kills_what_the_command_started(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="slow", network_mode="none"))
            await start(runtime, container("slow", "app", "sleep", "100"))
            result = await runtime.exec("slow", "app", ["sh", "-c", "sleep 60 & sleep 60"], 0.5)
            assert result.timed_out and not result.passed
            listing = await runtime.exec("slow", "app", ["sh", "-c", "ps -eo args | grep -c '^sleep 60' || true"], 5)
            assert listing.output.strip() == "0"

    run(scenario)


def test_exec_of_a_stopped_container_reports_it_not_running(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="gone", network_mode="none"))
            await start(runtime, container("gone", "app", "true"))
            await exited(runtime, "gone", "app")
            result = await runtime.exec("gone", "app", ["true"], 5)
            assert (result.exit_code, result.output) == (None, "container is not running")

    run(scenario)


def test_stats_report_cpu_memory_and_the_limit(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(awsvpc(settings, "st", 11))
            busy = python(
                """
                import time
                data = bytearray(20 << 20)
                for i in range(0, len(data), 4096):
                    data[i] = 1
                while time.process_time() < 0.3:
                    pass
                print("ready", flush=True)
                time.sleep(100)
                """
            )
            await start(runtime, container("st", "app", *busy, memory_mib=96))
            for _ in range(100):
                if "ready" in output(runtime, "st", "app"):
                    break
                await asyncio.sleep(0.05)
            stats = await runtime.stats("st", "app")
            assert stats is not None
            assert stats.cpu_usage_ns > 200_000_000
            assert 20 << 20 <= stats.memory_usage_bytes < 96 << 20
            assert stats.memory_limit_bytes == 96 << 20

    run(scenario)


# -- failures and idempotency ------------------------------------------------------------------------


def test_a_program_missing_from_path_fails_the_start_with_cannot_start(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="bad", network_mode="none"))
            with pytest.raises(ContainerStartFailed) as failed:
                await start(runtime, container("bad", "app", "no-such-program"))
            assert failed.value.reason == (
                'CannotStartContainerError: exec: "no-such-program": executable file not found in $PATH'
            )
            assert await runtime.inspect("bad", "app") is None

    run(scenario)


def test_an_unknown_user_fails_the_start(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="usr", network_mode="none"))
            with pytest.raises(ContainerStartFailed) as failed:
                await start(runtime, container("usr", "app", "true", user="no-such-user"))
            assert failed.value.reason.startswith(
                "CannotStartContainerError: unable to find user no-such-user: no matching entries in passwd file"
            )

    run(scenario)


def test_an_unmapped_image_fails_the_pull(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="img", network_mode="none"))
            spec = replace(container("img", "app", "true"), image="example.com/not/mapped:1")
            with pytest.raises(ImagePullFailed) as failed:
                await runtime.pull_image(spec)
            assert failed.value.reason.startswith("CannotPullContainerError: ")

    run(scenario)


def test_calls_are_idempotent(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            sandbox = SandboxSpec(task_id="idem", network_mode="none")
            first = await runtime.prepare_sandbox(sandbox)
            assert await runtime.prepare_sandbox(sandbox) == first
            spec = container("idem", "app", "sleep", "100")
            started = await start(runtime, spec)
            again = await runtime.start_container(spec)
            assert (again.pid, again.started_at) == (started.pid, started.started_at)
            await runtime.signal("idem", "app", signal.SIGKILL)
            await exited(runtime, "idem", "app")
            await runtime.signal("idem", "app", signal.SIGKILL)  # an exited container: nothing happens
            assert await runtime.sandboxes() == ["idem"]
            await runtime.destroy_sandbox("idem")
            await runtime.destroy_sandbox("idem")
            assert await runtime.sandboxes() == []
            assert await runtime.sandbox("idem") is None

    run(scenario)


def test_a_stop_sends_the_images_stop_signal(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="sig", network_mode="none"))
            handles_int = python(
                """
                import signal, sys, time
                signal.signal(signal.SIGINT, lambda *_: sys.exit(21))
                print("ready", flush=True)
                time.sleep(100)
                """
            )
            await start(runtime, replace(container("sig", "app", *handles_int), image=STOPS_WITH_SIGINT))
            for _ in range(100):
                if "ready" in output(runtime, "sig", "app"):
                    break
                await asyncio.sleep(0.05)
            await runtime.signal("sig", "app", signal.SIGTERM)  # the stop sequence's "stop"
            assert (await exited(runtime, "sig", "app")).exit_code == 21

    run(scenario)


def test_a_containers_environment_is_kept_from_other_users(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="sec", network_mode="none"))
            await start(runtime, container("sec", "app", "sleep", "100", environment={"DB_PASSWORD": "hunter2"}))
            task_dir = runtime.tasks_dir / "sec"
            assert task_dir.stat().st_mode & 0o777 == 0o700
            assert (task_dir / "app.spec").stat().st_mode & 0o777 == 0o600
            assert b"DB_PASSWORD=hunter2" in (task_dir / "app.spec").read_bytes()

    run(scenario)


def test_a_shim_that_cannot_be_reached_does_not_keep_a_container_from_stopping(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            await runtime.prepare_sandbox(SandboxSpec(task_id="busy", network_mode="none"))
            await start(runtime, container("busy", "app", "sleep", "100"))
            task_dir = runtime.tasks_dir / "busy"
            # Every client slot of the shim taken: it hangs up on anyone else.
            hogs = [socket.socket(socket.AF_UNIX) for _ in range(15)]
            for hog in hogs:
                hog.connect(str(task_dir / "shim.sock"))
            try:
                await runtime._tasks["busy"].client.close()  # type: ignore[union-attr]
                last = socket.socket(socket.AF_UNIX)
                hogs.append(last)
                for _ in range(100):  # the shim frees the runtime's slot once it sees the close
                    last.connect(str(task_dir / "shim.sock"))
                    last.settimeout(2)
                    if last.recv(100).startswith(b"hello"):
                        break
                    last.close()
                    last = socket.socket(socket.AF_UNIX)
                    hogs[-1] = last
                    await asyncio.sleep(0.02)
                await runtime.signal("busy", "app", signal.SIGKILL)
                state = await exited(runtime, "busy", "app")
                assert state.exit_code == 137 and state.reason is None
                assert "cannot reach a live shim" in caplog.text  # the signal went around the shim
            finally:
                for hog in hogs:
                    hog.close()

    run(scenario)


def test_exits_reach_the_listeners(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            heard: list[tuple[str, str]] = []
            runtime.on_exit(lambda task_id, name: heard.append((task_id, name)))
            await runtime.prepare_sandbox(SandboxSpec(task_id="ev", network_mode="none"))
            await start(runtime, container("ev", "app", "sh", "-c", "exit 4"))
            for _ in range(1000):  # up to 10 s beside a loaded run
                if heard:
                    break
                await asyncio.sleep(0.01)
            assert heard == [("ev", "app")]
            state = await runtime.inspect("ev", "app")
            assert state is not None and (state.status, state.exit_code) == (ContainerRunState.EXITED, 4)

    run(scenario)


def test_a_dead_shim_stops_its_containers_with_a_reason_naming_it(settings: Settings) -> None:
    async def scenario() -> None:
        async with process_runtime(settings) as runtime:
            heard: list[str] = []
            runtime.on_exit(lambda task_id, name: heard.append(name))
            await runtime.prepare_sandbox(SandboxSpec(task_id="dead", network_mode="none"))
            app = await start(runtime, container("dead", "app", "sleep", "100"))
            side = await start(runtime, container("dead", "side", "sleep", "100"))
            shim_pid = read_shim_pid(runtime.tasks_dir / "dead")
            assert shim_pid is not None
            os.kill(shim_pid, signal.SIGKILL)
            for _ in range(200):
                if len(heard) == 2:
                    break
                await asyncio.sleep(0.02)
            assert sorted(heard) == ["app", "side"]
            for name, before in (("app", app), ("side", side)):
                state = await runtime.inspect("dead", name)
                assert state is not None and not state.running
                assert state.exit_code is None
                assert state.reason is not None and f"ecslite shim (pid {shim_pid})" in state.reason
                assert before.pid is not None and process_gone(before.pid)

    run(scenario)


# -- choosing the runtime and cgroup v2 --------------------------------------------------------------


def test_auto_falls_back_to_the_fake_runtime_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    runtime, reason = select_runtime(Settings(data_dir=tmp_path, runtime="auto"))
    assert runtime.name == "fake"
    assert reason == (
        "the process runtime cannot run here: it needs root (network namespaces, cgroups and the host bridge); "
        "run ecslite as root; tasks run on the fake runtime"
    )
    with pytest.raises(RuntimeUnavailable) as refused:
        select_runtime(Settings(data_dir=tmp_path, runtime="process"))
    assert str(refused.value) == (
        "The process runtime cannot run here: it needs root (network namespaces, cgroups and the host bridge); "
        "run ecslite as root. Use --runtime fake (tasks go through the whole ECS lifecycle without running "
        "processes)."
    )


def test_auto_takes_the_process_runtime_where_it_can_run(settings: Settings) -> None:
    runtime, reason = select_runtime(replace(settings, runtime="auto"))
    assert (runtime.name, reason) == ("process", "this machine can run it")
    asyncio.run(runtime.close())


def test_cgroup_v2_groups_are_made_joined_killed_and_removed(tmp_path: Path) -> None:
    unified = Path("/sys/fs/cgroup/unified")
    if Layout.detect().version == 2:
        pytest.skip("this host is cgroup v2 only: every other runtime test exercises v2")
    if not (unified / "cgroup.procs").exists():
        pytest.skip("no cgroup v2 hierarchy is mounted beside the v1 controllers")
    cgroups = Cgroups(Layout(version=2, mounts={"unified": unified}), f"test-{os.getpid()}")
    cgroups.create_task("task", Limits())
    dirs = cgroups.create_container("task", "app", Limits())
    sleeper = subprocess.Popen(["sleep", "100"])
    try:
        cgroups.join(dirs, sleeper.pid)
        assert cgroups.procs(dirs[0]) == [sleeper.pid]
        cgroups.kill_containers("task")
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
        cgroups.destroy_task("task")
        assert cgroups.existing_tasks() == []
    finally:
        sleeper.kill()
        sleeper.wait()
        cgroups.remove(cgroups.task_dirs("task"))
        cgroups.remove_base_if_unused()
