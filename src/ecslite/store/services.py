"""Service rows and what hangs off them: events, service deployments, service revisions and the
scheduler's record of the tasks it launched (spec/ecs.md §4).

- ``services``: one row per service ARN (a name reused after INACTIVE replaces the old row and
  everything below it). ``status`` mirrors the document; the cluster counters read
  ``json_extract(doc, '$.launchType')``, so a capacity-provider service keeps a ``launchType``
  only when it has one.
- ``service_events``: newest first, at most :data:`MAX_EVENTS` kept per service (§4.3).
- ``service_deployments`` / ``service_revisions``: the history behind ListServiceDeployments,
  DescribeServiceDeployments and DescribeServiceRevisions; a revision never changes after it is
  written, except that container image digests are filled in once the first task resolved them.
- ``service_tasks``: the scheduler's own bookkeeping, one row per task it launched, written in the
  same transaction as the task row (the intent and the act are one commit, so a crash can neither
  duplicate nor orphan a task); ``healthy_at`` remembers that a task was once counted healthy and
  ``settled`` that its end was accounted for (breaker, throttle, events), exactly once.

Counts (``runningCount``, ``pendingCount``) are never stored: :func:`task_counts` reads them from
the task rows (``tasks.service_name``, ``tasks.started_by`` = the deployment id).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ecslite.store import tags as tag_store
from ecslite.store.db import Database, dumps, loads

KIND = "service"
MAX_EVENTS = 100
PENDING_STATUSES = ("PROVISIONING", "PENDING", "ACTIVATING")

Doc = dict[str, Any]


# -- services ------------------------------------------------------------------------------------


def get(db: Database, arn: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM services WHERE arn=?", (arn,))
    return loads(row["doc"]) if row else None


def insert(db: Database, account: str, region: str, cluster: str, doc: Doc) -> None:
    """A new service; an INACTIVE service of the same name goes first, with its history."""
    remove(db, doc["serviceArn"])
    db.execute(
        "INSERT INTO services (account, region, cluster, name, arn, status, doc) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (account, region, cluster, doc["serviceName"], doc["serviceArn"], doc["status"], dumps(doc)),
    )
    db.changed(KIND, doc["serviceArn"])


def put(db: Database, doc: Doc) -> None:
    db.execute("UPDATE services SET status=?, doc=? WHERE arn=?", (doc["status"], dumps(doc), doc["serviceArn"]))
    db.changed(KIND, doc["serviceArn"])


def remove(db: Database, arn: str) -> None:
    """Forget a service and everything recorded for it (its name is being reused)."""
    if db.query_one("SELECT 1 FROM services WHERE arn=?", (arn,)) is None:
        return
    db.execute("DELETE FROM services WHERE arn=?", (arn,))
    for table in ("service_events", "service_deployments", "service_revisions", "service_tasks"):
        db.execute(f"DELETE FROM {table} WHERE service_arn=?", (arn,))
    tag_store.remove(db, arn, [key for key, _ in tag_store.get(db, arn)])
    db.changed(KIND, arn)


@dataclass(frozen=True, slots=True)
class ServiceFilter:
    account: str
    region: str
    cluster: str
    launch_type: str | None = None
    scheduling_strategy: str | None = None
    # True: only services an Express Mode service manages (resourceManagementType ECS); False: none of them.
    express: bool | None = None


def list_page(db: Database, where: ServiceFilter, after: int | None, limit: int) -> list[tuple[int, str]]:
    """``(rid, arn)`` of ACTIVE services in creation order (DRAINING ones are hidden at once, §4.2)."""
    sql = """SELECT rid, arn FROM services WHERE account=? AND region=? AND cluster=? AND status='ACTIVE'
             AND rid > ?"""
    args: list[Any] = [where.account, where.region, where.cluster, after or 0]
    if where.launch_type is not None:
        sql += " AND json_extract(doc, '$.launchType') = ?"
        args.append(where.launch_type)
    if where.scheduling_strategy is not None:
        sql += " AND json_extract(doc, '$.schedulingStrategy') = ?"
        args.append(where.scheduling_strategy)
    if where.express is not None:
        sql += f""" AND arn {"" if where.express else "NOT "}IN (SELECT arn FROM express_services
                    WHERE account=? AND region=? AND status != 'INACTIVE')"""
        args += [where.account, where.region]
    sql += " ORDER BY rid LIMIT ?"
    args.append(limit)
    return [(r["rid"], r["arn"]) for r in db.query(sql, args)]


def namespace_page(
    db: Database, account: str, region: str, namespaces: Iterable[str], after: int | None, limit: int
) -> list[tuple[int, str]]:
    """ACTIVE services whose Service Connect namespace (their own, or their cluster's default when
    they name none) is one of ``namespaces`` (a name and its ARN)."""
    names = list(namespaces)
    marks = ",".join("?" * len(names))
    rows = db.query(
        f"""SELECT s.rid, s.arn FROM services s JOIN clusters c
            ON c.account = s.account AND c.region = s.region AND c.name = s.cluster
            WHERE s.account=? AND s.region=? AND s.status='ACTIVE' AND s.rid > ?
            AND json_extract(s.doc, '$._serviceConnectConfiguration.enabled') = 1
            AND COALESCE(json_extract(s.doc, '$._serviceConnectConfiguration.namespace'),
                         json_extract(c.doc, '$.serviceConnectDefaults.namespace')) IN ({marks})
            ORDER BY s.rid LIMIT ?""",
        (account, region, after or 0, *names, limit),
    )
    return [(r["rid"], r["arn"]) for r in rows]


def live_arns(db: Database) -> list[str]:
    """Every ACTIVE or DRAINING service of every partition (what the scheduler looks after)."""
    return [r["arn"] for r in db.query("SELECT arn FROM services WHERE status != 'INACTIVE' ORDER BY rid")]


# -- task rows of a service ------------------------------------------------------------------------


def task_docs(db: Database, account: str, region: str, cluster: str, service: str) -> list[Doc]:
    """The service's tasks that are not yet STOPPED, oldest first."""
    rows = db.query(
        """SELECT doc FROM tasks WHERE account=? AND region=? AND cluster=? AND service_name=?
           AND last_status != 'STOPPED' ORDER BY rid""",
        (account, region, cluster, service),
    )
    return [loads(r["doc"]) for r in rows]


