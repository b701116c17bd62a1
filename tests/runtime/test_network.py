"""Host networking of the process runtime, for real (runtime.process.network): namespaces, veths,
the bridge, DNS, the metadata route, published ports, restarts and leaks.

``HostNetwork`` is driven directly, with processes put into a task's namespace by ``nsenter``, so
these tests do not depend on the rest of the runtime. Each test gets its own bridge and VPC
(``ecsl-<worker>n``, ``worker_vpc("host", n)``) and leaves nothing behind (checked after every test).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecslite.config import Settings
from ecslite.model.vpc import default_layout, dns_address, gateway
from ecslite.runtime.base import NetworkSpec, PortBinding, SandboxFailed, SandboxSpec
from ecslite.runtime.process import netns
from ecslite.runtime.process.dns import host_resolvers
from ecslite.runtime.process.nat import METADATA_ADDRESS
from ecslite.runtime.process.network import HostNetwork, veth_name
from ecslite.runtime.process.sandbox_files import SandboxNetwork
from tests.conftest import make_client
from tests.fixtures.capability import missing
from tests.fixtures.ports import free_port
from tests.runtime.conftest import assert_no_leaks, require_process_runtime, wait_for, worker_vpc


@pytest.fixture
def net_settings(tmp_path: Path, worker_tag: str, worker_number: int) -> Iterator[Settings]:
    yield from host_network_settings(tmp_path, f"ecsl-{worker_tag}n", worker_number)


def host_network_settings(tmp_path: Path, bridge: str, worker_number: int) -> Iterator[Settings]:
    """Settings of a host network on its own bridge, and everything of it removed afterwards (for a
    fixture to yield from). Tests of this worker that use it run one at a time: they share the VPC."""
    require_process_runtime()
    settings = Settings(data_dir=tmp_path / "data", bridge=bridge[:15], vpc_cidr=worker_vpc("host", worker_number))
    yield settings
    asyncio.run(_remove_everything(settings))
    assert_no_leaks(settings)
    subprocess.run(["ip", "link", "del", settings.bridge], capture_output=True, check=False)
    if shutil.which("nft"):
        subprocess.run(["nft", "delete", "table", "ip", f"ecslite-{settings.bridge}"], capture_output=True, check=False)


async def _remove_everything(settings: Settings) -> None:
    network = HostNetwork(settings)
    try:
        for task_id in network.existing():
            await network.destroy_sandbox(task_id)
    finally:
        await network.close()


def task_id(n: int) -> str:
    return f"{n:032x}"


def awsvpc_spec(settings: Settings, n: int, zone: int = 0) -> SandboxSpec:
    subnet = default_layout(settings.vpc_cidr).subnets[zone][1]
    address = str(subnet.network_address + 4 + n)
    return SandboxSpec(
        task_id=task_id(n),
        network_mode="awsvpc",
        hostname=f"ip-{address.replace('.', '-')}.ec2.internal",
        network=NetworkSpec(
            ipv4=address,
            prefix_length=subnet.prefixlen,
            gateway=gateway(str(subnet)),
            mac_address=f"0a:00:00:00:{n >> 8:02x}:{n & 0xFF:02x}",
            subnet_cidr=str(subnet),
            dns_servers=(dns_address(settings.vpc_cidr),),
            dns_search=("ec2.internal",),
        ),
        extra_hosts=(("db.local", "10.9.9.9"),),
    )


def bridge_spec(settings: Settings, n: int, *bindings: PortBinding) -> SandboxSpec:
    pool = default_layout(settings.vpc_cidr).bridge_range
    address = str(pool.network_address + 4 + n)
    return SandboxSpec(
        task_id=task_id(n),
        network_mode="bridge",
        network=NetworkSpec(
            ipv4=address,
            prefix_length=pool.prefixlen,
            gateway=gateway(str(pool)),
            mac_address=f"0a:00:00:01:{n >> 8:02x}:{n & 0xFF:02x}",
            subnet_cidr=str(pool),
            dns_servers=(dns_address(str(pool)),),
        ),
        port_bindings=bindings,
    )


class InTask:
    """Python programs run inside a task's network namespace (as its containers would)."""

    def __init__(self, sandbox: SandboxNetwork) -> None:
        self.sandbox = sandbox
        self.processes: list[subprocess.Popen[str]] = []

    def _argv(self, code: str) -> list[str]:
        prefix = ["nsenter", f"--net={self.sandbox.netns_path}"] if self.sandbox.netns_path else []
        return [*prefix, sys.executable, "-c", code]

    def start(self, code: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(self._argv(code), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.processes.append(process)
        return process

    def run(self, code: str, timeout: float = 20) -> str:
        result = subprocess.run(self._argv(code), capture_output=True, text=True, timeout=timeout, check=False)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def close(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait(timeout=10)
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()


SERVE_TCP = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1] if len(sys.argv) > 1 else '{host}', {port})); s.listen(16)
print('ready', flush=True)
while True:
    c, peer = s.accept()
    c.sendall(b'hello from ' + c.getsockname()[0].encode() + b' to ' + peer[0].encode()); c.close()
