"""Port 80 stays free while the agent endpoint serves 169.254.170.2:80, as on ECS (issue 5's note;
spec/ecs.md §9): the endpoint listens on a port of its own and the host network's nftables table
maps 169.254.170.2:80 to it, from the bridge (tasks) and from the host itself (host-network tasks).
A host-network task binds 0.0.0.0:80 and still reads its metadata and credentials; the mapping
goes when the endpoint stops, and the table with the server."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecslite.agent.listener import bind_agent
from ecslite.config import Settings
from ecslite.model.vpc import default_layout, dns_address, gateway
from ecslite.runtime.base import NetworkSpec, SandboxSpec
from ecslite.runtime.process.network import HostNetwork
from ecslite.runtime.select import RuntimeUnavailable, select_runtime
from tests.conftest import make_client, stop_server
from tests.fixtures.capability import missing
from tests.runtime.conftest import Restartable, assert_no_leaks, require_process_runtime, wait_for, worker_vpc
from tests.runtime.test_agent_e2e import ask as ask_at

ACCOUNT = "000000000000"
TRUST = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'  # noqa: E501
ANSWER_FROM_80 = """
import socket
with socket.create_connection(('169.254.170.2', 80), timeout=5) as connection:
    print(connection.recv(200).decode())
"""


# -- what holds which port -------------------------------------------------------------------------


def listening_sockets(pid: int) -> dict[str, tuple[str, int]]:
    """inode -> (address, port) of every TCP socket the process listens on (in the host's namespace)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return {inode: found for inode, found in host_listeners().items() if inode in inodes}


def host_listeners() -> dict[str, tuple[str, int]]:
    """inode -> (address, port) of every listening IPv4 TCP socket in the host's namespace."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] != "0A":  # 0A: LISTEN
            continue
        address, port = fields[1].split(":")
        found[fields[9]] = (socket.inet_ntoa(bytes.fromhex(address)[::-1]), int(port, 16))
    return found


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the process listens on (in the host's namespace)."""
    return set(listening_sockets(pid).values())


def require_port_80_free() -> None:
    """Skip (fail in CI) when another program on this machine holds port 80: the test needs it."""
    probe = socket.socket()
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("0.0.0.0", 80))
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        holders = subprocess.run(["ss", "-Hltnp", "sport = :80"], capture_output=True, text=True).stdout
        missing(f"port 80 is held by another program on this machine: {holders.strip()}")
    finally:
        probe.close()


def agent_mapping(bridge: str) -> tuple[int, int] | None:
    """The ports the server's table sends 169.254.170.2:80 to: (from the bridge, from the host)."""
    listed = subprocess.run(["nft", "list", "table", "ip", f"ecslite-{bridge}"], capture_output=True, text=True)
    bridge_rule = re.search(r"tcp dport 80 dnat to 169\.254\.170\.2:(\d+)", listed.stdout)
    host_rule = re.search(r"tcp dport 80 dnat to 127\.0\.0\.1:(\d+)", listed.stdout)
    if bridge_rule is None or host_rule is None:
        return None
    return int(bridge_rule[1]), int(host_rule[1])


def table_exists(bridge: str) -> bool:
    return subprocess.run(["nft", "list", "table", "ip", f"ecslite-{bridge}"], capture_output=True).returncode == 0


# -- the mapping on a host network driven directly ---------------------------------------------------


@pytest.fixture
def agent_settings(tmp_path: Path, worker_tag: str, worker_number: int) -> Iterator[Settings]:
    require_process_runtime()
    settings = Settings(
        data_dir=tmp_path / "data", bridge=f"ecsl-{worker_tag}p"[:15], vpc_cidr=worker_vpc("host", worker_number)
    )
    yield settings
    assert_no_leaks(settings)
    subprocess.run(["ip", "link", "del", settings.bridge], capture_output=True, check=False)
    subprocess.run(["nft", "delete", "table", "ip", f"ecslite-{settings.bridge}"], capture_output=True, check=False)


def awsvpc(settings: Settings) -> SandboxSpec:
    subnet = default_layout(settings.vpc_cidr).subnets[0][1]
    address = str(subnet.network_address + 5)
    return SandboxSpec(
        task_id=f"{7:032x}",
        network_mode="awsvpc",
        network=NetworkSpec(
            ipv4=address,
            prefix_length=subnet.prefixlen,
            gateway=gateway(str(subnet)),
            mac_address="0a:00:00:00:00:07",
            subnet_cidr=str(subnet),
            dns_servers=(dns_address(settings.vpc_cidr),),
        ),
    )


async def _answer_with_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")[0]
    local = writer.get_extra_info("sockname")
    writer.write(f"{peer} -> {local[0]}:{local[1]}".encode())
    await writer.drain()
    writer.close()


