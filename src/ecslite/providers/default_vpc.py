"""The base of providers whose resources live in a partition's VPC space (ELBv2, Cloud Map).

Before each of their operations the partition has its default VPC, as a new AWS account has one:
load balancers and private DNS namespaces name it. EC2 and ECS make it the same way, with their
own partition bookkeeping (``providers/ec2/common.py``, ``providers/ecs/common.py``).
"""

from __future__ import annotations

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.providers.base import RequestContext
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database


class DefaultVpcProvider:
    """Holds the store, the clock and the settings; every operation mixin of such a provider builds on it."""

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings

    def now(self) -> float:
        return round(self.clock.now(), 3)

    def prepare(self, ctx: RequestContext) -> None:
        """Run before every operation: the partition's default VPC exists (made in its own transaction)."""
        vpc_store.ensure_default(self.db, ctx.account, ctx.region, self.settings.vpc_cidr, self.now())
