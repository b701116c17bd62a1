"""Capacity bookkeeping the controllers act on later (spec/ecs.md §13.1, §5.6).

Spot interruptions: an interrupted FARGATE_SPOT task gets its two-minute warning first; the row
says when the warning runs out, and the capacity controller then stops the task with
``SpotInterruption``. A task is interrupted once (the first request wins).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecslite.store.db import Database

KIND = "spot-interruption"


@dataclass(frozen=True, slots=True)
class Interruption:
    task_arn: str
    cluster: str
    warned_at: float
    due_at: float


def add_interruption(
    db: Database, account: str, region: str, cluster: str, task_arn: str, warned_at: float, due_at: float
) -> Interruption:
    """Record the interruption unless one is already pending; returns the one that stands."""
    db.execute(
        """INSERT OR IGNORE INTO spot_interruptions (account, region, cluster, task_arn, warned_at, due_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (account, region, cluster, task_arn, warned_at, due_at),
    )
    db.changed(KIND, task_arn)
    found = interruption(db, task_arn)
    assert found is not None
    return found


def interruption(db: Database, task_arn: str) -> Interruption | None:
    row = db.query_one(
        "SELECT task_arn, cluster, warned_at, due_at FROM spot_interruptions WHERE task_arn=?", (task_arn,)
    )
    return Interruption(row["task_arn"], row["cluster"], row["warned_at"], row["due_at"]) if row else None


def due(db: Database, now: float) -> list[Interruption]:
    rows = db.query(
        "SELECT task_arn, cluster, warned_at, due_at FROM spot_interruptions WHERE due_at <= ? ORDER BY due_at", (now,)
    )
    return [Interruption(r["task_arn"], r["cluster"], r["warned_at"], r["due_at"]) for r in rows]


def next_due(db: Database) -> float | None:
    row = db.query_one("SELECT MIN(due_at) AS at FROM spot_interruptions")
    return float(row["at"]) if row and row["at"] is not None else None


def remove(db: Database, task_arn: str) -> None:
    db.execute("DELETE FROM spot_interruptions WHERE task_arn=?", (task_arn,))
