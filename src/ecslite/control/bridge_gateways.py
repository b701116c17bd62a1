"""Takes a deleted subnet's gateway off the host bridge (process runtime; runtime.process.network).

A task puts its subnet's gateway (base + 1, with the subnet's prefix) on the bridge every subnet
shares; nothing takes it off when the task stops, since other tasks of the subnet may follow. Once
DeleteSubnet (or a reset) commits, this component tells the host network which subnets remain, and
it removes every other gateway. Subnets sharing a CIDR share one gateway, which stays while any of
them is left; the default VPC's subnets and bridge-mode range keep theirs always (the default
subnets come back with the same CIDRs in every partition, and bridge-mode tasks use the range
without any subnet row).

The store's change feed only says when to look again (``db.changed("subnet", …)``, ``"*"`` for a
reset); the subnets are read whole each time, so a missed or repeated announcement changes nothing,
and a server that starts removes what a subnet deleted while it was down left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from ecslite.model.vpc import default_layout
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Change, Database

log = logging.getLogger(__name__)
RESET_KIND = "*"  # what Database.reset announces


class GatewayHost(Protocol):
    async def keep_gateways(self, subnets: Iterable[str]) -> list[str]: ...


def kept_subnets(db: Database, vpc_cidr: str) -> list[str]:
    """Every subnet CIDR whose gateway stays: the store's and the default VPC's blocks."""
    layout = default_layout(vpc_cidr)
    defaults = [str(cidr) for _, cidr in layout.subnets] + [str(layout.bridge_range)]
    return sorted({*vpc_store.subnet_cidrs_on_host(db), *defaults})


class BridgeGatewaysFeed:
    """A server component: the bridge holds gateways only of subnets that exist."""

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

    def _on_changes(self, changes: Sequence[Change]) -> None:
        if self._loop is None or not any(change.kind in (vpc_store.SUBNET_KIND, RESET_KIND) for change in changes):
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
                log.error("subnet gateways could not be taken off the bridge", extra={"error": str(error)})
            if not self._again:
                return
