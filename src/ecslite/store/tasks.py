"""Task rows: the task as DescribeTasks shows it, plus two private parts kept in the same document.

- ``_spec``: what the task runs, resolved once at launch by the provider (containers with their
  overrides, network, ids chosen for the runtime). Never changes afterwards.
- ``_run``: the task controller's own bookkeeping (sandbox, per-container timestamps, stop signals).

Ownership (style.md "each stored field has one owner"): the launcher (the provider for
RunTask/StartTask, the service scheduler for service tasks) writes the task at launch;
the stop request (``desiredStatus``, ``stoppingAt``, ``stopCode``, ``stoppedReason``) is written by
:func:`request_stop` alone, first request wins, whoever asks (StopTask, the controller on an
essential exit); every observed field is written by the controller through :func:`update`.
:func:`update` re-reads the row inside its transaction and applies a function to the fresh
document, so a writer never overwrites fields it did not change. ``version`` goes up by one on
every write that changes what the API shows (spec/ecs.md §3.2).

Indexed columns mirror the document: ``desired_status``, ``last_status``, ``family``,
``started_by``, ``service_name``, ``launch_type``, ``container_instance`` (ARN) and ``stopped_at``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ecslite.model.tasks import TIMESTAMP_ORDER
from ecslite.store import tags as tag_store
from ecslite.store.db import Database, dumps, loads

KIND = "task"

Doc = dict[str, Any]


def _columns(doc: Doc) -> tuple[Any, ...]:
    spec = doc.get("_spec", {})
    return (
        doc["desiredStatus"],
        doc["lastStatus"],
        spec.get("family", ""),
        doc.get("startedBy"),
        spec.get("serviceName"),
        doc.get("launchType"),
        doc.get("containerInstanceArn"),
        doc.get("stoppedAt"),
        dumps(doc),
    )


def insert(db: Database, account: str, region: str, cluster: str, doc: Doc) -> None:
    db.execute(
        """INSERT INTO tasks (account, region, cluster, id, arn, desired_status, last_status, family, started_by,
           service_name, launch_type, container_instance, stopped_at, doc)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (account, region, cluster, doc["_spec"]["taskId"], doc["taskArn"], *_columns(doc)),
    )
    db.changed(KIND, doc["taskArn"])


def insert_launched(
    db: Database, account: str, region: str, cluster: str, docs: Sequence[Doc], tags: Iterable[tuple[str, str]]
) -> None:
    """New tasks of one launch, each with the launch's tags, in the caller's transaction (or its own)."""
    pairs = list(tags)
    with db.transaction():
        for doc in docs:
            insert(db, account, region, cluster, doc)
            tag_store.put(db, doc["taskArn"], pairs)


def _write(db: Database, doc: Doc) -> None:
    db.execute(
        """UPDATE tasks SET desired_status=?, last_status=?, family=?, started_by=?, service_name=?, launch_type=?,
           container_instance=?, stopped_at=?, doc=? WHERE arn=?""",
        (*_columns(doc), doc["taskArn"]),
    )
    db.changed(KIND, doc["taskArn"])


