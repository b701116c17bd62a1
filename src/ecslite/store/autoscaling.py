"""Application Auto Scaling's resources (spec/ecs.md §6): scalable targets, scaling policies,
scheduled actions and scaling activities.

- A target is named by :class:`TargetKey` (account, region, service namespace, resource id,
  scalable dimension); its policies and scheduled actions are named within it and go with it
  (:func:`delete_target`). Its scaling activities stay, newest first, at most
  :data:`MAX_ACTIVITIES` per target.
- Documents are what the API shows, plus ecslite's own members (``_``-prefixed: a policy's last
  scale-out and scale-in, a scheduled action's last run), which the protocol layer never sends.
- ``scheduled_actions.next_run`` is the next time an action fires (``NULL``: never again); the
  scaling controller reads the due ones.
- Every write records a ``scalable-target`` change keyed by the target's ARN-like key, so the
  scaling controller looks at that target again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ecslite.store.db import Database, dumps, loads

KIND = "scalable-target"
MAX_ACTIVITIES = 1000

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TargetKey:
    account: str
    region: str
    namespace: str
    resource_id: str
    dimension: str

    def args(self) -> tuple[str, str, str, str, str]:
        return (self.account, self.region, self.namespace, self.resource_id, self.dimension)

    @property
    def change_key(self) -> str:
        return "|".join(self.args())

    @classmethod
    def from_change(cls, key: str) -> TargetKey | None:
        parts = key.split("|")
        return cls(*parts) if len(parts) == 5 else None


_WHERE = "account=? AND region=? AND namespace=? AND resource_id=? AND dimension=?"


# -- scalable targets ------------------------------------------------------------------------------


def get_target(db: Database, key: TargetKey) -> Doc | None:
    row = db.query_one(f"SELECT doc FROM scalable_targets WHERE {_WHERE}", key.args())
    return loads(row["doc"]) if row else None


def put_target(db: Database, key: TargetKey, doc: Doc) -> None:
    db.execute(
        """INSERT INTO scalable_targets (account, region, namespace, resource_id, dimension, arn, doc)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (account, region, namespace, resource_id, dimension) DO UPDATE SET doc=excluded.doc""",
        (*key.args(), doc["ScalableTargetARN"], dumps(doc)),
    )
    db.changed(KIND, key.change_key)


def target_by_arn(db: Database, arn: str) -> tuple[TargetKey, Doc] | None:
    row = db.query_one(
        "SELECT account, region, namespace, resource_id, dimension, doc FROM scalable_targets WHERE arn=?", (arn,)
    )
    if row is None:
        return None
    key = TargetKey(row["account"], row["region"], row["namespace"], row["resource_id"], row["dimension"])
    return key, loads(row["doc"])


def delete_target(db: Database, key: TargetKey) -> None:
    """The target and its policies and scheduled actions (DeregisterScalableTarget, §6.1)."""
    for table in ("scalable_targets", "scaling_policies", "scheduled_actions"):
        db.execute(f"DELETE FROM {table} WHERE {_WHERE}", key.args())
    db.changed(KIND, key.change_key)


@dataclass(frozen=True, slots=True)
class TargetFilter:
    account: str
    region: str
    namespace: str
    resource_ids: tuple[str, ...] = ()
    dimension: str | None = None
    resource_id: str | None = None
    names: tuple[str, ...] = ()


def _filtered(where: TargetFilter, after: int | None) -> tuple[str, list[Any]]:
    sql = "account=? AND region=? AND namespace=? AND rid > ?"
    args: list[Any] = [where.account, where.region, where.namespace, after or 0]
    ids = where.resource_ids or ((where.resource_id,) if where.resource_id else ())
    if ids:
        sql += f" AND resource_id IN ({','.join('?' * len(ids))})"
        args.extend(ids)
    if where.dimension:
        sql += " AND dimension=?"
        args.append(where.dimension)
    return sql, args


def list_targets(db: Database, where: TargetFilter, after: int | None, limit: int) -> list[tuple[int, Doc]]:
    sql, args = _filtered(where, after)
    rows = db.query(f"SELECT rid, doc FROM scalable_targets WHERE {sql} ORDER BY rid LIMIT ?", (*args, limit))
    return [(r["rid"], loads(r["doc"])) for r in rows]


def all_targets(db: Database) -> list[tuple[TargetKey, Doc]]:
    rows = db.query("SELECT account, region, namespace, resource_id, dimension, doc FROM scalable_targets ORDER BY rid")
    return [
        (TargetKey(r["account"], r["region"], r["namespace"], r["resource_id"], r["dimension"]), loads(r["doc"]))
        for r in rows
    ]


# -- scaling policies ------------------------------------------------------------------------------


def get_policy(db: Database, key: TargetKey, name: str) -> Doc | None:
    row = db.query_one(f"SELECT doc FROM scaling_policies WHERE {_WHERE} AND name=?", (*key.args(), name))
    return loads(row["doc"]) if row else None


def policy_by_arn(db: Database, arn: str) -> tuple[TargetKey, Doc] | None:
    row = db.query_one(
        "SELECT account, region, namespace, resource_id, dimension, doc FROM scaling_policies WHERE arn=?", (arn,)
    )
    if row is None:
        return None
    key = TargetKey(row["account"], row["region"], row["namespace"], row["resource_id"], row["dimension"])
    return key, loads(row["doc"])


def put_policy(db: Database, key: TargetKey, doc: Doc) -> None:
    db.execute(
        """INSERT INTO scaling_policies (account, region, namespace, resource_id, dimension, name, arn, doc)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (account, region, namespace, resource_id, dimension, name)
            DO UPDATE SET arn=excluded.arn, doc=excluded.doc""",
        (*key.args(), doc["PolicyName"], doc["PolicyARN"], dumps(doc)),
    )
    db.changed(KIND, key.change_key)


def delete_policy(db: Database, key: TargetKey, name: str) -> None:
    db.execute(f"DELETE FROM scaling_policies WHERE {_WHERE} AND name=?", (*key.args(), name))
    db.changed(KIND, key.change_key)


def policies_of(db: Database, key: TargetKey) -> list[Doc]:
    rows = db.query(f"SELECT doc FROM scaling_policies WHERE {_WHERE} ORDER BY rid", key.args())
    return [loads(r["doc"]) for r in rows]


def list_policies(db: Database, where: TargetFilter, after: int | None, limit: int) -> list[tuple[int, Doc]]:
    sql, args = _filtered(where, after)
    if where.names:
        sql += f" AND name IN ({','.join('?' * len(where.names))})"
        args.extend(where.names)
    rows = db.query(f"SELECT rid, doc FROM scaling_policies WHERE {sql} ORDER BY rid LIMIT ?", (*args, limit))
    return [(r["rid"], loads(r["doc"])) for r in rows]


# -- scheduled actions -----------------------------------------------------------------------------


def get_action(db: Database, key: TargetKey, name: str) -> Doc | None:
    row = db.query_one(f"SELECT doc FROM scheduled_actions WHERE {_WHERE} AND name=?", (*key.args(), name))
    return loads(row["doc"]) if row else None


def put_action(db: Database, key: TargetKey, doc: Doc, next_run: float | None) -> None:
    db.execute(
        """INSERT INTO scheduled_actions (account, region, namespace, resource_id, dimension, name, arn, next_run, doc)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (account, region, namespace, resource_id, dimension, name)
            DO UPDATE SET arn=excluded.arn, next_run=excluded.next_run, doc=excluded.doc""",
        (*key.args(), doc["ScheduledActionName"], doc["ScheduledActionARN"], next_run, dumps(doc)),
    )
    db.changed(KIND, key.change_key)


def delete_action(db: Database, key: TargetKey, name: str) -> None:
    db.execute(f"DELETE FROM scheduled_actions WHERE {_WHERE} AND name=?", (*key.args(), name))
    db.changed(KIND, key.change_key)


def list_actions(db: Database, where: TargetFilter, after: int | None, limit: int) -> list[tuple[int, Doc]]:
    sql, args = _filtered(where, after)
    if where.names:
        sql += f" AND name IN ({','.join('?' * len(where.names))})"
        args.extend(where.names)
    rows = db.query(f"SELECT rid, doc FROM scheduled_actions WHERE {sql} ORDER BY rid LIMIT ?", (*args, limit))
    return [(r["rid"], loads(r["doc"])) for r in rows]


def due_actions(db: Database, now: float) -> list[tuple[TargetKey, Doc, float]]:
    """Scheduled actions whose next run is at or before ``now``, oldest due first."""
    rows = db.query(
        """SELECT account, region, namespace, resource_id, dimension, doc, next_run FROM scheduled_actions
           WHERE next_run IS NOT NULL AND next_run <= ? ORDER BY next_run, rid""",
        (now,),
    )
    return [
        (
            TargetKey(r["account"], r["region"], r["namespace"], r["resource_id"], r["dimension"]),
            loads(r["doc"]),
            float(r["next_run"]),
        )
        for r in rows
    ]


def next_due(db: Database) -> float | None:
    row = db.query_one("SELECT MIN(next_run) AS due FROM scheduled_actions WHERE next_run IS NOT NULL")
    return float(row["due"]) if row and row["due"] is not None else None


# -- scaling activities ----------------------------------------------------------------------------


def add_activity(db: Database, key: TargetKey, doc: Doc) -> None:
    db.execute(
        """INSERT INTO scaling_activities (account, region, namespace, resource_id, dimension, id, start_time, doc)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (*key.args(), doc["ActivityId"], float(doc["StartTime"]), dumps(doc)),
    )
    db.execute(
        f"""DELETE FROM scaling_activities WHERE {_WHERE} AND rid NOT IN
            (SELECT rid FROM scaling_activities WHERE {_WHERE} ORDER BY rid DESC LIMIT ?)""",
        (*key.args(), *key.args(), MAX_ACTIVITIES),
    )
    db.changed(KIND, key.change_key)


