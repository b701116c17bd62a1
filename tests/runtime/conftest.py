"""Fixtures for runtime tests: real namespaces, cgroups and processes (style.md "Runtime tests").

Every test under ``tests/runtime`` is marked ``runtime``. A test that needs the process runtime
skips with the precise reason when this machine cannot run it, and **fails** instead when ``CI``
is set (a skipped runtime test in CI hides a broken machine).

Servers never share host state: each xdist worker gets its own bridges and VPCs (:func:`worker_vpc`
has the table of every fixture's VPC block),

- ``process_server``: bridge ``ecsl-<worker>``, VPC ``worker_vpc("process", n)``;
- ``restartable_server``: bridge ``ecsl-<worker>r``, VPC ``worker_vpc("restartable", n)``;
- in-process runtimes (``runtime_settings``): bridge ``ecsl-<worker>i``, VPC ``worker_vpc("in-process", n)``;

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
import ipaddress
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
# its own ECSLITE_TEST_SLOT (0-4): slot s takes worker numbers s*10 .. s*10+9 (so VPCs, see
# worker_vpc) and tags bridges with s.
SLOT = int(os.environ.get("ECSLITE_TEST_SLOT", "0"))
SLOTS = 5
WORKER_NUMBERS = SLOTS * 10
if not 0 <= SLOT < SLOTS:
    # Every VPC block holds WORKER_NUMBERS VPCs; a higher slot would run into the next block.
    raise pytest.UsageError(f"ECSLITE_TEST_SLOT must be 0-{SLOTS - 1}, not {SLOT}")


@pytest.fixture(scope="session")
def worker_number(worker_id: str) -> int:
    # A run without xdist ("main") gets a number no gwN of the same slot takes.
    return SLOT * 10 + (int(worker_id[2:]) % 9 if worker_id.startswith("gw") else 9)


@pytest.fixture(scope="session")
def worker_tag(worker_id: str) -> str:
    # Bridges are ``ecsl-<tag><letter>`` (``ecsl-<tag>`` for process_server): a slot's tags start with
    # its digit and slot 0's with a letter, so no two slots share a bridge, and the longest,
    # ``ecsl-4gw99x``, is 11 characters (Linux allows 15).
    tag = worker_id if worker_id.startswith("gw") else "main"
    return f"{SLOT}{tag}" if SLOT else tag


# -- VPCs ------------------------------------------------------------------------------------------

VpcKind = Literal[
    "process",
    "restartable",
    "in-process",
    "host",
    "demo-up",
    "firelens",
    "otel-demo",
    "telemetry",
    "runtime-metrics",
    "scrape",
    "autoscaling",
]

# The first VPC of each kind's block and the VPCs' prefix length; VPC n is the n-th of that size.
# The kinds whose tests carve /24s and /20s at fixed offsets of the VPC (test_sink_subnets,
# test_subnet_gateways, test_vpc_resolvers, test_network) get /16s like AWS's default VPC; the
# servers of single end-to-end modules get /18s (default subnets of /22, 1019 addresses each), since
# 10.0.0.0/8 and 100.64.0.0/10 do not hold 11 x 50 /16s.
VPC_BLOCKS: dict[VpcKind, tuple[str, int]] = {
    "host": ("10.50.0.0", 16),  # test_network, test_vpc_resolvers, test_agent_port (one test at a time)
    "process": ("10.100.0.0", 16),
    "restartable": ("10.150.0.0", 16),
    "in-process": ("100.64.0.0", 16),
    "demo-up": ("10.1.0.0", 18),
    "firelens": ("10.13.128.0", 18),
    "otel-demo": ("10.26.0.0", 18),
    "telemetry": ("10.200.0.0", 18),
    "runtime-metrics": ("10.212.128.0", 18),
    "scrape": ("10.235.0.0", 18),
    "autoscaling": ("100.114.0.0", 18),
}
# Where test VPCs may lie: private space, and the shared address space (fine for a host-only bridge).
VPC_SPACE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "100.64.0.0/10"))
# What they must stay off: the fake runtime's pool, the benchmarks' VPCs (10.232-10.234), docker0,
# ecslite's own default VPC, and test_network's outside network (198.18.<n>.0/24).
VPC_KEEP_OUT = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/16", "10.232.0.0/15", "10.234.0.0/16", "172.17.0.0/16", "172.31.0.0/16", "198.18.0.0/15")
)


def worker_vpc(kind: VpcKind, worker_number: int) -> str:
    """The VPC CIDR of a ``kind`` fixture's server or runtime on worker ``worker_number`` (0-49).

    kind             VPC n (0 .. 49)            whole block                      bridge ``ecsl-<worker>…``
    demo-up          n-th /18 from 10.1.0.0     10.1.0.0 - 10.13.127.255         ``u`` test_demo_up
    firelens         n-th /18 from 10.13.128.0  10.13.128.0 - 10.25.255.255      ``f`` test_firelens_e2e
    otel-demo        n-th /18 from 10.26.0.0    10.26.0.0 - 10.38.127.255        ``o`` test_otel_demo_services
    host             10.<50+n>.0.0/16           10.50.0.0 - 10.99.255.255        ``n`` ``v`` ``p`` test_network,
                                                                                 test_vpc_resolvers, test_agent_port
    process          10.<100+n>.0.0/16          10.100.0.0 - 10.149.255.255      ``ecsl-<worker>`` process_server
    restartable      10.<150+n>.0.0/16          10.150.0.0 - 10.199.255.255      ``r`` restartable_server
    telemetry        n-th /18 from 10.200.0.0   10.200.0.0 - 10.212.127.255      ``t`` test_telemetry_e2e
    runtime-metrics  n-th /18 from 10.212.128.0 10.212.128.0 - 10.224.255.255    ``m`` test_runtime_metrics_e2e
    scrape           n-th /18 from 10.235.0.0   10.235.0.0 - 10.247.127.255      ``s`` test_scrape_e2e
    in-process       100.<64+n>.0.0/16          100.64.0.0 - 100.113.255.255     ``i`` runtime_settings
    autoscaling      n-th /18 from 100.114.0.0  100.114.0.0 - 100.126.127.255    ``a`` test_autoscaling_e2e

    Free: 10.38.128.0 - 10.49.255.255, 10.225-10.231, 10.248-10.255, 100.126.128.0 - 100.127.255.255.
    :func:`_check_vpc_blocks` checks at import that the blocks are pairwise disjoint, inside
    ``VPC_SPACE`` and off ``VPC_KEEP_OUT``.
    """
    if not 0 <= worker_number < WORKER_NUMBERS:
        raise ValueError(f"worker number {worker_number} is outside 0-{WORKER_NUMBERS - 1}")
    first, prefix = VPC_BLOCKS[kind]
    base = ipaddress.IPv4Address(first) + worker_number * 2 ** (32 - prefix)
    return str(ipaddress.IPv4Network(f"{base}/{prefix}"))


def _check_vpc_blocks() -> None:
    spans = []
    for kind in VPC_BLOCKS:
        first = ipaddress.IPv4Network(worker_vpc(kind, 0))
        last = ipaddress.IPv4Network(worker_vpc(kind, WORKER_NUMBERS - 1))
        block = list(ipaddress.summarize_address_range(first.network_address, last.broadcast_address))
        assert all(any(net.subnet_of(space) for space in VPC_SPACE) for net in block), f"{kind} leaves VPC_SPACE"
        assert not any(net.overlaps(out) for net in block for out in VPC_KEEP_OUT), f"{kind} is on a kept-out range"
        spans.append((int(first.network_address), int(last.broadcast_address), kind))
    spans.sort()
    for (_, end, kind), (start, _, other) in itertools.pairwise(spans):
        assert end < start, f"the VPC blocks of {kind} and {other} overlap"


_check_vpc_blocks()


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
        tmp_path_factory.mktemp("process"), f"ecsl-{worker_tag}", worker_vpc("process", worker_number)
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
    restartable = Restartable(tmp_path / "data", f"ecsl-{worker_tag}r", worker_vpc("restartable", worker_number))
    yield restartable
    settings = server_settings(restartable.data_dir, restartable.bridge, restartable.vpc_cidr)
    restartable.cleanup()
    assert_no_leaks(settings)


# -- in-process runtimes ---------------------------------------------------------------------------


@pytest.fixture
def runtime_settings(tmp_path: Path, worker_tag: str, worker_number: int) -> Iterator[Settings]:
    """Settings for a ``ProcessRuntime`` built inside the test; whatever it leaves is removed after."""
    require_process_runtime()
    settings = server_settings(tmp_path / "data", f"ecsl-{worker_tag}i", worker_vpc("in-process", worker_number))
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
