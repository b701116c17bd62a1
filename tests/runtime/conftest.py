"""Fixtures for runtime tests: real namespaces, cgroups and processes (style.md "Runtime tests").

Every test under ``tests/runtime`` is marked ``runtime``. A test that needs the process runtime
skips with the precise reason when this machine cannot run it, and **fails** instead when ``CI``
is set (a skipped runtime test in CI hides a broken machine).

Servers never share host state: each xdist worker ``n`` gets its own bridges and VPCs,

- ``process_server``: bridge ``ecsl-<worker>``, VPC ``10.<100+n>.0.0/16``;
- ``restartable_server``: bridge ``ecsl-<worker>r``, VPC ``10.<150+n>.0.0/16``;
- in-process runtimes (``runtime_settings``): bridge ``ecsl-<worker>i``, VPC ``10.<200+n>.0.0/16``;

each with its own data directory, and stopped by pid. Each server gets an image map file
(``server.image_map``) with two entries — ``ecslite-test/host`` (the host's own programs) and
``ecslite-test/programs`` (``tests/runtime/programs`` run by this Python) — and
:func:`map_images` adds more while it runs (the resolver re-reads the file when it changes).

Cleanup: ``process_endpoint`` resets the server before and after each test and then fails the
test if :func:`leaks` finds anything left (network namespaces, veths on the bridge, cgroups,
processes, task files), so every test cleans up even when it fails.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ecslite.config import Settings
from ecslite.runtime.process.cgroups import Cgroups, Layout, cgroup_key
from ecslite.runtime.select import RuntimeUnavailable, check_process_runtime
from tests.conftest import RunningServer, make_client, start_server, stop_server
from tests.fixtures.capability import missing

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
DEFAULT_IMAGES: dict[str, dict[str, Any]] = {
    "ecslite-test/host": {"path": "/"},
    "ecslite-test/programs": {"path": str(PROGRAMS), "entryPoint": [sys.executable]},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.runtime)


# -- can this machine run the process runtime? ---------------------------------------------------


@functools.cache
def process_runtime_problem() -> str | None:
    """Why the process runtime cannot run here (the server's own check), or ``None``."""
    settings = Settings(data_dir=Path("/tmp/ecslite-capability-check"))
    try:
        check_process_runtime(settings)
    except RuntimeUnavailable as unavailable:
        return str(unavailable)
    Cgroups(Layout.detect(), cgroup_key(settings.runtime_dir)).remove_base_if_unused()
    return None


def require_process_runtime() -> None:
    problem = process_runtime_problem()
    if problem is None:
        return
    missing(f"the process runtime cannot run here: {problem}")


# Two test runs on one host (a developer's and a clean checkout's, say) keep apart when each sets
# its own ECSLITE_TEST_SLOT (0-4): slot s takes network numbers s*10 .. s*10+9 and tags bridges with s.
SLOT = int(os.environ.get("ECSLITE_TEST_SLOT", "0"))
if not 0 <= SLOT <= 4:
    # Higher slots would run into the next block's networks (process 100+, restartable 150+, in-process 200+).
    raise pytest.UsageError(f"ECSLITE_TEST_SLOT must be 0-4, not {SLOT}")


@pytest.fixture(scope="session")
def worker_number(worker_id: str) -> int:
    # A run without xdist ("main") gets a number no gwN of the same slot takes.
    return SLOT * 10 + (int(worker_id[2:]) % 9 if worker_id.startswith("gw") else 9)


@pytest.fixture(scope="session")
def worker_tag(worker_id: str) -> str:
    tag = worker_id if worker_id.startswith("gw") else "main"
    return f"{SLOT}{tag}" if SLOT else tag


# -- servers ---------------------------------------------------------------------------------------


@dataclass
class ProcessServer:
    """A server on the process runtime, with what a test needs to look at its host state."""

    server: RunningServer
    settings: Settings
    image_map: Path
    args: tuple[str, ...] = field(default=())

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def pid(self) -> int:
        return self.server.pid

    def reset(self) -> None:
        httpx.post(f"{self.endpoint}/_ecslite/reset", timeout=120).raise_for_status()

    def ecs(self) -> Any:
        return make_client("ecs", self.endpoint)


def server_settings(data_dir: Path, bridge: str, vpc_cidr: str) -> Settings:
    return Settings(data_dir=data_dir.resolve(), runtime="process", bridge=bridge, vpc_cidr=vpc_cidr)


def write_image_map(path: Path, images: Mapping[str, Mapping[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(images, indent=2))
    os.replace(tmp, path)


def map_images(server: ProcessServer, images: Mapping[str, Mapping[str, Any]]) -> None:
    """Add (or replace) image map entries of a running server."""
    current = json.loads(server.image_map.read_text())
    current.update(images)
    write_image_map(server.image_map, current)


def start_process_server(
    data_dir: Path, bridge: str, vpc_cidr: str, *extra: str, ephemeral: bool = True
) -> ProcessServer:
    require_process_runtime()
    data_dir.mkdir(parents=True, exist_ok=True)
    image_map = data_dir / "images.json"
    if not image_map.exists():
        write_image_map(image_map, DEFAULT_IMAGES)
    args = ("--runtime", "process", "--bridge", bridge, "--vpc-cidr", vpc_cidr, "--image-map", str(image_map), *extra)
    server = start_server(data_dir, *args, ephemeral=ephemeral, timeout=60)
    health = server.health()
    if health["runtime"] != "process":
        stop_server(server)
        pytest.fail(f"the server runs the {health['runtime']} runtime: {health.get('runtimeReason')}")
    return ProcessServer(server, server_settings(data_dir, bridge, vpc_cidr), image_map, args)


@pytest.fixture(scope="session")
def process_server(
    tmp_path_factory: pytest.TempPathFactory, worker_tag: str, worker_number: int
) -> Iterator[ProcessServer]:
    running = start_process_server(
        tmp_path_factory.mktemp("process"), f"ecsl-{worker_tag}", f"10.{100 + worker_number}.0.0/16"
    )
    yield running
    try:
        running.reset()
    finally:
        stop_server(running.server)


@pytest.fixture
def process_endpoint(process_server: ProcessServer) -> Iterator[str]:
    """The process server's endpoint, empty before the test; fails the test if it leaves anything behind."""
    process_server.reset()
    yield process_server.endpoint
    process_server.reset()
    assert_no_leaks(process_server.settings)


@pytest.fixture
def process_ecs(process_endpoint: str) -> Any:
    return make_client("ecs", process_endpoint)


class Restartable:
    """One non-ephemeral server that a test may kill -9 and start again on the same data directory."""

    def __init__(self, data_dir: Path, bridge: str, vpc_cidr: str) -> None:
        self.data_dir, self.bridge, self.vpc_cidr = data_dir, bridge, vpc_cidr
        self.current: ProcessServer | None = None

    def start(self) -> ProcessServer:
        if self.current is not None and self.current.server.process.poll() is None:
            raise RuntimeError("the server is still running")
        self.current = start_process_server(self.data_dir, self.bridge, self.vpc_cidr, ephemeral=False)
        return self.current

    def kill(self) -> None:
        """SIGKILL the server (shims and containers keep running)."""
        assert self.current is not None
        os.kill(self.current.pid, signal.SIGKILL)
        self.current.server.process.wait(timeout=10)

    def cleanup(self) -> None:
        if self.current is None:
            return
        if self.current.server.process.poll() is not None:
            self.start()  # a server that re-attaches is the one that can remove what the last one left
        assert self.current is not None
        try:
            self.current.reset()
        finally:
            stop_server(self.current.server)


@pytest.fixture
def restartable_server(tmp_path: Path, worker_tag: str, worker_number: int) -> Iterator[Restartable]:
    require_process_runtime()
    restartable = Restartable(tmp_path / "data", f"ecsl-{worker_tag}r", f"10.{150 + worker_number}.0.0/16")
    yield restartable
    settings = server_settings(restartable.data_dir, restartable.bridge, restartable.vpc_cidr)
    restartable.cleanup()
    assert_no_leaks(settings)


# -- in-process runtimes ---------------------------------------------------------------------------


@pytest.fixture
def runtime_settings(tmp_path: Path, worker_tag: str, worker_number: int) -> Iterator[Settings]:
    """Settings for a ``ProcessRuntime`` built inside the test; whatever it leaves is removed after."""
    require_process_runtime()
    settings = server_settings(tmp_path / "data", f"ecsl-{worker_tag}i", f"10.{200 + worker_number}.0.0/16")
    settings.runtime_dir.mkdir(parents=True, exist_ok=True)
    yield settings
    asyncio.run(_destroy_everything(settings))
    assert_no_leaks(settings)


async def _destroy_everything(settings: Settings) -> None:
    from ecslite.runtime.process.runtime import ProcessRuntime

    runtime = ProcessRuntime(settings)
    try:
        for task_id in await runtime.sandboxes():
            await runtime.destroy_sandbox(task_id)
    finally:
        await runtime.close()


# -- leaks -----------------------------------------------------------------------------------------


def leaks(settings: Settings) -> dict[str, list[str]]:
    """What a server (or runtime) with these settings still holds on the host; empty lists are dropped."""
    found: dict[str, list[str]] = {
        "network": _network_leftovers(settings),
        "veths": _bridge_ports(settings.bridge),
        "cgroups": Cgroups(Layout.detect(), cgroup_key(settings.runtime_dir)).existing_tasks(),
        "processes": _processes(settings),
        "files": _task_files(settings.runtime_dir / "tasks"),
    }
    return {kind: items for kind, items in found.items() if items}


def assert_no_leaks(settings: Settings, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (found := leaks(settings)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not found, f"left behind: {found}"


def _network_leftovers(settings: Settings) -> list[str]:
    try:
        from ecslite.runtime.process.network import HostNetwork
    except ImportError:
        return []
    return [f"task {task_id}" for task_id in HostNetwork(settings).existing()]


def _bridge_ports(bridge: str) -> list[str]:
    result = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True, check=False)
    return [line.split(":")[1].strip() for line in result.stdout.splitlines() if ":" in line]


def _processes(settings: Settings) -> list[str]:
    """Processes in this runtime's cgroups, or naming its runtime directory (shims)."""
    marker = f"/ecslite/{cgroup_key(settings.runtime_dir)}/"
    runtime_dir = str(settings.runtime_dir)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cgroups = (entry / "cgroup").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cgroups or runtime_dir in cmdline:
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def _task_files(tasks_dir: Path) -> list[str]:
    """Files of tasks other than their containers' output, which outlives the sandbox by design."""
    if not tasks_dir.is_dir():
        return []
    return sorted(
        str(path.relative_to(tasks_dir))
        for path in tasks_dir.rglob("*")
        if not path.is_dir() and not path.name.endswith(".log")
    )


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test with its last value."""
    deadline = time.monotonic() + timeout
    value = condition()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = condition()
    assert value, f"condition not met within {timeout}s"
    return value
