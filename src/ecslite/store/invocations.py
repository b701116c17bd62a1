"""The recent invocations of schedules' and rules' targets: what ran, when, and what came of it.

AWS keeps none of this (its metrics count failures, its DLQ holds the failed event); ecslite keeps
the last :data:`PER_TARGET` invocations of each schedule (one target) and of each rule target
(``target`` is the target's Id), so ``ecslite schedules``, ``/_ecslite/invocations`` and the UI
can say which tasks an invocation started or why it started none.

- ``owner`` is the schedule's or rule's ARN, ``source`` is ``schedule`` or ``rule``; a document is
  an :class:`Invocation` as :meth:`Invocation.to_doc` spells it.
- Rows stay after their schedule or rule is deleted (a one-time schedule deleted after completion
  still shows why it failed); :data:`MAX_ROWS` bounds the table as a whole, oldest rows first.
- Every write records a ``target-invocation`` change keyed by the owner's ARN (the UI refetches).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecslite.store.db import Database, dumps, loads

KIND = "target-invocation"
PER_TARGET = 20
MAX_ROWS = 20_000
SCHEDULE = "schedule"
RULE = "rule"

# Outcomes: every task asked for started; a failure that will be tried again; a failure for good.
STARTED = "STARTED"
RETRYING = "RETRYING"
FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Invocation:
    account: str
    region: str
    source: str  # SCHEDULE or RULE
    owner: str  # the schedule's or rule's ARN
    name: str  # the schedule's or rule's name
    target: str  # the rule target's Id; '' for a schedule's one target
    cluster: str  # the target's Arn (an ECS cluster for ECS targets)
    at: float
    attempt: int
    outcome: str
    task_arns: Sequence[str] = field(default_factory=tuple)
    error: str | None = None
    retry_at: float | None = None

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "source": self.source,
            "arn": self.owner,
            "name": self.name,
            "target": self.target,
            "cluster": self.cluster,
            "time": round(self.at, 3),
            "attempt": self.attempt,
            "outcome": self.outcome,
            "taskArns": list(self.task_arns),
            "error": self.error,
        }
        if self.retry_at is not None:
            doc["retryAt"] = round(self.retry_at, 3)
        return doc


def add(db: Database, entry: Invocation) -> None:
    """Record one invocation, keeping the newest :data:`PER_TARGET` of its target."""
    with db.transaction():
        cursor = db.execute(
            """INSERT INTO target_invocations (account, region, source, owner, target, ts, doc)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (entry.account, entry.region, entry.source, entry.owner, entry.target, entry.at, dumps(entry.to_doc())),
        )
        db.execute(
            """DELETE FROM target_invocations WHERE owner=? AND target=? AND rid NOT IN
               (SELECT rid FROM target_invocations WHERE owner=? AND target=? ORDER BY rid DESC LIMIT ?)""",
            (entry.owner, entry.target, entry.owner, entry.target, PER_TARGET),
        )
        newest = int(cursor.lastrowid or 0)
        if newest > MAX_ROWS:
            db.execute("DELETE FROM target_invocations WHERE rid <= ?", (newest - MAX_ROWS,))
        db.changed(KIND, entry.owner)


def recent(db: Database, owner: str, limit: int = PER_TARGET) -> list[dict[str, Any]]:
    """The owner's invocations (every target of a rule), newest first."""
    rows = db.query(
        "SELECT doc FROM target_invocations WHERE owner=? ORDER BY rid DESC LIMIT ?",
        (owner, max(1, limit)),
    )
    return [loads(r["doc"]) for r in rows]


def latest(db: Database, owners: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The newest invocation of each owner that has one."""
    out: dict[str, dict[str, Any]] = {}
    for owner in dict.fromkeys(owners):
        row = db.query_one("SELECT doc FROM target_invocations WHERE owner=? ORDER BY rid DESC LIMIT 1", (owner,))
        if row is not None:
            out[owner] = loads(row["doc"])
    return out
