"""Cluster rows: one per (account, region, name); a deleted cluster stays as INACTIVE."""

from __future__ import annotations

from typing import Any

from ecslite.store.db import Database, dumps, loads

KIND = "cluster"


def get(db: Database, account: str, region: str, name: str) -> dict[str, Any] | None:
    row = db.query_one("SELECT doc FROM clusters WHERE account=? AND region=? AND name=?", (account, region, name))
    return loads(row["doc"]) if row else None


def put(db: Database, account: str, region: str, doc: dict[str, Any]) -> None:
    """Insert or replace a cluster (keeps its creation order when it already exists)."""
    db.execute(
        """INSERT INTO clusters (account, region, name, arn, status, doc) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (account, region, name) DO UPDATE SET arn=excluded.arn, status=excluded.status,
           doc=excluded.doc""",
        (account, region, doc["clusterName"], doc["clusterArn"], doc["status"], dumps(doc)),
    )
    db.changed(KIND, doc["clusterArn"])


def list_page(db: Database, account: str, region: str, after: int | None, limit: int) -> list[tuple[int, str]]:
    """``(rid, arn)`` of ACTIVE/PROVISIONING clusters in creation order, after ``after``."""
    rows = db.query(
        """SELECT rid, arn FROM clusters WHERE account=? AND region=? AND status != 'INACTIVE' AND rid > ?
           ORDER BY rid LIMIT ?""",
        (account, region, after or 0, limit),
    )
    return [(r["rid"], r["arn"]) for r in rows]


def all_live(db: Database, account: str, region: str) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT doc FROM clusters WHERE account=? AND region=? AND status != 'INACTIVE' ORDER BY rid",
        (account, region),
    )
    return [loads(r["doc"]) for r in rows]


def counts(db: Database, account: str, region: str, name: str) -> dict[str, int]:
    """The live counters DescribeClusters shows, computed from the rows they count."""
    tasks = db.query(
        """SELECT last_status, launch_type, COUNT(*) AS n FROM tasks
           WHERE account=? AND region=? AND cluster=? AND last_status != 'STOPPED'
           GROUP BY last_status, launch_type""",
        (account, region, name),
    )
    services = db.query(
        """SELECT status, json_extract(doc, '$.launchType') AS lt, COUNT(*) AS n FROM services
           WHERE account=? AND region=? AND cluster=? AND status IN ('ACTIVE', 'DRAINING')
           GROUP BY status, lt""",
        (account, region, name),
    )
    instances = db.query_one(
        """SELECT COUNT(*) AS n FROM container_instances
           WHERE account=? AND region=? AND cluster=? AND status IN ('ACTIVE', 'DRAINING')""",
        (account, region, name),
    )
    out = {
        "running": 0,
        "pending": 0,
        "runningEC2": 0,
        "runningFargate": 0,
        "pendingEC2": 0,
        "pendingFargate": 0,
        "activeServices": 0,
        "activeEC2Services": 0,
        "activeFargateServices": 0,
        "drainingEC2Services": 0,
        "drainingFargateServices": 0,
        "instances": int(instances["n"]) if instances else 0,
    }
    for row in tasks:
        fargate = row["launch_type"] == "FARGATE"
        if row["last_status"] == "RUNNING":
            state = "running"
        elif row["last_status"] in ("PROVISIONING", "PENDING", "ACTIVATING"):
            state = "pending"
        else:
            continue  # stopping tasks count as neither
        out[state] += row["n"]
        out[f"{state}{'Fargate' if fargate else 'EC2'}"] += row["n"]
    for row in services:
        fargate = row["lt"] == "FARGATE"
        if row["status"] == "ACTIVE":
            out["activeServices"] += row["n"]
            out[f"active{'Fargate' if fargate else 'EC2'}Services"] += row["n"]
        else:
            out[f"draining{'Fargate' if fargate else 'EC2'}Services"] += row["n"]
    return out
