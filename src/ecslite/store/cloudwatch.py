"""CloudWatch's own resources: metrics users put (PutMetricData), their datapoints, alarms and the
alarm history.

- A metric is its namespace, name and exact dimension set (``dims``: the dimensions sorted by name,
  in JSON), per account and region. Each PutMetricData datum becomes one datapoint row that keeps
  what the statistics need (sample count, sum, minimum, maximum) and its unit and storage
  resolution. Rows older than :data:`RETENTION_SECONDS` (CloudWatch keeps one-minute data for 15
  days) are pruned, with metrics that got nothing since.
- ``AWS/ECS`` and ``ECS/ContainerInsights`` are not here: they come from the runtime's measurements
  in the telemetry store (telemetry.runtime_metrics).
- Alarms are documents as DescribeAlarms shows them (``MetricAlarms`` members) plus ecslite's own
  ``_``-prefixed state; ``state`` mirrors ``StateValue``. History items are kept newest first, at
  most :data:`MAX_HISTORY` per alarm. Alarm changes are recorded as ``cloudwatch-alarm`` changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecslite.store.db import Database, dumps, loads

ALARM_KIND = "cloudwatch-alarm"
RETENTION_SECONDS = 15 * 86400.0
MAX_HISTORY = 1000

Doc = dict[str, Any]
Dimensions = tuple[tuple[str, str], ...]


def dims_key(dimensions: Dimensions) -> str:
    return dumps(sorted([list(d) for d in dimensions]))


def dims_of(key: str) -> Dimensions:
    return tuple((str(name), str(value)) for name, value in loads(key))


# -- metrics and datapoints ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Datum:
    name: str
    dimensions: Dimensions
    ts: float
    unit: str
    count: float
    sum: float
    minimum: float
    maximum: float
    resolution: int = 60


def put_data(db: Database, account: str, region: str, namespace: str, data: Sequence[Datum], now: float) -> None:
    rids: dict[tuple[str, str], int] = {}
    for datum in data:
        key = (datum.name, dims_key(datum.dimensions))
        rid = rids.get(key)
        if rid is None:
            db.execute(
                """INSERT INTO cw_metrics (account, region, namespace, name, dims, last_at) VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (account, region, namespace, name, dims) DO UPDATE SET last_at=excluded.last_at""",
                (account, region, namespace, key[0], key[1], now),
            )
            row = db.query_one(
                "SELECT rid FROM cw_metrics WHERE account=? AND region=? AND namespace=? AND name=? AND dims=?",
                (account, region, namespace, key[0], key[1]),
            )
            assert row is not None
            rid = rids[key] = int(row["rid"])
        db.execute(
            """INSERT INTO cw_datapoints (metric_rid, ts, unit, count, sum, min, max, resolution)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (rid, datum.ts, datum.unit, datum.count, datum.sum, datum.minimum, datum.maximum, datum.resolution),
        )


@dataclass(frozen=True, slots=True)
class Row:
    ts: float
    unit: str
    count: float
    sum: float
    minimum: float
    maximum: float


def read(
    db: Database,
    account: str,
    region: str,
    namespace: str,
    name: str,
    dimensions: Dimensions,
    start: float,
    end: float,
) -> list[Row]:
    """Datapoint rows of one metric (exact dimension set) with ``start <= ts < end``, oldest first."""
    rows = db.query(
        """SELECT d.ts, d.unit, d.count, d.sum, d.min, d.max
           FROM cw_datapoints d JOIN cw_metrics m ON m.rid = d.metric_rid
           WHERE m.account=? AND m.region=? AND m.namespace=? AND m.name=? AND m.dims=? AND d.ts >= ? AND d.ts < ?
           ORDER BY d.ts, d.rid""",
        (account, region, namespace, name, dims_key(dimensions), start, end),
    )
    return [Row(r["ts"], r["unit"], r["count"], r["sum"], r["min"], r["max"]) for r in rows]


