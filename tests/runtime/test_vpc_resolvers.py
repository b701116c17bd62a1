"""A VPC's resolver address on the host bridge, for real (process runtime; control.bridge_gateways,
runtime.process.resolvers, HostNetwork.keep_resolvers): a task in a VPC made with CreateVpc puts the
VPC's resolver (base + 2) on the bridge, and DeleteVpc takes it off once no VPC of that CIDR is left;
the record of which ``/32`` addresses are resolvers outlives a server, and a load balancer's ``/32``
is never taken for one."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecslite.config import Settings
from ecslite.model.vpc import dns_address
from ecslite.runtime.process.network import HostNetwork
from tests.conftest import make_client
from tests.runtime.conftest import ProcessServer, wait_for
from tests.runtime.test_network import awsvpc_spec, host_network_settings
from tests.runtime.test_subnet_gateways import bridge_addresses, delete_when_free, run_in, stays
from tests.runtime.test_tasks_e2e import program, register, stop


def test_a_deleted_vpcs_resolver_leaves_the_bridge_once_no_vpc_of_its_cidr_remains(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    bridge = process_server.settings.bridge
    ec2 = make_client("ec2", process_endpoint)
    server_vpc = ipaddress.ip_network(process_server.settings.vpc_cidr)
    # A block the default VPC's subnets and bridge-mode range leave free (its /20s 0-2 and 15).
    cidr = ipaddress.ip_network(f"{server_vpc.network_address + 160 * 256}/20")
    first = ec2.create_vpc(CidrBlock=str(cidr))["Vpc"]["VpcId"]
    second = ec2.create_vpc(CidrBlock=str(cidr))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=first, CidrBlock=f"{cidr.network_address}/24")["Subnet"]["SubnetId"]
    resolver = f"{cidr.network_address + 2}/32"
    default_resolver = f"{dns_address(str(server_vpc))}/32"
    assert resolver not in bridge_addresses(bridge)

    default_subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]

    definition = register(process_ecs, "resolvers", program("wait", "exit_after.py", "600", "0", stopTimeout=2))
    task = run_in(process_ecs, definition, subnet)
    stop(process_ecs, run_in(process_ecs, definition, default_subnet["SubnetId"]))
    assert {resolver, default_resolver} <= set(bridge_addresses(bridge))
    stop(process_ecs, task)
    delete_when_free(ec2, subnet)
    ec2.delete_vpc(VpcId=first)
    # The other VPC of the same CIDR answers at the same address: it stays.
    stays(bridge, resolver)
    ec2.delete_vpc(VpcId=second)
    wait_for(lambda: resolver not in bridge_addresses(bridge))
    # The default VPC's resolver stays, though no task of it is left.
    stays(bridge, default_resolver)


@pytest.fixture
def resolver_settings(tmp_path: Path, worker_tag: str, worker_number: int) -> Iterator[Settings]:
    yield from host_network_settings(tmp_path, f"ecsl-{worker_tag}v", worker_number)


def test_a_resolver_a_sandbox_names_stays_and_one_recorded_before_a_restart_goes(resolver_settings: Settings) -> None:
    spec = awsvpc_spec(resolver_settings, 1)
    resolver = spec.network.dns_servers[0] if spec.network else ""
    # A load balancer's private address: /32 on the bridge too, and shaped like a VPC's resolver.
    balancer = str(ipaddress.ip_network(resolver_settings.vpc_cidr).network_address + 200 * 256 + 2)

    async def before_restart() -> None:
        network = HostNetwork(resolver_settings)
        try:
            await network.setup()
            await network.create_sandbox(spec)
            await network.add_host_address(balancer)
            assert resolver in network.dns.listeners
            # No VPC wants it any more, but the sandbox still names it.
            assert await network.keep_resolvers([]) == []
        finally:
            await network.close()  # the sandbox stays, and the bridge with it

    async def after_restart() -> tuple[list[str], list[str], bool]:
        network = HostNetwork(resolver_settings)
        try:
            await network.setup()
            assert resolver in network.dns.listeners  # answering again for the surviving sandbox
            await network.destroy_sandbox(spec.task_id)
            removed = await network.keep_resolvers([])
            return removed, bridge_addresses(resolver_settings.bridge), resolver in network.dns.listeners
        finally:
            await network.remove_host_address(balancer)
            await network.close()

    asyncio.run(before_restart())
    assert {f"{resolver}/32", f"{balancer}/32"} <= set(bridge_addresses(resolver_settings.bridge))
    removed, left, listening = asyncio.run(after_restart())
    assert removed == [resolver]
    assert f"{resolver}/32" not in left
    assert f"{balancer}/32" in left
    assert not listening