def list_activities(
    db: Database, where: TargetFilter, before: int | None, limit: int, *, include_not_scaled: bool
) -> list[tuple[int, Doc]]:
    """Activities newest first; ``before`` is the rid the previous page ended at."""
    sql = "account=? AND region=? AND namespace=?"
    args: list[Any] = [where.account, where.region, where.namespace]
    if where.resource_id:
        sql += " AND resource_id=?"
        args.append(where.resource_id)
    if where.dimension:
        sql += " AND dimension=?"
        args.append(where.dimension)
    if before is not None:
        sql += " AND rid < ?"
        args.append(before)
    if not include_not_scaled:
        sql += " AND json_extract(doc, '$.NotScaledReasons') IS NULL"
    rows = db.query(f"SELECT rid, doc FROM scaling_activities WHERE {sql} ORDER BY rid DESC LIMIT ?", (*args, limit))
    return [(r["rid"], loads(r["doc"])) for r in rows]


def activities_of(db: Database, keys: Iterable[TargetKey]) -> list[Doc]:
    out: list[Doc] = []
    for key in keys:
        rows = db.query(f"SELECT doc FROM scaling_activities WHERE {_WHERE} ORDER BY rid DESC", key.args())
        out.extend(loads(r["doc"]) for r in rows)
    return out
