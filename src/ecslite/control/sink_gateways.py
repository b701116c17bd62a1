"""Tells the export sink which subnet gateways to serve (ecslite.telemetry.sink; spec/otel-demo.md §4.1).

Every subnet of every account and region shares the server's one bridge (model.vpc), and a task
reaches the host at its subnet's gateway (base + 1). So the sink serves the gateway of each subnet
in the store: a subnet made with CreateSubnet is served once its transaction commits, and its
gateway is let go when DeleteSubnet (or a reset) commits. Subnets sharing a CIDR share one gateway,
which stays while any of them is left.

The store's change feed only says when to look again (``db.changed("subnet", …)`` in store.vpc,
``"*"`` for a reset); the set is always read whole from the store, so a missed or repeated
announcement changes nothing, and a restarted server serves the subnets it finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ecslite.model.vpc import gateway
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Change, Database

RESET_KIND = "*"  # what Database.reset announces


class GatewaySink(Protocol):
    def serve_gateways(self, addresses: Sequence[str]) -> None: ...


def subnet_gateways(db: Database) -> tuple[str, ...]:
    """The gateway of every subnet in the store, each once, in address order."""
    found = {gateway(cidr) for cidr in vpc_store.subnet_cidrs_on_host(db)}
    return tuple(sorted(found, key=lambda address: tuple(int(part) for part in address.split("."))))


class SinkGatewaysFeed:
    """A server component: keeps the sink's subnet gateways in step with the subnet rows."""

    name = "sink-gateways"

    def __init__(self, db: Database, sink: GatewaySink) -> None:
        self.db = db
        self.sink = sink
        db.subscribe(self._on_changes)

    async def start(self) -> None:
        self.refresh()

    async def stop(self) -> None:
        return None

    def refresh(self) -> None:
        self.sink.serve_gateways(subnet_gateways(self.db))

    def _on_changes(self, changes: Sequence[Change]) -> None:
        if any(change.kind in (vpc_store.SUBNET_KIND, RESET_KIND) for change in changes):
            self.refresh()
