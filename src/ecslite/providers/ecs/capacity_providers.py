"""Capacity providers (spec/ecs.md §5.6): FARGATE and FARGATE_SPOT built in, ASG providers stored."""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import RequestContext
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import InvalidParameterException
from ecslite.store.db import Database

BUILT_IN = ("FARGATE", "FARGATE_SPOT")


def check_cluster_capacity(
    db: Database, ctx: RequestContext, providers: list[str], strategy: list[dict[str, Any]]
) -> None:
    """A cluster's provider list and default strategy must name existing providers, consistently."""
    for name in providers:
        if name in BUILT_IN:
            continue
        row = db.query_one(
            "SELECT status FROM capacity_providers WHERE account=? AND region=? AND (name=? OR arn=?)",
            (ctx.account, ctx.region, name, name),
        )
        if row is None or row["status"] != "ACTIVE":
            raise InvalidParameterException(f"The specified capacity provider {name} is not in an ACTIVE state.")
    for item in strategy:
        if item["capacityProvider"] not in providers:
            raise InvalidParameterException(
                "The specified capacity provider strategy cannot contain a capacity provider that is not "
                f"associated with the cluster. Associate {item['capacityProvider']} first."
            )


class CapacityProviderOps(EcsBase):
    pass
