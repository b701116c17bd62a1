"""Task definition revisions. Revision numbers come from a per-family counter that never goes
back, so numbers are never reused, even after a revision is deleted."""

from __future__ import annotations

from typing import Any

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
