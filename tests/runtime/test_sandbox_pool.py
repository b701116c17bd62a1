"""Spare sandboxes of the process runtime (runtime/process/pool.py): made on demand, taken over by
awsvpc tasks with the task's own address, never listed as sandboxes, removed when idle, on drain,
on close and by the next server after a crash; nothing left on the host afterwards."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from ecslite.config import Settings
from ecslite.runtime.base import ContainerRunState, ContainerSpec
from ecslite.runtime.process.bridge import bridge_mac
from ecslite.runtime.process.cgroups import Cgroups, Layout, cgroup_key
from ecslite.runtime.process.network import HostNetwork
from ecslite.runtime.process.pool import is_spare
from ecslite.runtime.process.runtime import ProcessRuntime
from tests.runtime.conftest import leaks
from tests.runtime.test_process_runtime import HOST_IMAGE, awsvpc

SIZE = 2


@pytest.fixture
def settings(runtime_settings: Settings, tmp_path: Path) -> Settings:
    image_map = tmp_path / "images.json"
    image_map.write_text(json.dumps({HOST_IMAGE: {"path": "/"}}))
    return replace(runtime_settings, image_map=image_map)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 120))


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def spares_on_host(settings: Settings) -> list[str]:
    """Everything of a spare the host still holds: directories, network state, namespaces, cgroups."""
    tasks = settings.runtime_dir / "tasks"
    found = [p.name for p in tasks.iterdir()] if tasks.is_dir() else []
    found += HostNetwork(settings).existing()
    found += Cgroups(Layout.detect(), cgroup_key(settings.runtime_dir)).existing_tasks()
    return sorted({name for name in found if is_spare(name)})


def netns_exec(settings: Settings, task_id: str, *command: str) -> str:
    namespace = f"{settings.bridge}-{task_id}"
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *command], capture_output=True, text=True, check=True
    ).stdout


def test_a_task_takes_a_spare_with_its_own_address_and_limits(settings: Settings) -> None:
    async def scenario() -> None:
        runtime = ProcessRuntime(settings, pool_size=SIZE)
        await runtime.start()
        try:
            assert len(runtime.pool) == 0  # nothing before the first demand
            first = awsvpc(settings, "a" * 32, 10)
            await runtime.prepare_sandbox(first)
            await until(lambda: len(runtime.pool) == SIZE)
            assert runtime.pool.taken == 0

            spec = replace(awsvpc(settings, "b" * 32, 11), cpu_units=512, memory_mib=256)
            info = await runtime.prepare_sandbox(spec)
            assert runtime.pool.taken == 1
            assert info.private_ipv4 == spec.network.ipv4 if spec.network else False
            assert spec.task_id in await runtime.sandboxes()
            assert not [s for s in await runtime.sandboxes() if is_spare(s)]

            # The namespace is the task's: its address, MAC and routes, under the task's name.
            assert spec.network is not None
            addresses = netns_exec(settings, spec.task_id, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
            assert f"{spec.network.ipv4}/24" in addresses
            link = netns_exec(settings, spec.task_id, "ip", "-o", "link", "show", "dev", "eth0")
            assert spec.network.mac_address in link and "state UP" in link
            routes = netns_exec(settings, spec.task_id, "ip", "-4", "route")
            assert f"default via {spec.network.gateway}" in routes and "169.254.170.2" in routes
            # The task's limits on its (renamed) cgroups.
            layout = Layout.detect()
            memory = layout.mount_of("memory")
            assert memory is not None
            task_group = memory / "ecslite" / cgroup_key(settings.runtime_dir) / spec.task_id
            limit_file = "memory.max" if layout.version == 2 else "memory.limit_in_bytes"
            assert int((task_group / limit_file).read_text()) == 256 * 1024 * 1024

            # A container of the task runs in that namespace and reaches the host through its gateway
            # (a refused connection is an answer from the host's kernel).
            reach = (
                "import socket, subprocess\n"
                "link = subprocess.run(['ip', '-o', 'link', 'show', 'eth0'], capture_output=True, text=True).stdout\n"
                "print(open('/etc/hostname').read().strip(), link.split('link/ether ')[1].split()[0])\n"
                "try:\n"
                f"    socket.create_connection(({spec.network.gateway!r}, 9), timeout=5)\n"
                "except ConnectionRefusedError:\n"
                "    print('reached')\n"
            )
            container = ContainerSpec(
                task_id=spec.task_id,
                name="app",
                image=HOST_IMAGE,
                runtime_id="rt",
                command=(sys.executable, "-c", reach),
                environment={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            )
            await runtime.pull_image(container)
            await runtime.start_container(container)

            async def exited() -> None:
                while (state := await runtime.inspect(spec.task_id, "app")) is None or state.running:
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(exited(), 20)
            state = await runtime.inspect(spec.task_id, "app")
            assert state is not None and state.status is ContainerRunState.EXITED and state.exit_code == 0
            output = runtime.output_path(spec.task_id, "app").read_text()
            assert f"{spec.hostname} {spec.network.mac_address}" in output and "reached" in output

            # The pool refills after the take; the bridge kept its own MAC while spares' ports joined
            # (else the running task's ARP entry for its gateway would point at a MAC nobody has).
            await until(lambda: len(runtime.pool) == SIZE)
            bridge = subprocess.run(
                ["ip", "-o", "link", "show", "dev", settings.bridge], capture_output=True, text=True, check=True
            ).stdout
            assert f"link/ether {bridge_mac(settings.bridge)} " in bridge
            for task_id in await runtime.sandboxes():
                await runtime.destroy_sandbox(task_id)
        finally:
            await runtime.close()
        assert spares_on_host(settings) == []

    run(scenario)
    assert not leaks(settings)


def test_spares_go_when_idle_and_on_drain(settings: Settings) -> None:
    async def scenario() -> None:
        runtime = ProcessRuntime(settings, pool_size=SIZE)
        runtime.pool.idle_seconds = 1.0
        await runtime.start()
        try:
            await runtime.prepare_sandbox(awsvpc(settings, "c" * 32, 12))
            await until(lambda: len(runtime.pool) == SIZE)
            assert len(spares_on_host(settings)) == SIZE
            await until(lambda: len(runtime.pool) == 0 and not spares_on_host(settings))

            await runtime.destroy_sandbox("c" * 32)  # a removal keeps only a warm pool warm
            await asyncio.sleep(0.3)
            assert len(runtime.pool) == 0

            runtime.pool.idle_seconds = 60.0
            await runtime.prepare_sandbox(awsvpc(settings, "d" * 32, 13))
            await until(lambda: len(runtime.pool) == SIZE)
            await runtime.drain_pool()
            assert len(runtime.pool) == 0 and spares_on_host(settings) == []
            await runtime.destroy_sandbox("d" * 32)
        finally:
            await runtime.close()

    run(scenario)
    assert not leaks(settings)


CRASH = """
import asyncio, json, os, sys, time
from pathlib import Path
from ecslite.config import Settings
from ecslite.runtime.process.runtime import ProcessRuntime
from tests.runtime.test_process_runtime import awsvpc