@dataclass(frozen=True, slots=True)
class Counts:
    running: int = 0
    pending: int = 0


def task_counts(db: Database, account: str, region: str, cluster: str, service: str) -> dict[str, Counts]:
    """``runningCount``/``pendingCount`` per deployment id, from the task rows desired RUNNING (§4.3)."""
    rows = db.query(
        """SELECT started_by, last_status, COUNT(*) AS n FROM tasks
           WHERE account=? AND region=? AND cluster=? AND service_name=? AND desired_status='RUNNING'
           AND last_status != 'STOPPED' GROUP BY started_by, last_status""",
        (account, region, cluster, service),
    )
    out: dict[str, Counts] = {}
    for row in rows:
        current = out.get(row["started_by"], Counts())
        if row["last_status"] == "RUNNING":
            current = Counts(current.running + row["n"], current.pending)
        elif row["last_status"] in PENDING_STATUSES:
            current = Counts(current.running, current.pending + row["n"])
        out[row["started_by"]] = current
    return out


def revision_counts(db: Database, service: Mapping[str, Any]) -> dict[str, Counts]:
    """Running/pending tasks per service revision (the revision of each deployment that has them)."""
    parts = service["serviceArn"].split(":", 5)
    account, region, cluster = parts[4], parts[3], parts[5].split("/")[1]
    counts = task_counts(db, account, region, cluster, service["serviceName"])
    out: dict[str, Counts] = {}
    for deployment in service.get("deployments") or ():
        count = counts.get(deployment["id"], Counts())
        before = out.get(deployment["_revisionArn"], Counts())
        out[deployment["_revisionArn"]] = Counts(before.running + count.running, before.pending + count.pending)
    return out


def revision_summary(arn: str, counts: Mapping[str, Counts], requested: int | None = None) -> Doc:
    """``{arn, requestedTaskCount, runningTaskCount, pendingTaskCount}``; requested defaults to the live tasks."""
    count = counts.get(arn, Counts())
    return {
        "arn": arn,
        "requestedTaskCount": count.running + count.pending if requested is None else requested,
        "runningTaskCount": count.running,
        "pendingTaskCount": count.pending,
    }


def freeze_counts(db: Database, service: Mapping[str, Any], record: Doc, requested: int | None) -> None:
    """A service deployment that ends keeps the counts it ended with (``requested``: its target's)."""
    counts = revision_counts(db, service)
    record["targetServiceRevision"] = revision_summary(record["targetServiceRevision"]["arn"], counts, requested)
    record["sourceServiceRevisions"] = [
        revision_summary(item["arn"], counts) for item in record.get("sourceServiceRevisions") or ()
    ]


# -- the scheduler's task records ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskRecord:
    task_arn: str
    deployment_id: str
    created_at: float
    healthy_at: float | None
    for_health: bool  # the scheduler stopped it for failing health checks


def record_launch(db: Database, service_arn: str, task_arn: str, deployment_id: str, now: float) -> None:
    db.execute(
        "INSERT INTO service_tasks (service_arn, task_arn, deployment_id, created_at) VALUES (?, ?, ?, ?)",
        (service_arn, task_arn, deployment_id, now),
    )