"""

SERVE_UDP = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', {port}))
print('ready', flush=True)
while True:
    data, peer = s.recvfrom(2048); s.sendto(b'echo:' + data, peer)
"""

FETCH_TCP = """
import socket
c = socket.create_connection(('{host}', {port}), timeout=5); print(c.recv(200).decode())
"""


def ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", (line, process.stderr.read() if process.stderr else "")


def fetch_from_host(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=5) as connection:
        return connection.recv(200).decode()


async def fetch(host: str, port: int) -> str:
    return await asyncio.to_thread(fetch_from_host, host, port)


def udp_echo(host: str, port: int) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.sendto(b"ping", (host, port))
        return client.recvfrom(100)[0]


def run(scenario: Any) -> None:
    asyncio.run(scenario)


# -- awsvpc ------------------------------------------------------------------------------------------


def test_an_awsvpc_sandbox_is_a_namespace_on_the_bridge(net_settings: Settings) -> None:
    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        spec = awsvpc_spec(net_settings, 1)
        assert spec.network is not None
        started = time.perf_counter()
        sandbox = await network.create_sandbox(spec)
        elapsed = time.perf_counter() - started
        assert sandbox.netns_path == f"/run/netns/{net_settings.bridge}-{task_id(1)}"
        assert Path(sandbox.netns_path).exists() and sandbox.host_veth == veth_name(net_settings.bridge, task_id(1))
        assert len(sandbox.host_veth) == 15
        assert (sandbox.ipv4, sandbox.mac_address) == (spec.network.ipv4, spec.network.mac_address)
        inside = subprocess.run(
            ["ip", "-n", f"{net_settings.bridge}-{task_id(1)}", "-o", "-4", "addr", "show", "eth0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"{spec.network.ipv4}/20" in inside
        link = subprocess.run(
            ["ip", "-n", f"{net_settings.bridge}-{task_id(1)}", "link", "show", "eth0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert spec.network.mac_address in link
        routes = subprocess.run(
            ["ip", "-n", f"{net_settings.bridge}-{task_id(1)}", "route"], capture_output=True, text=True, check=True
        ).stdout
        assert f"default via {spec.network.gateway}" in routes
        assert f"{METADATA_ADDRESS} via {spec.network.gateway}" in routes
        hosts = sandbox.hosts_file.read_text()
        assert "127.0.0.1\tlocalhost" in hosts
        assert f"{spec.network.ipv4}\t{spec.hostname} {spec.hostname.split('.')[0]}" in hosts  # type: ignore[union-attr]
        assert "10.9.9.9\tdb.local" in hosts
        assert (
            sandbox.resolv_file.read_text() == f"nameserver {dns_address(net_settings.vpc_cidr)}\nsearch ec2.internal\n"
        )
        assert sandbox.hostname_file.read_text() == f"{spec.hostname}\n"
        assert network.sandbox(task_id(1)) == sandbox
        assert await network.create_sandbox(spec) == sandbox  # idempotent
        assert elapsed < 1.0, f"sandbox creation took {elapsed:.3f}s"
        await network.destroy_sandbox(task_id(1))
        await network.destroy_sandbox(task_id(1))  # nothing there: fine
        assert network.sandbox(task_id(1)) is None and not Path(sandbox.netns_path).exists()
        await network.close()

    run(scenario())


def test_the_task_address_answers_from_the_host_and_containers_share_localhost(net_settings: Settings) -> None:
    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        sandbox = await network.create_sandbox(awsvpc_spec(net_settings, 2))
        task = InTask(sandbox)
        try:
            port = 8000
            ready(task.start(SERVE_TCP.format(host="0.0.0.0", port=port)))
            assert sandbox.ipv4 is not None
            assert fetch_from_host(sandbox.ipv4, port).startswith(f"hello from {sandbox.ipv4}")
            # A second "container" of the same task reaches the first over localhost (awsvpc, §2.5).
            assert task.run(FETCH_TCP.format(host="127.0.0.1", port=port)) == "hello from 127.0.0.1 to 127.0.0.1"
            rx, tx = await asyncio.to_thread(wait_for, lambda: network.counters(task_id(2)))
            assert rx > 0 and tx > 0
        finally:
            task.close()
        await network.destroy_sandbox(task_id(2))
        await network.close()

    run(scenario())


def test_a_removed_sandbox_leaves_no_arp_entry_for_its_address(net_settings: Settings) -> None:
    """The host's ARP entry would send the address's next owner (a new MAC) nothing for as long as it
    stays REACHABLE; the same address held by two sandboxes for a moment (one being removed) likewise."""

    def neighbor(address: str) -> str:
        return subprocess.run(
            ["ip", "neigh", "show", address, "dev", net_settings.bridge], capture_output=True, text=True, check=True
        ).stdout.strip()

    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        sandbox = await network.create_sandbox(awsvpc_spec(net_settings, 7))
        task = InTask(sandbox)
        try:
            ready(task.start(SERVE_TCP.format(host="0.0.0.0", port=8000)))
            assert sandbox.ipv4 is not None
            assert fetch_from_host(sandbox.ipv4, 8000).startswith("hello from")
            assert neighbor(sandbox.ipv4), "talking to the task leaves an ARP entry on the bridge"
        finally:
            task.close()
        await network.destroy_sandbox(task_id(7))
        assert neighbor(sandbox.ipv4) == ""
        await network.close()

    run(scenario())


def test_tasks_in_different_subnets_reach_each_other(net_settings: Settings) -> None:
    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        first = await network.create_sandbox(awsvpc_spec(net_settings, 3, zone=0))
        second = await network.create_sandbox(awsvpc_spec(net_settings, 4, zone=1))
        server, client = InTask(first), InTask(second)
        try:
            ready(server.start(SERVE_TCP.format(host="0.0.0.0", port=9000)))
            answer = client.run(FETCH_TCP.format(host=first.ipv4, port=9000))
            assert answer == f"hello from {first.ipv4} to {second.ipv4}"
        finally:
            server.close()
        for n in (3, 4):
            await network.destroy_sandbox(task_id(n))
        await network.close()

    run(scenario())


def test_the_metadata_address_routes_to_the_host(net_settings: Settings) -> None:
    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        sandbox = await network.create_sandbox(awsvpc_spec(net_settings, 5))
        port = free_port()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((METADATA_ADDRESS, port))
        listener.listen(1)
        listener.settimeout(10)
        task = InTask(sandbox)
        try:
            client = task.start(
                f"import socket; c = socket.create_connection(('{METADATA_ADDRESS}', {port}), timeout=5); "
                "c.sendall(b'GET /v4'); c.recv(10)"
            )
            connection, peer = await asyncio.to_thread(listener.accept)
            with connection:
                assert peer[0] == sandbox.ipv4  # the task's own address: the endpoint can tell tasks apart
                assert connection.recv(10) == b"GET /v4"
                connection.sendall(b"ok")
            assert client.wait(timeout=10) == 0
        finally:
            listener.close()
            task.close()
        await network.destroy_sandbox(task_id(5))
        await network.close()

    run(scenario())


def _query(name: str, qid: int) -> bytes:
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", 1, 1)


def _direct(upstream: str, query: bytes) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(3)
        try:
            probe.sendto(query, (upstream, 53))
            return probe.recv(4096)
        except OSError:
            return None


ASK_UDP = """
import socket, sys
q = bytes.fromhex(sys.argv[1]); s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(8)
s.sendto(q, ('{server}', 53)); print(s.recv(4096).hex())
"""

ASK_TCP = """
import socket, struct, sys
q = bytes.fromhex(sys.argv[1]); c = socket.create_connection(('{server}', 53), timeout=8)
c.sendall(struct.pack('!H', len(q)) + q); n = struct.unpack('!H', c.recv(2))[0]
data = b''
while len(data) < n: data += c.recv(n - len(data))
print(data.hex())
"""


def test_dns_resolves_from_inside_through_the_vpc_resolver(net_settings: Settings) -> None:
    upstreams = host_resolvers()
    if not upstreams:
        pytest.skip("this host's /etc/resolv.conf names no IPv4 resolver")
    names = ("pypi.org", "deb.debian.org", "github.com", "localhost")
    direct = {name: _direct(upstreams[0], _query(name, 7)) for name in names}
    answered = [name for name in names if direct[name] is not None]
    if not answered:
        pytest.skip(f"the host's resolver {upstreams[0]} answers nothing")
    name = next((n for n in answered if struct.unpack("!H", direct[n][6:8])[0] > 0), answered[0])  # type: ignore[index]

    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        sandbox = await network.create_sandbox(awsvpc_spec(net_settings, 6))
        server = dns_address(net_settings.vpc_cidr)
        task = InTask(sandbox)
        query = _query(name, 0x4242)
        for program in (ASK_UDP, ASK_TCP):
            code = program.format(server=server)
            argv = [*task._argv(code), query.hex()]
            result = await asyncio.to_thread(
                subprocess.run, argv, capture_output=True, text=True, timeout=30, check=False
            )
            assert result.returncode == 0, result.stderr
            answer = bytes.fromhex(result.stdout.strip())
            expected = direct[name]
            assert expected is not None
            assert answer[:2] == b"\x42\x42"  # our query id
            assert answer[3] & 0x0F == expected[3] & 0x0F  # same rcode as the host's resolver gives
            assert answer[6:8] == expected[6:8]  # same number of answers
        await network.destroy_sandbox(task_id(6))
        await network.close()

    run(scenario())


# -- bridge mode and published ports ---------------------------------------------------------------


def test_bridge_mode_publishes_static_and_dynamic_host_ports(net_settings: Settings) -> None:
    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        static, dynamic, udp = free_port(), free_port(), free_port()
        spec = bridge_spec(
            net_settings,
            7,
            PortBinding(container_port=80, host_port=static),
            PortBinding(container_port=81, host_port=dynamic),
            PortBinding(container_port=53, host_port=udp, protocol="udp"),
        )
        sandbox = await network.create_sandbox(spec)
        pool = default_layout(net_settings.vpc_cidr).bridge_range
        assert sandbox.ipv4 == str(pool.network_address + 11)
        task = InTask(sandbox)
        try:
            ready(task.start(SERVE_TCP.format(host="0.0.0.0", port=80)))
            ready(task.start(SERVE_TCP.format(host="0.0.0.0", port=81)))
            ready(task.start(SERVE_UDP.format(port=53)))
            # The proxies run on this event loop: the host-side clients run on threads.
            assert (await fetch(net_settings.publish_address, static)).startswith(f"hello from {sandbox.ipv4}")
            assert (await fetch(net_settings.publish_address, dynamic)).startswith(f"hello from {sandbox.ipv4}")
            assert await asyncio.to_thread(udp_echo, net_settings.publish_address, udp) == b"echo:ping"
        finally:
            task.close()
        await network.destroy_sandbox(task_id(7))
        with pytest.raises(ConnectionRefusedError):
            await fetch(net_settings.publish_address, static)
        await network.close()

    run(scenario())


def test_a_host_port_in_use_fails_the_sandbox_with_the_reason(net_settings: Settings) -> None:
    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        holder = socket.socket()
        holder.bind((net_settings.publish_address, 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        try:
            with pytest.raises(SandboxFailed) as failed:
                await network.create_sandbox(bridge_spec(net_settings, 8, PortBinding(80, port)))
        finally:
            holder.close()
        assert failed.value.reason == (
            f"CannotStartContainerError: Bind for {net_settings.publish_address}:{port} failed: port is already "
            f"allocated. Another process on this machine holds tcp port {port}; choose another hostPort, or 0 for a "
            "dynamic one."
        )
        assert network.existing() == []  # nothing half-made is left
        await network.close()

    run(scenario())


def test_proxies_come_back_after_a_restart_and_namespaces_survive(net_settings: Settings) -> None:
    async def scenario() -> None:
        port = free_port()
        first = HostNetwork(net_settings)
        await first.setup()
        sandbox = await first.create_sandbox(bridge_spec(net_settings, 9, PortBinding(80, port)))
        task = InTask(sandbox)
        try:
            ready(task.start(SERVE_TCP.format(host="0.0.0.0", port=80)))
            assert (await fetch(net_settings.publish_address, port)).startswith("hello")
            await first.close()  # the server stops: proxies go, the namespace and its processes stay
            with pytest.raises(ConnectionRefusedError):
                await fetch(net_settings.publish_address, port)
            assert Path(sandbox.netns_path or "").exists()
            second = HostNetwork(net_settings)
            assert second.existing() == [task_id(9)] and second.sandbox(task_id(9)) == sandbox
            await second.setup()
            assert (await fetch(net_settings.publish_address, port)).startswith("hello")
        finally:
            task.close()
        await second.destroy_sandbox(task_id(9))
        await second.close()

    run(scenario())


# -- host and none -------------------------------------------------------------------------------------


def test_host_mode_has_no_namespace_and_the_hosts_files(net_settings: Settings) -> None:
    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        sandbox = await network.create_sandbox(
            SandboxSpec(task_id=task_id(10), network_mode="host", extra_hosts=(("cache", "10.1.1.1"),))
        )
        assert (sandbox.netns_path, sandbox.ipv4, sandbox.host_veth) == (None, None, None)
        assert sandbox.hosts_file.read_text() == Path("/etc/hosts").read_text() + "10.1.1.1\tcache\n"
        assert sandbox.hostname_file.read_text() == socket.gethostname() + "\n"
        await network.destroy_sandbox(task_id(10))
        await network.create_sandbox(SandboxSpec(task_id=task_id(11), network_mode="none"))
        links = subprocess.run(
            ["ip", "-n", f"{net_settings.bridge}-{task_id(11)}", "-o", "link"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
        assert "LOWER_UP" in links or "UP" in links
        await network.destroy_sandbox(task_id(11))
        await network.close()

    run(scenario())


# -- many at once ----------------------------------------------------------------------------------------


def test_fifty_sandboxes_made_and_removed_concurrently_leave_nothing(net_settings: Settings) -> None:
    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        specs = [awsvpc_spec(net_settings, 100 + n, zone=n % 3) for n in range(50)]
        specs += [bridge_spec(net_settings, 200 + n, PortBinding(80, free_port())) for n in range(5)]
        started = time.perf_counter()
        sandboxes = await asyncio.gather(*(network.create_sandbox(s) for s in specs))
        elapsed = time.perf_counter() - started
        assert len({s.netns_path for s in sandboxes}) == len(specs)
        assert sorted(network.existing()) == sorted(s.task_id for s in specs)
        bridge_ports = subprocess.run(
            ["ip", "-o", "link", "show", "master", net_settings.bridge], capture_output=True, text=True, check=True
        ).stdout
        assert len(bridge_ports.splitlines()) == len(specs)
        await asyncio.gather(*(network.destroy_sandbox(s.task_id) for s in specs))
        assert network.existing() == []
        assert not [n for n in netns.names() if n.startswith(net_settings.bridge + "-")]
        await network.close()
        assert elapsed < 30, f"{len(specs)} sandboxes took {elapsed:.2f}s"

    run(scenario())


def test_leftovers_of_a_crash_are_listed_and_removed(net_settings: Settings) -> None:
    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        await network.create_sandbox(awsvpc_spec(net_settings, 12))
        # A crash after the namespace was made but before anything else was written.
        orphan = netns.create(f"{net_settings.bridge}-{task_id(13)}")
        orphan.close()
        assert network.existing() == [task_id(12), task_id(13)]
        for tid in network.existing():
            await network.destroy_sandbox(tid)
        assert network.existing() == []
        await network.close()

    run(scenario())


@pytest.fixture(autouse=True)
def _no_stray_children() -> Iterator[None]:
    yield
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG) != (0, 0):
            pass


def test_outbound_traffic_leaves_with_the_hosts_address(net_settings: Settings, worker_number: int) -> None:
    """NAT (nftables masquerade): a task reaches a network beyond the host as the host, like behind a NAT gateway."""
    if shutil.which("nft") is None:
        missing("nft (Debian package nftables) is not installed: no outbound NAT to test (./dev test installs it)")
    outside, host_side = f"{net_settings.bridge}x-out", f"ox{worker_number}{os.getpid() % 10000}"
    prefix = f"198.18.{worker_number}"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    async def scenario() -> None:
        network = HostNetwork(net_settings)
        await network.setup()
        assert network.nat_reason is None
        sandbox = await network.create_sandbox(awsvpc_spec(net_settings, 14))
        ip("netns", "add", outside)
        try:
            ip("link", "add", host_side, "type", "veth", "peer", "name", "eth0", "netns", outside)
            ip("addr", "add", f"{prefix}.1/24", "dev", host_side)
            ip("link", "set", host_side, "up")
            ip("-n", outside, "addr", "add", f"{prefix}.2/24", "dev", "eth0")
            ip("-n", outside, "link", "set", "eth0", "up")
            ip("-n", outside, "route", "add", "default", "via", f"{prefix}.1")
            far = InTask(SandboxNetwork(outside, f"/run/netns/{outside}", Path(), Path(), Path(), None, None, None))
            task = InTask(sandbox)
            try:
                ready(far.start(SERVE_TCP.format(host="0.0.0.0", port=7000)))
                answer = await asyncio.to_thread(task.run, FETCH_TCP.format(host=f"{prefix}.2", port=7000))
                assert answer == f"hello from {prefix}.2 to {prefix}.1"  # not the task's own address
            finally:
                far.close()
        finally:
            subprocess.run(["ip", "link", "del", host_side], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "del", outside], capture_output=True, check=False)
        await network.destroy_sandbox(task_id(14))
        await network.close()

    run(scenario())


# -- through the API, on the process runtime ---------------------------------------------------------


SYSTEM_PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or "/usr/bin/python3"


def _wait_task(ecs: Any, arn: str, status: str, timeout: float = 40) -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        task: dict[str, Any] = ecs.describe_tasks(tasks=[arn])["tasks"][0]
        return task if task["lastStatus"] == status else None

    found: dict[str, Any] = wait_for(current, timeout=timeout)
    return found


def test_bridge_mode_task_serves_on_its_static_and_dynamic_host_ports(process_ecs: Any) -> None:
    process_ecs.register_container_instance(
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096},
        ]
    )
    static = free_port()
    definition = process_ecs.register_task_definition(
        family="bridge-web",
        networkMode="bridge",
        containerDefinitions=[
            {
                "name": "web",
                "image": "ecslite-test/programs",
                "command": ["serve.py", "8080"],
                "memory": 128,
                "portMappings": [{"containerPort": 8080, "hostPort": static}],
            },
            {
                "name": "api",
                "image": "ecslite-test/programs",
                "command": ["serve.py", "9090"],
                "memory": 128,
                "portMappings": [{"containerPort": 9090}],
            },
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    arn = process_ecs.run_task(taskDefinition=definition, launchType="EC2")["tasks"][0]["taskArn"]
    task = _wait_task(process_ecs, arn, "RUNNING")
    bindings = {c["name"]: c["networkBindings"][0] for c in task["containers"]}
    assert bindings["web"]["hostPort"] == static
    dynamic = bindings["api"]["hostPort"]
    assert 49153 <= dynamic <= 65535
    assert task["attachments"] == []
    for port in (static, dynamic):
        answer = wait_for(lambda port=port: _http_ok(f"http://127.0.0.1:{port}/"), timeout=20)
        assert answer
    process_ecs.stop_task(task=arn)
    _wait_task(process_ecs, arn, "STOPPED")
    with pytest.raises(OSError):
        fetch_from_host("127.0.0.1", static)


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


CHECK_NAMES = """
import socket, sys
me = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); me.connect(('169.254.170.2', 80))
own = me.getsockname()[0]
checks = {{
    'hostname resolves to the task address': socket.gethostbyname(socket.gethostname()) == own,
    'the host name is the ENI private DNS name':
        socket.gethostname() == 'ip-' + own.replace('.', '-') + '.ec2.internal',
    'DNS answers like the host': {name!r} == '' or socket.gethostbyname({name!r}) == {expected!r},
}}
failed = [k for k, ok in checks.items() if not ok]
print(own, failed, flush=True)
sys.exit(1 if failed else 0)
"""


def test_an_awsvpc_container_resolves_names_through_its_files_and_the_vpc_resolver(
    process_ecs: Any, process_endpoint: str
) -> None:
    name, expected = "", ""
    for candidate in ("pypi.org", "deb.debian.org", "github.com"):
        with contextlib.suppress(OSError):
            expected, name = socket.gethostbyname(candidate), candidate
            break
    definition = process_ecs.register_task_definition(
        family="names",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "check",
                "image": "ecslite-test/host",
                "command": [SYSTEM_PYTHON, "-c", CHECK_NAMES.format(name=name, expected=expected)],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    subnet = make_client("ec2", process_endpoint).describe_subnets()["Subnets"][0]["SubnetId"]
    arn = process_ecs.run_task(
        taskDefinition=definition,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}},
    )["tasks"][0]["taskArn"]
    task = _wait_task(process_ecs, arn, "STOPPED")
    assert task["containers"][0].get("exitCode") == 0, task["containers"][0]


def test_a_portless_bridge_holding_our_vpc_space_gives_it_back(net_settings: Settings) -> None:
    stale = f"{net_settings.bridge}s"[:15]
    subnet = default_layout(net_settings.vpc_cidr).subnets[0][1]
    subprocess.run(["ip", "link", "add", stale, "type", "bridge"], check=True)
    try:
        subprocess.run(
            ["ip", "addr", "add", f"{subnet.network_address + 1}/{subnet.prefixlen}", "dev", stale], check=True
        )
        subprocess.run(["ip", "addr", "add", "198.51.100.201/32", "dev", stale], check=True)

        async def scenario() -> None:
            network = HostNetwork(net_settings)
            await network.setup()
            await network.close()

        run(scenario())
        left = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", stale], capture_output=True, text=True).stdout
        assert str(subnet.network_address + 1) not in left and "198.51.100.201" in left  # only our space is taken back
    finally:
        subprocess.run(["ip", "link", "del", stale], check=False)
