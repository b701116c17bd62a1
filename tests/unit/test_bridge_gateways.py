"""control.bridge_gateways: which subnets keep their gateway and which VPCs their resolver on the
bridge, and when the host is told."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from ecslite.control.bridge_gateways import BridgeGatewaysFeed, kept_resolvers, kept_subnets
from ecslite.model.vpc_docs import subnet_doc, vpc_doc
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database

ACCOUNT, REGION, CIDR = "000000000000", "us-east-1", "10.90.0.0/16"
DEFAULT_BLOCKS = ["10.90.0.0/20", "10.90.16.0/20", "10.90.240.0/20", "10.90.32.0/20"]
DEFAULT_RESOLVERS = ["10.90.0.2", "10.90.240.2"]  # the default VPC's and the bridge-mode range's


class Host:
    def __init__(self) -> None:
        self.told: list[list[str]] = []
        self.resolvers_told: list[list[str]] = []

    async def keep_gateways(self, subnets: Iterable[str]) -> list[str]:
        self.told.append(sorted(subnets))
        return []

    async def keep_resolvers(self, addresses: Iterable[str]) -> list[str]:
        self.resolvers_told.append(sorted(addresses))
        return []


def add_subnet(db: Database, vpc_id: str, cidr: str, subnet_id: str) -> None:
    doc = subnet_doc(ACCOUNT, REGION, subnet_id, vpc_id, cidr, f"{REGION}a", default=False, tags={})
    with db.transaction():
        vpc_store.put_subnet(db, ACCOUNT, REGION, doc)


def delete_subnet(db: Database, subnet_id: str) -> None:
    with db.transaction():
        vpc_store.delete_subnet(db, ACCOUNT, REGION, subnet_id)


def add_vpc(db: Database, vpc_id: str, cidr: str, account: str = ACCOUNT) -> None:
    with db.transaction():
        vpc_store.put_vpc(db, account, REGION, vpc_doc(account, REGION, vpc_id, cidr, default=False, tags={}))


def delete_vpc(db: Database, vpc_id: str, account: str = ACCOUNT) -> None:
    with db.transaction():
        vpc_store.delete_vpc(db, account, REGION, vpc_id)


def test_kept_subnets_are_the_stores_and_the_default_vpcs_blocks_even_before_it_exists() -> None:
    db = Database(None)
    assert kept_subnets(db, CIDR) == sorted(DEFAULT_BLOCKS)
    vpc_store.ensure_default(db, ACCOUNT, REGION, CIDR, 1.0)
    add_subnet(db, "vpc-1", "10.90.64.0/24", "subnet-a")
    add_subnet(db, "vpc-2", "10.90.64.0/24", "subnet-b")
    assert kept_subnets(db, CIDR) == sorted([*DEFAULT_BLOCKS, "10.90.64.0/24"])
    delete_subnet(db, "subnet-a")
    assert "10.90.64.0/24" in kept_subnets(db, CIDR)
    delete_subnet(db, "subnet-b")
    assert kept_subnets(db, CIDR) == sorted(DEFAULT_BLOCKS)


def test_the_host_is_told_at_start_and_after_each_subnet_change_or_reset() -> None:
    async def run() -> list[list[str]]:
        db = Database(None)
        host = Host()
        feed = BridgeGatewaysFeed(db, host, CIDR)
        add_subnet(db, "vpc-1", "10.90.64.0/24", "subnet-a")  # before start: nobody told yet
        await feed.start()
        delete_subnet(db, "subnet-a")
        await settle()
        with db.transaction():
            db.changed("task", "arn")  # not a subnet: nothing to tell
        await settle()
        add_subnet(db, "vpc-1", "10.90.65.0/24", "subnet-c")
        await settle()
        db.reset()
        await settle()
        await feed.stop()
        add_subnet(db, "vpc-1", "10.90.66.0/24", "subnet-d")  # stopped: not told
        await settle()
        return host.told

    told = asyncio.run(run())
    defaults = sorted(DEFAULT_BLOCKS)
    assert told == [
        sorted([*defaults, "10.90.64.0/24"]),
        defaults,
        sorted([*defaults, "10.90.65.0/24"]),
        defaults,
    ]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_kept_resolvers_are_the_stores_vpcs_and_the_defaults_while_any_vpc_of_a_cidr_remains() -> None:
    db = Database(None)
    assert kept_resolvers(db, CIDR) == DEFAULT_RESOLVERS
    add_vpc(db, "vpc-1", "10.91.0.0/16")
    add_vpc(db, "vpc-2", "10.91.0.0/16", account="111111111111")  # another partition, same bridge
    add_vpc(db, "vpc-3", "10.92.16.0/20")
    assert kept_resolvers(db, CIDR) == sorted([*DEFAULT_RESOLVERS, "10.91.0.2", "10.92.16.2"])
    delete_vpc(db, "vpc-1")
    delete_vpc(db, "vpc-3")
    assert kept_resolvers(db, CIDR) == sorted([*DEFAULT_RESOLVERS, "10.91.0.2"])
    delete_vpc(db, "vpc-2", account="111111111111")
    assert kept_resolvers(db, CIDR) == DEFAULT_RESOLVERS


def test_the_host_is_told_the_resolvers_at_start_and_after_each_vpc_change() -> None:
    async def run() -> list[list[str]]:
        db = Database(None)
        host = Host()
        feed = BridgeGatewaysFeed(db, host, CIDR)
        add_vpc(db, "vpc-1", "10.91.0.0/16")
        await feed.start()
        delete_vpc(db, "vpc-1")
        await settle()
        await feed.stop()
        return host.resolvers_told

    assert asyncio.run(run()) == [sorted([*DEFAULT_RESOLVERS, "10.91.0.2"]), DEFAULT_RESOLVERS]