args = json.loads(sys.argv[1])
settings = Settings(data_dir=Path(args["data_dir"]), runtime="process", bridge=args["bridge"],
                    vpc_cidr=args["vpc_cidr"], image_map=Path(args["image_map"]))

async def main():
    runtime = ProcessRuntime(settings, pool_size=args["size"])
    await runtime.start()
    await runtime.prepare_sandbox(awsvpc(settings, "e" * 32, 14))
    deadline = time.monotonic() + 20
    while len(runtime.pool) < args["size"] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    os._exit(0 if len(runtime.pool) == args["size"] else 1)  # as kill -9: nothing is cleaned up

asyncio.run(main())
"""


def test_the_next_runtime_removes_the_spares_of_one_that_died(settings: Settings) -> None:
    assert settings.image_map is not None
    args = {
        "data_dir": str(settings.data_dir),
        "bridge": settings.bridge,
        "vpc_cidr": settings.vpc_cidr,
        "image_map": str(settings.image_map),
        "size": SIZE,
    }
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", CRASH, json.dumps(args)], cwd=root, check=True, timeout=60)
    assert len(spares_on_host(settings)) == SIZE
    # Killed while writing a record: a spare's and a task's, each only as far as the temporary file.
    for half_written in ("pool-" + "d" * 16, "f" * 32):
        (settings.runtime_dir / "tasks" / half_written).mkdir(mode=0o700)
        (settings.runtime_dir / "tasks" / half_written / "sandbox.json.tmp").write_text("{")

    async def restart() -> None:
        runtime = ProcessRuntime(settings, pool_size=SIZE)
        await runtime.start()
        try:
            assert spares_on_host(settings) == []
            # The task's sandbox was re-attached; the half-written one is listed for its owner to remove.
            assert await runtime.sandboxes() == ["e" * 32, "f" * 32]
            assert await runtime.sandbox("e" * 32) is not None
            assert await runtime.sandbox("f" * 32) is None
            await runtime.destroy_sandbox("e" * 32)
            await runtime.destroy_sandbox("f" * 32)
        finally:
            await runtime.close()

    run(restart)
    assert not leaks(settings)
