"""EventBridge rules and their targets (``ev_rules``, schema version 10).

Invariants:
- A rule is one row per (account, region, bus, name); ``doc`` is the rule as DescribeRule shows it
  and ``targets`` its targets as ListTargetsByRule shows them, in the order they were first put.
- ``next_run`` is set exactly for ENABLED rules with a ScheduleExpression: the epoch second the
  rule fires next. Writers (the provider, the router after a firing) keep it so; readers trust it.
- ``_origin`` in ``doc`` (the time a rate schedule counts from) never reaches the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecslite.store.db import Database, dumps, loads

KIND = "event-rule"


@dataclass(frozen=True, slots=True)
class Rule:
    rid: int
    account: str
    region: str
    bus: str
    name: str
    arn: str
    state: str
    next_run: float | None
    doc: dict[str, Any]
    targets: list[dict[str, Any]]


_COLUMNS = "rid, account, region, bus, name, arn, state, next_run, doc, targets"


def _rule(row: Any) -> Rule:
    return Rule(
        int(row["rid"]),
        str(row["account"]),
        str(row["region"]),
        str(row["bus"]),
        str(row["name"]),
        str(row["arn"]),
        str(row["state"]),
        None if row["next_run"] is None else float(row["next_run"]),
        loads(row["doc"]),
        loads(row["targets"]),
    )


def get(db: Database, account: str, region: str, bus: str, name: str) -> Rule | None:
    row = db.query_one(
        f"SELECT {_COLUMNS} FROM ev_rules WHERE account=? AND region=? AND bus=? AND name=?",
        (account, region, bus, name),
    )
    return _rule(row) if row else None


def get_by_arn(db: Database, arn: str) -> Rule | None:
    row = db.query_one(f"SELECT {_COLUMNS} FROM ev_rules WHERE arn=?", (arn,))
    return _rule(row) if row else None


def listing(db: Database, account: str, region: str, bus: str, prefix: str = "") -> list[Rule]:
    """The bus's rules whose name starts with ``prefix``, by name (ListRules' order)."""
    rows = db.query(
        f"""SELECT {_COLUMNS} FROM ev_rules WHERE account=? AND region=? AND bus=? AND substr(name, 1, ?) = ?
            ORDER BY name""",
        (account, region, bus, len(prefix), prefix),
    )
    return [_rule(r) for r in rows]


def enabled(db: Database, account: str, region: str, bus: str) -> list[Rule]:
    """The bus's ENABLED rules (the router matches events against those with a pattern)."""
    rows = db.query(
        f"SELECT {_COLUMNS} FROM ev_rules WHERE account=? AND region=? AND bus=? AND state != 'DISABLED'",
        (account, region, bus),
    )
    return [_rule(r) for r in rows]


def any_enabled_pattern(db: Database) -> bool:
    """Whether any account has an ENABLED rule with an event pattern."""
    row = db.query_one(
        "SELECT 1 FROM ev_rules WHERE state != 'DISABLED' AND json_extract(doc, '$.EventPattern') IS NOT NULL LIMIT 1"
    )
    return row is not None


def due(db: Database, now: float) -> list[Rule]:
    """Scheduled rules whose next firing is at or before ``now``, earliest first."""
    rows = db.query(
        f"SELECT {_COLUMNS} FROM ev_rules WHERE next_run IS NOT NULL AND next_run <= ? ORDER BY next_run",
        (now,),
    )
    return [_rule(r) for r in rows]


def next_due(db: Database) -> float | None:
    row = db.query_one("SELECT MIN(next_run) FROM ev_rules WHERE next_run IS NOT NULL")
    return None if row is None or row[0] is None else float(row[0])


def put(
    db: Database,
    account: str,
    region: str,
    bus: str,
    name: str,
    arn: str,
    doc: dict[str, Any],
    next_run: float | None,
) -> None:
    """Create the rule or replace its definition; its targets stay."""
    with db.transaction():
        db.execute(
            """INSERT INTO ev_rules (account, region, bus, name, arn, state, next_run, doc, targets)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]')
               ON CONFLICT (account, region, bus, name)
               DO UPDATE SET state=excluded.state, next_run=excluded.next_run, doc=excluded.doc""",
            (account, region, bus, name, arn, doc["State"], next_run, dumps(doc)),
        )
        db.changed(KIND, arn)


def set_next_run(db: Database, rule: Rule, next_run: float | None) -> None:
    with db.transaction():
        db.execute("UPDATE ev_rules SET next_run=? WHERE rid=?", (next_run, rule.rid))


def set_targets(db: Database, rule: Rule, targets: list[dict[str, Any]]) -> None:
    with db.transaction():
        db.execute("UPDATE ev_rules SET targets=? WHERE rid=?", (dumps(targets), rule.rid))
        db.changed(KIND, rule.arn)


def delete(db: Database, rule: Rule) -> None:
    with db.transaction():
        db.execute("DELETE FROM ev_rules WHERE rid=?", (rule.rid,))
        db.changed(KIND, rule.arn)