def open_records(db: Database, service_arn: str) -> list[TaskRecord]:
    """Tasks the scheduler launched whose end is not yet accounted for."""
    rows = db.query(
        """SELECT task_arn, deployment_id, created_at, healthy_at, for_health FROM service_tasks
           WHERE service_arn=? AND settled=0 ORDER BY rid""",
        (service_arn,),
    )
    return [
        TaskRecord(r["task_arn"], r["deployment_id"], float(r["created_at"]), r["healthy_at"], bool(r["for_health"]))
        for r in rows
    ]


def mark_healthy(db: Database, task_arn: str, now: float) -> None:
    db.execute("UPDATE service_tasks SET healthy_at=? WHERE task_arn=? AND healthy_at IS NULL", (now, task_arn))


def mark_for_health(db: Database, task_arn: str) -> None:
    db.execute("UPDATE service_tasks SET for_health=1 WHERE task_arn=?", (task_arn,))


def settle(db: Database, task_arn: str) -> None:
    db.execute("UPDATE service_tasks SET settled=1 WHERE task_arn=?", (task_arn,))


def prune_records(db: Database) -> int:
    """Forget settled records whose task row is gone (purged after its retention)."""
    cursor = db.execute(
        """DELETE FROM service_tasks WHERE settled=1
           AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.arn = service_tasks.task_arn)"""
    )
    return int(cursor.rowcount)


# -- events ----------------------------------------------------------------------------------------


def add_event(db: Database, service_arn: str, message: str, now: float) -> str:
    """Record an event (uuid id); only the newest :data:`MAX_EVENTS` of the service are kept."""
    event_id = str(uuid.uuid4())
    db.execute(
        "INSERT INTO service_events (service_arn, id, created_at, message) VALUES (?, ?, ?, ?)",
        (service_arn, event_id, now, message),
    )
    db.execute(
        """DELETE FROM service_events WHERE service_arn=? AND rid NOT IN
           (SELECT rid FROM service_events WHERE service_arn=? ORDER BY rid DESC LIMIT ?)""",
        (service_arn, service_arn, MAX_EVENTS),
    )
    db.changed(KIND, service_arn)
    return event_id


def events(db: Database, service_arn: str, limit: int = MAX_EVENTS) -> list[Doc]:
    """``[{id, createdAt, message}]``, newest first."""
    rows = db.query(
        "SELECT id, created_at, message FROM service_events WHERE service_arn=? ORDER BY rid DESC LIMIT ?",
        (service_arn, limit),
    )
    return [{"id": r["id"], "createdAt": r["created_at"], "message": r["message"]} for r in rows]


def latest_event(db: Database, service_arn: str) -> Doc | None:
    found = events(db, service_arn, 1)
    return found[0] if found else None


# -- service deployments and revisions -----------------------------------------------------------


def put_service_deployment(db: Database, doc: Doc) -> None:
    db.execute(
        """INSERT INTO service_deployments (service_arn, arn, status, created_at, doc) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (arn) DO UPDATE SET status=excluded.status, doc=excluded.doc""",
        (doc["serviceArn"], doc["serviceDeploymentArn"], doc["status"], doc["createdAt"], dumps(doc)),
    )
    db.changed(KIND, doc["serviceArn"])


def get_service_deployment(db: Database, arn: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM service_deployments WHERE arn=?", (arn,))
    return loads(row["doc"]) if row else None


@dataclass(frozen=True, slots=True)
class DeploymentFilter:
    service_arn: str
    statuses: tuple[str, ...] = ()
    created_after: float | None = None
    created_before: float | None = None


def service_deployment_page(
    db: Database, where: DeploymentFilter, after: int | None, limit: int
) -> list[tuple[int, Doc]]:
    """``(rid, doc)`` of a service's deployments, newest first, older than ``after``."""
    sql = "SELECT rid, doc FROM service_deployments WHERE service_arn=?"
    args: list[Any] = [where.service_arn]
    if after is not None:
        sql += " AND rid < ?"
        args.append(after)
    if where.statuses:
        sql += f" AND status IN ({','.join('?' * len(where.statuses))})"
        args.extend(where.statuses)
    if where.created_after is not None:
        sql += " AND created_at >= ?"
        args.append(where.created_after)
    if where.created_before is not None:
        sql += " AND created_at <= ?"
        args.append(where.created_before)
    sql += " ORDER BY rid DESC LIMIT ?"
    args.append(limit)
    return [(r["rid"], loads(r["doc"])) for r in db.query(sql, args)]


def put_revision(db: Database, doc: Doc) -> None:
    db.execute(
        """INSERT INTO service_revisions (service_arn, arn, doc) VALUES (?, ?, ?)
           ON CONFLICT (arn) DO UPDATE SET doc=excluded.doc""",
        (doc["serviceArn"], doc["serviceRevisionArn"], dumps(doc)),
    )


def get_revision(db: Database, arn: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM service_revisions WHERE arn=?", (arn,))
    return loads(row["doc"]) if row else None
