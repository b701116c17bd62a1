"""Capacity provider rows: one per (account, region, name), ASG-backed providers only.

FARGATE and FARGATE_SPOT exist in every partition and are never stored. A deleted provider
stays as an INACTIVE row (DescribeCapacityProviders shows it by name for a while) until its name
is reused, which replaces the row in place.
"""

from __future__ import annotations

from typing import Any

from ecslite.store.db import Database, dumps, loads

KIND = "capacity-provider"


def get(db: Database, account: str, region: str, name: str) -> dict[str, Any] | None:
    row = db.query_one(
        "SELECT doc FROM capacity_providers WHERE account=? AND region=? AND name=?", (account, region, name)
    )
    return loads(row["doc"]) if row else None


def put(db: Database, account: str, region: str, doc: dict[str, Any]) -> None:
    """Insert or replace a provider; a replaced row keeps its creation order."""
    db.execute(
        """INSERT INTO capacity_providers (account, region, name, arn, status, doc) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (account, region, name) DO UPDATE SET arn=excluded.arn, status=excluded.status,
           doc=excluded.doc""",
        (account, region, doc["name"], doc["capacityProviderArn"], doc["status"], dumps(doc)),
    )
    db.changed(KIND, doc["capacityProviderArn"])


def all_live(db: Database, account: str, region: str) -> list[tuple[int, dict[str, Any]]]:
    """``(rid, doc)`` of the providers that are not INACTIVE, in creation order (at most ~20)."""
    rows = db.query(
        """SELECT rid, doc FROM capacity_providers WHERE account=? AND region=? AND status != 'INACTIVE'
           ORDER BY rid""",
        (account, region),
    )
    return [(int(r["rid"]), loads(r["doc"])) for r in rows]


def count_live(db: Database, account: str, region: str) -> int:
    row = db.query_one(
        "SELECT COUNT(*) AS n FROM capacity_providers WHERE account=? AND region=? AND status != 'INACTIVE'",
        (account, region),
    )
    return int(row["n"]) if row else 0


def name_using_group(db: Database, account: str, region: str, group_arn: str) -> str | None:
    """The live provider already backed by the Auto Scaling group ``group_arn``, if any."""
    row = db.query_one(
        """SELECT name FROM capacity_providers WHERE account=? AND region=? AND status != 'INACTIVE'
           AND json_extract(doc, '$.autoScalingGroupProvider.autoScalingGroupArn') = ?""",
        (account, region, group_arn),
    )
    return str(row["name"]) if row else None