@dataclass(frozen=True, slots=True)
class MetricFilter:
    account: str
    region: str
    namespace: str | None = None
    name: str | None = None
    dimensions: tuple[tuple[str, str | None], ...] = ()  # a None value matches any value of that name
    active_since: float | None = None


def list_metrics(
    db: Database, where: MetricFilter, after: int | None, limit: int
) -> list[tuple[int, str, str, Dimensions]]:
    """``(rid, namespace, name, dimensions)`` of user metrics in creation order."""
    sql = "SELECT rid, namespace, name, dims FROM cw_metrics WHERE account=? AND region=? AND rid > ?"
    args: list[Any] = [where.account, where.region, after or 0]
    if where.namespace is not None:
        sql += " AND namespace=?"
        args.append(where.namespace)
    if where.name is not None:
        sql += " AND name=?"
        args.append(where.name)
    if where.active_since is not None:
        sql += " AND last_at >= ?"
        args.append(where.active_since)
    out = []
    for row in db.query(sql + " ORDER BY rid", args):
        dims = dims_of(row["dims"])
        present = dict(dims)
        if all(n in present and (v is None or present[n] == v) for n, v in where.dimensions):
            out.append((int(row["rid"]), str(row["namespace"]), str(row["name"]), dims))
            if len(out) >= limit:
                break
    return out


def prune(db: Database, now: float) -> None:
    cutoff = now - RETENTION_SECONDS
    db.execute("DELETE FROM cw_datapoints WHERE ts < ?", (cutoff,))
    db.execute("DELETE FROM cw_metrics WHERE last_at < ?", (cutoff,))


# -- alarms ----------------------------------------------------------------------------------------