def get(db: Database, arn: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM tasks WHERE arn=?", (arn,))
    return loads(row["doc"]) if row else None


def get_by_id(db: Database, account: str, region: str, cluster: str, task_id: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM tasks WHERE account=? AND region=? AND cluster=? AND id=?", (account, region, cluster, task_id)
    )
    return loads(row["doc"]) if row else None


def arn_of(db: Database, task_id: str) -> str | None:
    row = db.query_one("SELECT arn FROM tasks WHERE id=?", (task_id,))
    return str(row["arn"]) if row else None


def update(db: Database, arn: str, change: Callable[[Doc], bool], *, visible: bool = True) -> Doc | None:
    """Apply ``change`` to the current document; write it if ``change`` returned True.

    ``visible`` changes bump ``version``. Returns the document as stored afterwards, ``None`` when
    the task no longer exists (purged or the store was reset).
    """
    with db.transaction():
        doc = get(db, arn)
        if doc is None:
            return None
        if change(doc):
            if visible:
                doc["version"] = int(doc.get("version", 0)) + 1
            _write(db, doc)
        return doc


@dataclass(frozen=True, slots=True)
class StopRequest:
    code: str
    reason: str
    at: float


def apply_stop(doc: Doc, request: StopRequest) -> bool:
    """Record a stop request in ``doc`` unless one is already there (the first request wins)."""
    if doc["desiredStatus"] == "STOPPED":
        return False
    doc["desiredStatus"] = "STOPPED"
    doc["stoppingAt"] = stamp_value(doc, "stoppingAt", request.at)
    doc["stopCode"] = request.code
    doc["stoppedReason"] = request.reason
    return True


def request_stop(db: Database, arn: str, request: StopRequest) -> Doc | None:
    """Ask the task to stop (StopTask, forced deregistration); a stopped or stopping task is left as it is."""
    return update(db, arn, lambda doc: apply_stop(doc, request))


def stamp_value(doc: Doc, field: str, now: float) -> float:
    """``now``, or later if an earlier timestamp of §3.2's order is later (clocks may step back)."""
    earlier = TIMESTAMP_ORDER[: TIMESTAMP_ORDER.index(field)]
    values = [float(doc[f]) for f in earlier if doc.get(f) is not None]
    return round(max([now, *values]), 3)


def delete(db: Database, arn: str) -> None:
    db.execute("DELETE FROM tasks WHERE arn=?", (arn,))
    tag_store.remove(db, arn, [key for key, _ in tag_store.get(db, arn)])
    db.changed(KIND, arn)


# -- queries -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskFilter:
    account: str
    region: str
    cluster: str
    desired_status: str = "RUNNING"
    family: str | None = None
    started_by: str | None = None
    service_name: str | None = None
    launch_type: str | None = None
    container_instance: str | None = None


def list_page(db: Database, where: TaskFilter, after: int | None, limit: int) -> list[tuple[int, str]]:
    """``(rid, arn)`` of matching tasks in creation order, after ``after``."""
    sql = ["SELECT rid, arn FROM tasks WHERE account=? AND region=? AND cluster=? AND desired_status=? AND rid > ?"]
    args: list[Any] = [where.account, where.region, where.cluster, where.desired_status, after or 0]
    for column, value in (
        ("family", where.family),
        ("started_by", where.started_by),
        ("service_name", where.service_name),
        ("launch_type", where.launch_type),
        ("container_instance", where.container_instance),
    ):
        if value is not None:
            sql.append(f"AND {column}=?")
            args.append(value)
    sql.append("ORDER BY rid LIMIT ?")
    args.append(limit)
    return [(r["rid"], r["arn"]) for r in db.query(" ".join(sql), args)]


def live_arns(db: Database) -> list[str]:
    """Every task not yet STOPPED, in every partition (what the controller must look after)."""
    return [r["arn"] for r in db.query("SELECT arn FROM tasks WHERE last_status != 'STOPPED' ORDER BY rid")]


def live_ids(db: Database) -> set[str]:
    return {r["id"] for r in db.query("SELECT id FROM tasks WHERE last_status != 'STOPPED'")}


def expired(db: Database, stopped_before: float, limit: int = 500) -> list[str]:
    """STOPPED tasks whose ``stoppedAt`` is older than ``stopped_before``."""
    rows = db.query(
        "SELECT arn FROM tasks WHERE last_status='STOPPED' AND stopped_at < ? ORDER BY stopped_at LIMIT ?",
        (stopped_before, limit),
    )
    return [r["arn"] for r in rows]


def on_instance(db: Database, instance_arn: str) -> list[Doc]:
    """Tasks placed on a container instance that still hold its resources (not yet STOPPED)."""
    rows = db.query(
        "SELECT doc FROM tasks WHERE container_instance=? AND last_status != 'STOPPED' ORDER BY rid", (instance_arn,)
    )
    return [loads(r["doc"]) for r in rows]


def count_by_zone(db: Database, account: str, region: str, cluster: str, group: str) -> dict[str, int]:
    """Live tasks of a task group per availability zone (Fargate spreads RunTask over subnets' zones)."""
    rows = db.query(
        """SELECT json_extract(doc, '$.availabilityZone') AS zone, COUNT(*) AS n FROM tasks
           WHERE account=? AND region=? AND cluster=? AND desired_status='RUNNING'
           AND json_extract(doc, '$.group')=? GROUP BY zone""",
        (account, region, cluster, group),
    )
    return {str(r["zone"]): int(r["n"]) for r in rows}


def public_view(doc: Doc) -> Doc:
    """The document without the private parts (callers outside the store get a copy)."""
    return {k: copy.deepcopy(v) for k, v in doc.items() if not k.startswith("_")}


def get_many(db: Database, arns: Sequence[str]) -> dict[str, Doc]:
    out: dict[str, Doc] = {}
    for start in range(0, len(arns), 500):
        chunk = list(arns[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for row in db.query(f"SELECT arn, doc FROM tasks WHERE arn IN ({marks})", chunk):
            out[row["arn"]] = loads(row["doc"])
    return out


# -- RunTask idempotency -------------------------------------------------------------------------

TOKEN_TTL_SECONDS = 24 * 3600.0  # ECS keeps a RunTask clientToken for 24 hours


@dataclass(frozen=True, slots=True)
class RecordedLaunch:
    request_hash: str
    task_arns: list[str]
    failures: list[dict[str, str]]


def recorded_launch(
    db: Database, account: str, region: str, scope: str, token: str, now: float
) -> RecordedLaunch | None:
    """The launch an earlier RunTask with this token made in ``scope`` (its cluster), if still remembered."""
    row = db.query_one(
        """SELECT request_hash, response, created_at FROM idempotency_tokens
           WHERE account=? AND region=? AND operation=? AND token=?""",
        (account, region, scope, token),
    )
    if row is None or float(row["created_at"]) < now - TOKEN_TTL_SECONDS:
        return None
    response = loads(row["response"])
    return RecordedLaunch(str(row["request_hash"]), list(response["taskArns"]), list(response["failures"]))


def record_launch(
    db: Database, account: str, region: str, scope: str, token: str, now: float, launch: RecordedLaunch
) -> None:
    db.execute(
        """INSERT INTO idempotency_tokens (account, region, operation, token, request_hash, response, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (account, region, operation, token) DO UPDATE SET request_hash=excluded.request_hash,
           response=excluded.response, created_at=excluded.created_at""",
        (
            account,
            region,
            scope,
            token,
            launch.request_hash,
            dumps({"taskArns": launch.task_arns, "failures": launch.failures}),
            now,
        ),
    )


# -- lookups for the task metadata and credentials endpoints (§9) ---------------------------------


def by_metadata_token(db: Database, token: str) -> tuple[Doc, str] | None:
    """The task and container name a metadata path token (``ECS_CONTAINER_METADATA_URI_V4``) belongs to."""
    row = db.query_one(
        """SELECT t.doc, json_extract(c.value, '$.name') AS name FROM tasks t,
           json_each(t.doc, '$._spec.containers') c
           WHERE json_extract(c.value, '$.metadataToken') = ? LIMIT 1""",
        (token,),
    )
    return (loads(row["doc"]), str(row["name"])) if row else None


def by_credentials_id(db: Database, credentials_id: str) -> Doc | None:
    """The task whose ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` ends in ``credentials_id``."""
    row = db.query_one(
        "SELECT doc FROM tasks WHERE json_extract(doc, '$._spec.credentialsId') = ? LIMIT 1", (credentials_id,)
    )
    return loads(row["doc"]) if row else None
