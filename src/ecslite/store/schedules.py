"""EventBridge Scheduler's resources: schedule groups and the schedules in them.

- A group is named per (account, region); the ``default`` group is not stored: it always exists
  (the provider shows it). A schedule is named per (account, region, group).
- Documents are what GetSchedule/GetScheduleGroup show, plus ecslite's own members (``_``-prefixed:
  the pending invocation's due time and attempts), which the protocol layer never sends.
- ``next_run`` is the time the next invocation is due (``NULL``: none, e.g. disabled or finished);
  ``attempt`` is when a failed invocation is tried again (``NULL``: no retry pending). The scheduler
  controller reads both.
- Every schedule write records a ``schedule`` change keyed by the schedule's ARN.
"""

from __future__ import annotations

from typing import Any

from ecslite.store.db import Database, dumps, loads

KIND = "schedule"
Doc = dict[str, Any]


# -- groups ------------------------------------------------------------------------------------------


def get_group(db: Database, account: str, region: str, name: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM sch_groups WHERE account=? AND region=? AND name=?", (account, region, name))
    return loads(row["doc"]) if row else None


def put_group(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        """INSERT INTO sch_groups (account, region, name, arn, doc) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (account, region, name) DO UPDATE SET doc=excluded.doc""",
        (account, region, doc["Name"], doc["Arn"], dumps(doc)),
    )


def delete_group(db: Database, account: str, region: str, name: str) -> None:
    """The group and every schedule in it."""
    db.execute("DELETE FROM sch_groups WHERE account=? AND region=? AND name=?", (account, region, name))
    for row in db.query(
        "SELECT arn FROM sch_schedules WHERE account=? AND region=? AND grp=?", (account, region, name)
    ):
        db.changed(KIND, row["arn"])
    db.execute("DELETE FROM sch_schedules WHERE account=? AND region=? AND grp=?", (account, region, name))


def list_groups(db: Database, account: str, region: str) -> list[Doc]:
    rows = db.query("SELECT doc FROM sch_groups WHERE account=? AND region=? ORDER BY name", (account, region))
    return [loads(r["doc"]) for r in rows]


def group_by_arn(db: Database, arn: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM sch_groups WHERE arn=?", (arn,))
    return loads(row["doc"]) if row else None


# -- schedules ---------------------------------------------------------------------------------------


def get_schedule(db: Database, account: str, region: str, group: str, name: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM sch_schedules WHERE account=? AND region=? AND grp=? AND name=?",
        (account, region, group, name),
    )
    return loads(row["doc"]) if row else None


def get_by_arn(db: Database, arn: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM sch_schedules WHERE arn=?", (arn,))
    return loads(row["doc"]) if row else None


def put_schedule(
    db: Database, account: str, region: str, doc: Doc, next_run: float | None, attempt: float | None = None
) -> None:
    db.execute(
        """INSERT INTO sch_schedules (account, region, grp, name, arn, state, next_run, attempt, doc)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (account, region, grp, name) DO UPDATE SET
                state=excluded.state, next_run=excluded.next_run, attempt=excluded.attempt, doc=excluded.doc""",
        (account, region, doc["GroupName"], doc["Name"], doc["Arn"], doc["State"], next_run, attempt, dumps(doc)),
    )
    db.changed(KIND, doc["Arn"])


def delete_schedule(db: Database, account: str, region: str, group: str, name: str) -> None:
    row = db.query_one(
        "SELECT arn FROM sch_schedules WHERE account=? AND region=? AND grp=? AND name=?",
        (account, region, group, name),
    )
    if row is not None:
        db.execute("DELETE FROM sch_schedules WHERE arn=?", (row["arn"],))
        db.changed(KIND, row["arn"])


def list_schedules(
    db: Database,
    account: str,
    region: str,
    *,
    group: str | None = None,
    prefix: str | None = None,
    state: str | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[tuple[int, Doc]]:
    """Schedules in creation order (``rid``), after ``after``, at most ``limit``, with their rid."""
    sql = "SELECT rid, doc FROM sch_schedules WHERE account=? AND region=?"
    args: list[Any] = [account, region]
    if group is not None:
        sql += " AND grp=?"
        args.append(group)
    if prefix:
        # substr instead of LIKE: names may hold '_', which LIKE takes as a wildcard.
        sql += " AND substr(name, 1, ?)=?"
        args.extend([len(prefix), prefix])
    if state is not None:
        sql += " AND state=?"
        args.append(state)
    if after is not None:
        sql += " AND rid>?"
        args.append(after)
    sql += " ORDER BY rid LIMIT ?"
    args.append(limit)
    return [(int(r["rid"]), loads(r["doc"])) for r in db.query(sql, args)]


def count_in_group(db: Database, account: str, region: str, group: str) -> int:
    row = db.query_one(
        "SELECT count(*) AS n FROM sch_schedules WHERE account=? AND region=? AND grp=?", (account, region, group)
    )
    return int(row["n"]) if row else 0


def due(db: Database, now: float) -> list[tuple[str, str, Doc, float | None, float | None]]:
    """Schedules with an invocation or a retry due at ``now``: (account, region, doc, next_run, attempt)."""
    rows = db.query(
        """SELECT account, region, doc, next_run, attempt FROM sch_schedules
            WHERE (next_run IS NOT NULL AND next_run<=?) OR (attempt IS NOT NULL AND attempt<=?)
            ORDER BY rid""",
        (now, now),
    )
    return [(r["account"], r["region"], loads(r["doc"]), r["next_run"], r["attempt"]) for r in rows]


def earliest(db: Database) -> float | None:
    """The soonest time anything is due (an invocation or a retry), for the controller's sleep."""
    row = db.query_one(
        """SELECT min(t) AS t FROM (
            SELECT min(next_run) AS t FROM sch_schedules WHERE next_run IS NOT NULL
            UNION ALL SELECT min(attempt) FROM sch_schedules WHERE attempt IS NOT NULL)"""
    )
    return None if row is None or row["t"] is None else float(row["t"])
