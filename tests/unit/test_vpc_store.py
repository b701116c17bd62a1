"""The virtual VPC's store (store.vpc) and the controller's use of it (control.task_network), in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecslite.clock import FakeClock
from ecslite.config import Settings
from ecslite.model.vpc import new_mac
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.ec2.provider import Ec2Provider
from ecslite.runtime.base import PortBinding, SandboxInfo, SandboxSpec
from ecslite.runtime.process.netlink import host_routes
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database
from tests.unit.test_task_harness import Harness, container, definition, run, started

ACCOUNT, REGION, CIDR = "000000000000", "us-east-1", "172.31.0.0/16"
DEFAULTS_VPC = vpc_store.default_ids(ACCOUNT, REGION, CIDR).vpc


def request(n: int, pool: str = "172.31.0.0/20", task: str | None = None) -> vpc_store.InterfaceRequest:
    return vpc_store.InterfaceRequest(
        account=ACCOUNT,
        region=REGION,
        id=f"eni-{n:017x}",
        kind="eni",
        pool=pool,
        mac=new_mac(),
        task_arn=task or f"t{n}",
    )


def test_default_vpc_is_made_once_with_stable_ids() -> None:
    db = Database(None)
    assert vpc_store.ensure_default(db, ACCOUNT, REGION, CIDR, 1.0)
    assert not vpc_store.ensure_default(db, ACCOUNT, REGION, CIDR, 2.0)
    ids = vpc_store.default_ids(ACCOUNT, REGION, CIDR)
    subnets = [doc for _, doc in vpc_store.subnets(db, ACCOUNT, REGION)]
    assert [s["SubnetId"] for s in subnets] == list(ids.subnets)
    assert [s["AvailabilityZone"] for s in subnets] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert all(s["DefaultForAz"] and s["VpcId"] == ids.vpc for s in subnets)
    group = vpc_store.group_by_name(db, ACCOUNT, REGION, ids.vpc, "default")
    assert group is not None and group["GroupId"] == ids.group
    db.reset()
    assert vpc_store.ensure_default(db, ACCOUNT, REGION, CIDR, 3.0)
    assert [d["SubnetId"] for _, d in vpc_store.subnets(db, ACCOUNT, REGION)] == list(ids.subnets)


def test_a_deleted_default_vpc_stays_deleted() -> None:
    db = Database(None)
    vpc_store.ensure_default(db, ACCOUNT, REGION, CIDR, 1.0)
    with db.transaction():
        for _, subnet in vpc_store.subnets(db, ACCOUNT, REGION):
            vpc_store.delete_subnet(db, ACCOUNT, REGION, subnet["SubnetId"])
        vpc_store.delete_vpc(db, ACCOUNT, REGION, vpc_store.default_ids(ACCOUNT, REGION, CIDR).vpc)
    assert not vpc_store.ensure_default(db, ACCOUNT, REGION, CIDR, 2.0)
    assert vpc_store.vpcs(db, ACCOUNT, REGION) == []


def test_allocation_is_idempotent_unique_and_freed_by_task() -> None:
    db = Database(None)
    with db.transaction():
        first = vpc_store.allocate(db, request(1))
        again = vpc_store.allocate(db, request(1))
        second = vpc_store.allocate(db, request(2))
    assert (first.address, again.address, second.address) == ("172.31.0.4", "172.31.0.4", "172.31.0.5")
    assert (first.gateway, first.prefix_length) == ("172.31.0.1", 20)
    with db.transaction():
        assert vpc_store.release_for_task(db, "t1") == [first.id]
        third = vpc_store.allocate(db, request(3))
    assert third.address == "172.31.0.4"


def test_partitions_sharing_a_cidr_share_its_addresses() -> None:
    db = Database(None)
    with db.transaction():
        ours = vpc_store.allocate(db, request(1))
        theirs = vpc_store.allocate(
            db,
            vpc_store.InterfaceRequest("111111111111", "eu-west-1", "eni-x", "eni", "172.31.0.0/20", new_mac(), "tx"),
        )
    assert ours.address != theirs.address


def test_a_full_pool_is_reported() -> None:
    db = Database(None)
    pool = "10.9.0.0/28"
    with db.transaction():
        for n in range(11):
            vpc_store.allocate(db, request(n, pool))
        with pytest.raises(vpc_store.PoolExhausted):
            vpc_store.allocate(db, request(99, pool))


def test_awsvpc_task_holds_its_eni_until_stopped() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app")), assign_public_ip="ENABLED")
        task = await h.until(arn, "RUNNING")
        (eni,) = vpc_store.for_task(h.db, arn)
        assert eni.id == task["_spec"]["eniId"] and eni.kind == "eni"
        assert eni.subnet_id == h.subnet and eni.address == task["_run"]["network"]["ipv4"]
        assert eni.doc["Association"]["PublicIp"] == eni.address
        assert eni.doc["Groups"] == []  # launched without groups, outside RunTask's defaulting
        network = task["_run"]["network"]
        assert (network["gateway"], network["prefixLength"], network["dnsServers"]) == (
            "172.31.0.1",
            20,
            ["172.31.0.2"],
        )
        assert network["dnsSearch"] == ["ec2.internal"]
        h.stop(arn)
        await h.until(arn, "STOPPED")
        await h.run(1)
        assert vpc_store.for_task(h.db, arn) == []
        await h.controller.stop()

    run(scenario())


def test_bridge_task_gets_an_endpoint_from_the_bridge_range_not_a_subnet() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        specs: list[SandboxSpec] = []
        prepare = h.runtime.prepare_sandbox

        async def recording(spec: SandboxSpec) -> SandboxInfo:
            specs.append(spec)
            return await prepare(spec)

        h.runtime.prepare_sandbox = recording  # type: ignore[method-assign]
        bridge = definition(
            container("web", portMappings=[{"containerPort": 80, "hostPort": 8080}]), network_mode="bridge"
        )
        arn = h.launch(bridge, launch_type="EC2", bridge_pool="172.31.240.0/20", subnet=None)
        task = await h.until(arn, "RUNNING")
        (endpoint,) = vpc_store.for_task(h.db, arn)
        assert (endpoint.kind, endpoint.pool, endpoint.address) == ("bridge", "172.31.240.0/20", "172.31.240.4")
        assert vpc_store.enis(h.db, ACCOUNT, REGION) == []  # not an ENI: DescribeNetworkInterfaces never shows it
        assert task["attachments"] == []
        (spec,) = specs
        assert spec.network is not None and spec.network.ipv4 == "172.31.240.4"
        assert (spec.network.gateway, spec.network.dns_servers) == ("172.31.240.1", ("172.31.240.2",))
        assert spec.port_bindings == (PortBinding(container_port=80, host_port=8080, protocol="tcp"),)
        h.stop(arn)
        await h.until(arn, "STOPPED")
        await h.run(1)
        assert vpc_store.for_task(h.db, arn) == []
        await h.controller.stop()

    run(scenario())


def test_a_task_whose_subnet_vanished_fails_to_start_with_the_reason() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(subnet="subnet-00000000000000000")
        task = await h.until(arn, "STOPPED")
        assert task["stopCode"] == "TaskFailedToStart"
        assert task["stoppedReason"] == (
            "ResourceInitializationError: unable to create the task's network interface: "
            "the subnet subnet-00000000000000000 no longer exists."
        )
        await h.controller.stop()

    run(scenario())


def test_vpc_space_never_takes_over_networks_the_host_routes(tmp_path: Path) -> None:
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "ecslite0\t00001FAC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    )
    assert host_routes(str(table)) == [("eth0", "192.0.2.0/24"), ("ecslite0", "172.31.0.0/16")]
    db = Database(None)
    provider = Ec2Provider(db, FakeClock(), Settings(data_dir=tmp_path), host_routes=lambda: host_routes(str(table)))
    ctx = RequestContext(ACCOUNT, REGION, "r", "ec2", "CreateVpc")
    provider.prepare(ctx)
    with pytest.raises(AwsError) as refused:
        provider.create_vpc(ctx, {"CidrBlock": "192.0.2.0/24"})
    assert (refused.value.code, refused.value.message) == (
        "InvalidVpc.Range",
        "The CIDR '192.0.2.0/24' is invalid. Its resolver address would be 192.0.2.2, but this host already routes "
        "192.0.2.0/24 via eth0, and ecslite puts its VPCs' subnets and resolvers on its own bridge; choose a block "
        "this host does not use.",
    )
    vpc = provider.create_vpc(ctx, {"CidrBlock": "192.0.0.0/16"})["Vpc"]["VpcId"]
    with pytest.raises(AwsError) as conflict:
        provider.create_subnet(ctx, {"VpcId": vpc, "CidrBlock": "192.0.2.0/25"})
    assert conflict.value.code == "InvalidSubnet.Conflict"
    assert provider.create_subnet(ctx, {"VpcId": vpc, "CidrBlock": "192.0.3.0/24"})["Subnet"]["CidrBlock"] == (
        "192.0.3.0/24"
    )
    # The server's own bridge is not "elsewhere": the default VPC's subnets live there.
    assert provider.create_subnet(ctx, {"VpcId": DEFAULTS_VPC, "CidrBlock": "172.31.48.0/20"})["Subnet"]