def get_alarm(db: Database, account: str, region: str, name: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM cw_alarms WHERE account=? AND region=? AND name=?", (account, region, name))
    return loads(row["doc"]) if row else None


def put_alarm(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        """INSERT INTO cw_alarms (account, region, name, arn, state, doc) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (account, region, name)
           DO UPDATE SET arn=excluded.arn, state=excluded.state, doc=excluded.doc""",
        (account, region, doc["AlarmName"], doc["AlarmArn"], doc["StateValue"], dumps(doc)),
    )
    db.changed(ALARM_KIND, doc["AlarmArn"])


def delete_alarm(db: Database, account: str, region: str, name: str) -> None:
    row = db.query_one("SELECT arn FROM cw_alarms WHERE account=? AND region=? AND name=?", (account, region, name))
    if row is None:
        return
    db.execute("DELETE FROM cw_alarms WHERE account=? AND region=? AND name=?", (account, region, name))
    db.changed(ALARM_KIND, str(row["arn"]))


def alarm_by_arn(db: Database, arn: str) -> tuple[str, str, Doc] | None:
    row = db.query_one("SELECT account, region, doc FROM cw_alarms WHERE arn=?", (arn,))
    return (str(row["account"]), str(row["region"]), loads(row["doc"])) if row else None


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    account: str
    region: str
    names: tuple[str, ...] = ()
    prefix: str | None = None
    state: str | None = None


def list_alarms(db: Database, where: AlarmFilter, after: str | None, limit: int) -> list[Doc]:
    """Alarms in name order (as DescribeAlarms lists them); ``after`` is the last name of the previous page."""
    sql = "SELECT doc FROM cw_alarms WHERE account=? AND region=? AND name > ?"
    args: list[Any] = [where.account, where.region, after or ""]
    if where.names:
        sql += f" AND name IN ({','.join('?' * len(where.names))})"
        args.extend(where.names)
    if where.prefix:
        sql += " AND substr(name, 1, ?) = ?"
        args.extend([len(where.prefix), where.prefix])
    if where.state:
        sql += " AND state=?"
        args.append(where.state)
    rows = db.query(sql + " ORDER BY name LIMIT ?", (*args, limit))
    return [loads(r["doc"]) for r in rows]


def all_alarms(db: Database) -> list[tuple[str, str, Doc]]:
    rows = db.query("SELECT account, region, doc FROM cw_alarms ORDER BY rid")
    return [(str(r["account"]), str(r["region"]), loads(r["doc"])) for r in rows]


# -- history ---------------------------------------------------------------------------------------


def add_history(db: Database, account: str, region: str, doc: Doc) -> None:
    name = doc["AlarmName"]
    db.execute(
        "INSERT INTO cw_alarm_history (account, region, alarm_name, ts, kind, doc) VALUES (?, ?, ?, ?, ?, ?)",
        (account, region, name, float(doc["Timestamp"]), doc["HistoryItemType"], dumps(doc)),
    )
    db.execute(
        """DELETE FROM cw_alarm_history WHERE account=? AND region=? AND alarm_name=? AND rid NOT IN
           (SELECT rid FROM cw_alarm_history WHERE account=? AND region=? AND alarm_name=?
            ORDER BY rid DESC LIMIT ?)""",
        (account, region, name, account, region, name, MAX_HISTORY),
    )


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    account: str
    region: str
    name: str | None = None
    kind: str | None = None
    start: float | None = None
    end: float | None = None
    oldest_first: bool = False


def list_history(db: Database, where: HistoryFilter, cursor: int | None, limit: int) -> list[tuple[int, Doc]]:
    """History items newest first (or oldest first); ``cursor`` is the rid the previous page ended at."""
    sql = "SELECT rid, doc FROM cw_alarm_history WHERE account=? AND region=?"
    args: list[Any] = [where.account, where.region]
    for column, value in (("alarm_name", where.name), ("kind", where.kind)):
        if value is not None:
            sql += f" AND {column}=?"
            args.append(value)
    if where.start is not None:
        sql += " AND ts >= ?"
        args.append(where.start)
    if where.end is not None:
        sql += " AND ts <= ?"
        args.append(where.end)
    if cursor is not None:
        sql += " AND rid > ?" if where.oldest_first else " AND rid < ?"
        args.append(cursor)
    sql += " ORDER BY rid " + ("ASC" if where.oldest_first else "DESC") + " LIMIT ?"
    return [(int(r["rid"]), loads(r["doc"])) for r in db.query(sql, (*args, limit))]


def delete_history(db: Database, account: str, region: str, name: str) -> None:
    db.execute("DELETE FROM cw_alarm_history WHERE account=? AND region=? AND alarm_name=?", (account, region, name))


# -- state changes ---------------------------------------------------------------------------------


def history_item(name: str, ts: float, kind: str, summary: str, data: Any) -> Doc:
    return {
        "AlarmName": name,
        "AlarmType": "MetricAlarm",
        "Timestamp": ts,
        "HistoryItemType": kind,
        "HistorySummary": summary,
        "HistoryData": dumps(data),
    }


def record_state(
    db: Database, account: str, region: str, doc: Doc, state: str, reason: str, reason_data: Any, now: float
) -> bool:
    """Move an alarm to ``state`` with its reason and a StateUpdate history item; False if it was there.

    The reason is updated even without a transition (CloudWatch refreshes it); the history only
    records transitions.
    """
    old_state, old_reason = doc.get("StateValue"), doc.get("StateReason")
    changed = old_state != state
    doc["StateReason"] = reason
    if reason_data is not None:
        doc["StateReasonData"] = reason_data if isinstance(reason_data, str) else dumps(reason_data)
    else:
        doc.pop("StateReasonData", None)
    if changed:
        doc["StateValue"] = state
        doc["StateUpdatedTimestamp"] = now
        doc["StateTransitionedTimestamp"] = now
        new_state: dict[str, Any] = {"stateValue": state, "stateReason": reason}
        if reason_data is not None:
            new_state["stateReasonData"] = loads(reason_data) if isinstance(reason_data, str) else reason_data
        old = {"stateValue": old_state, "stateReason": old_reason}
        data = {"version": "1.0", "oldState": old, "newState": new_state}
        summary = f"Alarm updated from {old_state} to {state}"
        add_history(db, account, region, history_item(doc["AlarmName"], now, "StateUpdate", summary, data))
    put_alarm(db, account, region, doc)
    return changed
