"""Task definition revisions.

Invariants:
- Revision numbers come from a per-family counter (``task_definition_families.last_revision``)
  bumped in the same transaction as the insert, so a number is never reused, not after a crash
  and not after the revision is deleted.
- A row's ``status`` column always equals its document's ``status``.
- A DELETE_IN_PROGRESS row is removed once no live task or service refers to it
  (:func:`remove_unreferenced`); its family's counter stays, so the family continues from there.
"""

from __future__ import annotations

from typing import Any

from ecslite.store import tags as tag_store
from ecslite.store.db import Database, dumps, loads

KIND = "task-definition"


def next_revision(db: Database, account: str, region: str, family: str) -> int:
    """Reserve the next revision of ``family``; must run inside the registering transaction."""
    row = db.execute(
        """INSERT INTO task_definition_families (account, region, family, last_revision) VALUES (?, ?, ?, 1)
           ON CONFLICT (account, region, family) DO UPDATE SET last_revision = last_revision + 1
           RETURNING last_revision""",
        (account, region, family),
    ).fetchone()
    return int(row[0])


def insert(db: Database, account: str, region: str, doc: dict[str, Any]) -> None:
    db.execute(
        """INSERT INTO task_definitions (account, region, family, revision, arn, status, doc)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (
            account,
            region,
            doc["family"],
            doc["revision"],
            doc["taskDefinitionArn"],
            doc["status"],
            dumps(doc),
        ),
    )
    db.changed(KIND, doc["taskDefinitionArn"])


def update(db: Database, account: str, region: str, doc: dict[str, Any]) -> None:
    db.execute(
        "UPDATE task_definitions SET status=?, doc=? WHERE account=? AND region=? AND family=? AND revision=?",
        (doc["status"], dumps(doc), account, region, doc["family"], doc["revision"]),
    )
    db.changed(KIND, doc["taskDefinitionArn"])


def delete(db: Database, account: str, region: str, family: str, revision: int) -> None:
    db.execute(
        "DELETE FROM task_definitions WHERE account=? AND region=? AND family=? AND revision=?",
        (account, region, family, revision),
    )


def get(db: Database, account: str, region: str, family: str, revision: int) -> dict[str, Any] | None:
    row = db.query_one(
        "SELECT doc FROM task_definitions WHERE account=? AND region=? AND family=? AND revision=?",
        (account, region, family, revision),
    )
    return loads(row["doc"]) if row else None


def latest_active(db: Database, account: str, region: str, family: str) -> dict[str, Any] | None:
    row = db.query_one(
        """SELECT doc FROM task_definitions WHERE account=? AND region=? AND family=? AND status='ACTIVE'
           ORDER BY revision DESC LIMIT 1""",
        (account, region, family),
    )
    return loads(row["doc"]) if row else None


def list_page(
    db: Database,
    account: str,
    region: str,
    *,
    status: str,
    family: str | None,
    descending: bool,
    after: tuple[str, int] | None,
    limit: int,
) -> list[tuple[str, int, str]]:
    """``(family, revision, arn)`` of revisions with ``status`` by family then revision, after ``after``."""
    direction, compare = ("DESC", "<") if descending else ("ASC", ">")
    sql = "SELECT family, revision, arn FROM task_definitions WHERE account=? AND region=? AND status=?"
    args: list[Any] = [account, region, status]
    if family is not None:
        sql += " AND family=?"
        args.append(family)
    if after is not None:
        sql += f" AND (family, revision) {compare} (?, ?)"
        args.extend(after)
    sql += f" ORDER BY family {direction}, revision {direction} LIMIT ?"
    args.append(limit)
    return [(r["family"], r["revision"], r["arn"]) for r in db.query(sql, args)]


def family_page(
    db: Database, account: str, region: str, *, status: str, prefix: str | None, after: str | None, limit: int
) -> list[str]:
    """Family names in order after ``after``: ACTIVE (has an ACTIVE revision), INACTIVE (has revisions,
    none ACTIVE) or ALL (has revisions)."""
    having = {"ACTIVE": " HAVING SUM(status='ACTIVE') > 0", "INACTIVE": " HAVING SUM(status='ACTIVE') = 0"}
    sql = "SELECT family FROM task_definitions WHERE account=? AND region=?"
    args: list[Any] = [account, region]
    if prefix:
        # substr keeps prefixes with LIKE wildcards (_) literal.
        sql += " AND substr(family, 1, ?) = ?"
        args.extend([len(prefix), prefix])
    if after is not None:
        sql += " AND family > ?"
        args.append(after)
    sql += " GROUP BY family" + having.get(status, "") + " ORDER BY family LIMIT ?"
    args.append(limit)
    return [r["family"] for r in db.query(sql, args)]


def remove_unreferenced(db: Database, account: str | None = None, region: str | None = None) -> list[str]:
    """Delete DELETE_IN_PROGRESS revisions no live task or service refers to; return their ARNs.

    A task refers to its definition until it is STOPPED; a service (not INACTIVE) through its
    ``taskDefinition`` and the ``taskDefinition`` of each of its deployments and task sets.
    Runs inside the caller's transaction, or its own. Optionally limited to one partition.
    """
    sql = """SELECT td.account, td.region, td.family, td.revision, td.arn FROM task_definitions td
             WHERE td.status = 'DELETE_IN_PROGRESS'
             AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.account = td.account AND t.region = td.region
                 AND t.last_status != 'STOPPED' AND json_extract(t.doc, '$.taskDefinitionArn') = td.arn)
             AND NOT EXISTS (SELECT 1 FROM services s WHERE s.account = td.account AND s.region = td.region
                 AND s.status != 'INACTIVE' AND (json_extract(s.doc, '$.taskDefinition') = td.arn
                 OR EXISTS (SELECT 1 FROM json_each(s.doc, '$.deployments') d
                            WHERE json_extract(d.value, '$.taskDefinition') = td.arn)
                 OR EXISTS (SELECT 1 FROM json_each(s.doc, '$.taskSets') ts
                            WHERE json_extract(ts.value, '$.taskDefinition') = td.arn)))"""
    args: list[Any] = []
    if account is not None and region is not None:
        sql += " AND td.account = ? AND td.region = ?"
        args.extend([account, region])
    removed = []
    with db.transaction():
        for row in db.query(sql, args):
            delete(db, row["account"], row["region"], row["family"], row["revision"])
            tag_store.remove(db, row["arn"], [key for key, _ in tag_store.get(db, row["arn"])])
            db.changed(KIND, row["arn"])
            removed.append(row["arn"])
    return removed
