"""Takes a deleted subnet's gateway and a deleted VPC's resolver off the host bridge (process
runtime; runtime.process.network).

A task puts its subnet's gateway (base + 1, with the subnet's prefix) and its VPC's resolver
(VPC base + 2, ``/32``) on the bridge every subnet shares; nothing takes them off when the task
stops, since other tasks of the subnet may follow. Once DeleteSubnet, DeleteVpc (or a reset)
commits, this component tells the host network which subnets and VPC resolvers remain, and it
removes every other gateway and resolver. Subnets (VPCs) sharing a CIDR share one gateway
(resolver), which stays while any of them is left; the default VPC's subnets, its resolver and the
bridge-mode range's keep theirs always (the default VPC comes back with the same CIDRs in every
partition, and bridge-mode tasks use the range without any subnet or VPC row).

The store's change feed only says when to look again (``db.changed("subnet" or "vpc", …)``, ``"*"``
for a reset); the rows are read whole each time, so a missed or repeated announcement changes
nothing, and a server that starts removes what a subnet or VPC deleted while it was down left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from ecslite.model.vpc import default_layout, dns_address
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Change, Database

log = logging.getLogger(__name__)
RESET_KIND = "*"  # what Database.reset announces
WATCHED = (vpc_store.SUBNET_KIND, vpc_store.VPC_KIND, RESET_KIND)


class GatewayHost(Protocol):
    async def keep_gateways(self, subnets: Iterable[str]) -> list[str]: ...

    async def keep_resolvers(self, addresses: Iterable[str]) -> list[str]: ...


def kept_subnets(db: Database, vpc_cidr: str) -> list[str]:
    """Every subnet CIDR whose gateway stays: the store's and the default VPC's blocks."""
    layout = default_layout(vpc_cidr)
    defaults = [str(cidr) for _, cidr in layout.subnets] + [str(layout.bridge_range)]
    return sorted({*vpc_store.subnet_cidrs_on_host(db), *defaults})


def kept_resolvers(db: Database, vpc_cidr: str) -> list[str]:
    """Every resolver address that stays: the store's VPCs', the default VPC's and the bridge-mode range's."""
    layout = default_layout(vpc_cidr)
    cidrs = {*vpc_store.vpc_cidrs_on_host(db), vpc_cidr, str(layout.bridge_range)}
    return sorted({dns_address(cidr) for cidr in cidrs})


class BridgeGatewaysFeed:
    """A server component: the bridge holds gateways only of subnets that exist, resolvers only of VPCs."""

    name = "bridge-gateways"

    def __init__(self, db: Database, host: GatewayHost, vpc_cidr: str) -> None:
        self.db = db
        self.host = host
        self.vpc_cidr = vpc_cidr
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: asyncio.Task[None] | None = None
        self._again = False
        db.subscribe(self._on_changes)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.refresh()

    async def stop(self) -> None:
        self._loop = None
        if self._running is not None:
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running
            self._running = None

    async def refresh(self) -> None:
        # Read and handed over with no await between: see HostNetwork.keep_gateways.
        removed = await self.host.keep_gateways(kept_subnets(self.db, self.vpc_cidr))
        if removed:
            log.info("deleted subnets' gateways taken off the bridge", extra={"gateways": ", ".join(removed)})
        removed = await self.host.keep_resolvers(kept_resolvers(self.db, self.vpc_cidr))
        if removed:
            log.info("deleted VPCs' resolvers taken off the bridge", extra={"resolvers": ", ".join(removed)})

    def _on_changes(self, changes: Sequence[Change]) -> None:
        if self._loop is None or not any(change.kind in WATCHED for change in changes):
            return
        self._loop.call_soon_threadsafe(self._schedule)

    def _schedule(self) -> None:
        if self._loop is None:
            return
        if self._running is not None and not self._running.done():
            self._again = True
            return
        self._running = self._loop.create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while True:
            self._again = False
            try:
                await self.refresh()
            except OSError as error:
                # The next subnet change, or the next start, tries again.
                log.error("gateways or resolvers could not be taken off the bridge", extra={"error": str(error)})
            if not self._again:
                return