@pytest.fixture
def host_port_80() -> Iterator[None]:
    """The host's port 80 for this test alone, across test workers and slots: a host-network task
    listening on 0.0.0.0:80 would answer what the withdrawn mapping must leave refused."""
    with open("/tmp/ecslite-tests-host-port-80.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.mark.usefixtures("host_port_80")
def test_port_80_of_the_metadata_address_reaches_the_endpoint_port_only_while_mapped(
    agent_settings: Settings,
) -> None:
    spec = awsvpc(agent_settings)
    assert spec.network is not None

    async def scenario() -> None:
        network = HostNetwork(agent_settings)
        await network.setup()
        sockets = bind_agent(agent_settings.bridge, 0)
        port = sockets[0].getsockname()[1]
        servers = [await asyncio.start_server(_answer_with_peer, sock=sock) for sock in sockets]
        try:
            sandbox = await network.create_sandbox(spec)
            assert sandbox.netns_path is not None
            inside = ["nsenter", f"--net={sandbox.netns_path}", sys.executable, "-c", ANSWER_FROM_80]
            await network.serve_agent(port)
            assert agent_mapping(agent_settings.bridge) == (port, port)
            answered = await asyncio.to_thread(subprocess.run, inside, capture_output=True, text=True, timeout=20)
            # The task's own address arrives, at the endpoint's port: who asks is still known.
            assert answered.stdout.strip() == f"{spec.network.ipv4} -> 169.254.170.2:{port}", answered.stderr

            await network.withdraw_agent()
            assert table_exists(agent_settings.bridge) and agent_mapping(agent_settings.bridge) is None
            refused = await asyncio.to_thread(subprocess.run, inside, capture_output=True, text=True, timeout=20)
            assert refused.returncode != 0 and "ConnectionRefusedError" in refused.stderr
        finally:
            for server in servers:
                server.close()
            await network.destroy_sandbox(spec.task_id)
            await network.close()
        assert not table_exists(agent_settings.bridge)

    asyncio.run(scenario())


# -- a whole server ----------------------------------------------------------------------------------


def ask(path: str, timeout: float = 30) -> dict[str, Any]:
    """What agent_probe.py, a host-network task listening on the host's port 80, answers."""
    return ask_at("127.0.0.1", path, timeout, port=80)


def _wait_status(ecs: Any, arn: str, status: str, timeout: float = 40) -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        task: dict[str, Any] = ecs.describe_tasks(tasks=[arn])["tasks"][0]
        return task if task["lastStatus"] in (status, "STOPPED") else None

    task: dict[str, Any] = wait_for(current, timeout=timeout)
    assert task["lastStatus"] == status, task.get("stoppedReason")
    return task


@pytest.mark.usefixtures("host_port_80")
def test_a_host_network_task_binds_port_80_and_reads_its_metadata_and_credentials(
    process_server: Any, process_ecs: Any, process_endpoint: str
) -> None:
    assert not {port for _, port in listening(process_server.pid) if port == 80}
    require_port_80_free()
    process_ecs.register_container_instance(
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096},
        ]
    )
    role = make_client("iam", process_endpoint).create_role(RoleName="agent-host-role", AssumeRolePolicyDocument=TRUST)
    definition = process_ecs.register_task_definition(
        family="agent-host",
        networkMode="host",
        taskRoleArn=role["Role"]["Arn"],
        containerDefinitions=[
            {"name": "probe", "image": "ecslite-test/programs", "command": ["agent_probe.py", "80"], "memory": 128}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    arn = process_ecs.run_task(taskDefinition=definition, launchType="EC2")["tasks"][0]["taskArn"]
    _wait_status(process_ecs, arn, "RUNNING")

    env = ask("/env")  # the task itself answers on the host's port 80
    token = env["ECS_CONTAINER_METADATA_URI_V4"].rsplit("/", 1)[1]
    assert env["ECS_CONTAINER_METADATA_URI_V4"] == f"http://169.254.170.2/v4/{token}"
    credentials = env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"].rsplit("/", 1)[1]
    assert env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] == f"/v2/credentials/{credentials}"
    seen = ask(f"/other?token={token}&credentials={credentials}")
    status, container = seen["metadata"]
    assert status == 200 and container["Name"] == "probe"
    assert [n["NetworkMode"] for n in container["Networks"]] == ["host"]
    status, task = seen["task"]
    assert status == 200 and task["TaskARN"] == arn
    status, issued = seen["credentials"]
    assert status == 200 and issued["AccessKeyId"].startswith("ASIA")
    assert issued["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/agent-host-role"

    process_ecs.stop_task(task=arn)
    _wait_status(process_ecs, arn, "STOPPED", timeout=60)


def test_the_server_listens_off_port_80_and_takes_its_mapping_away_when_it_stops(
    restartable_server: Restartable,
) -> None:
    if shutil.which("ss") is None:
        missing("the ss command (iproute2) is not installed")
    running = restartable_server.start()
    bridge = restartable_server.bridge
    mapping = agent_mapping(bridge)
    assert mapping is not None, "the server's table maps no 169.254.170.2:80"
    port = mapping[0]
    assert mapping == (port, port) and port != 80
    sockets = listening_sockets(running.pid)
    held = set(sockets.values())
    assert {("169.254.170.2", port), ("127.0.0.1", port)} <= held
    assert not {entry for entry in held if entry[1] == 80}

    stop_server(running.server)
    restartable_server.current = None  # stopped cleanly: nothing for the fixture to restart and reset
    assert not table_exists(bridge)
    assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0
    # Nothing of the server's is left listening (by socket, not by port: other servers of a parallel
    # run may take the same port as soon as it is free).
    assert not set(sockets) & set(host_listeners())


def test_without_nftables_the_process_runtime_is_refused_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_process_runtime()
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kw: None if name == "nft" else which(name, *args, **kw))
    with pytest.raises(RuntimeUnavailable) as refused:
        select_runtime(Settings(data_dir=tmp_path, runtime="process"))
    assert str(refused.value) == (
        "The process runtime cannot run here: it needs the nft command (apt-get install nftables): tasks reach "
        "169.254.170.2:80 and the world beyond the host through nftables rules. Use --runtime fake (tasks go "
        "through the whole ECS lifecycle without running processes)."
    )
