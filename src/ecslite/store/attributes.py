"""Attributes of ECS resources (spec/ecs.md §5.1): one row per (target, name).

Only container instances carry attributes (target type ``container-instance``); ``target_id`` is
the instance ARN. These rows are the one set that PutAttributes/ListAttributes, placement and
DescribeContainerInstances all see: the built-in ``ecs.*`` attributes written at registration and
the custom ones. A change is announced as a change of the instance, since placement reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecslite.store.db import Database

INSTANCE_KIND = "container-instance"


@dataclass(frozen=True, slots=True)
class AttributeRow:
    rid: int
    target_id: str
    name: str
    value: str | None


def of_target(db: Database, target_type: str, target_id: str) -> dict[str, str | None]:
    rows = db.query(
        "SELECT name, value FROM attributes WHERE target_type=? AND target_id=? ORDER BY rid", (target_type, target_id)
    )
    return {str(r["name"]): r["value"] for r in rows}


def put(
    db: Database,
    account: str,
    region: str,
    cluster: str,
    target_type: str,
    target_id: str,
    name: str,
    value: str | None,
) -> None:
    db.execute(
        """INSERT INTO attributes (account, region, cluster, target_type, target_id, name, value)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (account, region, cluster, target_type, target_id, name) DO UPDATE SET value=excluded.value""",
        (account, region, cluster, target_type, target_id, name, value),
    )
    db.changed(INSTANCE_KIND, target_id)


def delete(db: Database, account: str, region: str, cluster: str, target_type: str, target_id: str, name: str) -> None:
    db.execute(
        """DELETE FROM attributes WHERE account=? AND region=? AND cluster=? AND target_type=? AND target_id=?
           AND name=?""",
        (account, region, cluster, target_type, target_id, name),
    )
    db.changed(INSTANCE_KIND, target_id)


def page(
    db: Database,
    account: str,
    region: str,
    cluster: str,
    target_type: str,
    name: str | None,
    value: str | None,
    after: int | None,
    limit: int,
) -> list[AttributeRow]:
    """Attributes of the cluster's registered (not INACTIVE) instances, in creation order after ``after``."""
    filters, args = "", [account, region, cluster, target_type, after or 0]
    if name is not None:
        filters += " AND a.name=?"
        args.append(name)
    if value is not None:
        filters += " AND a.value=?"
        args.append(value)
    rows = db.query(
        f"""SELECT a.rid, a.target_id, a.name, a.value FROM attributes a
            JOIN container_instances ci ON ci.arn = a.target_id AND ci.status != 'INACTIVE'
            WHERE a.account=? AND a.region=? AND a.cluster=? AND a.target_type=? AND a.rid > ?{filters}
            ORDER BY a.rid LIMIT ?""",
        [*args, limit],
    )
    return [AttributeRow(int(r["rid"]), str(r["target_id"]), str(r["name"]), r["value"]) for r in rows]
