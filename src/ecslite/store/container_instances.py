"""Container instance rows (spec/ecs.md §5.1) and the resources their tasks hold.

The document is the ContainerInstance shape without the computed parts: ``remainingResources``,
``runningTasksCount`` and ``pendingTasksCount`` are derived on every read from the tasks placed on
the instance (``tasks.container_instance`` = the instance ARN, not yet STOPPED), so they can never
drift from the tasks. Each task's reservation is kept at launch in ``_spec.reservation``.

Attributes live in the shared ``attributes`` table (``target_type`` ``container-instance``,
``target_id`` the instance ARN) so that PutAttributes/ListAttributes and placement see the same
set as DescribeContainerInstances.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ecslite.store import attributes as attribute_store
from ecslite.store.db import Database, dumps, loads

KIND = "container-instance"

Doc = dict[str, Any]


def put(db: Database, account: str, region: str, cluster: str, doc: Doc) -> None:
    instance_id = doc["containerInstanceArn"].rsplit("/", 1)[1]
    db.execute(
        """INSERT INTO container_instances (account, region, cluster, id, arn, status, ec2_instance_id, doc)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (account, region, cluster, id) DO UPDATE SET status=excluded.status,
           ec2_instance_id=excluded.ec2_instance_id, doc=excluded.doc""",
        (
            account,
            region,
            cluster,
            instance_id,
            doc["containerInstanceArn"],
            doc["status"],
            doc.get("ec2InstanceId"),
            dumps(doc),
        ),
    )
    db.changed(KIND, doc["containerInstanceArn"])


def get(db: Database, account: str, region: str, cluster: str, instance_id: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM container_instances WHERE account=? AND region=? AND cluster=? AND id=?",
        (account, region, cluster, instance_id),
    )
    return loads(row["doc"]) if row else None


def by_ec2_instance(db: Database, account: str, region: str, cluster: str, ec2_id: str) -> Doc | None:
    row = db.query_one(
        """SELECT doc FROM container_instances WHERE account=? AND region=? AND cluster=? AND ec2_instance_id=?
           AND status != 'INACTIVE' ORDER BY rid DESC LIMIT 1""",
        (account, region, cluster, ec2_id),
    )
    return loads(row["doc"]) if row else None


def list_page(
    db: Database, account: str, region: str, cluster: str, status: str | None, after: int | None, limit: int
) -> list[tuple[int, str]]:
    """``(rid, arn)`` in registration order; without ``status`` ACTIVE and DRAINING ones (ECS's default)."""
    if status is None:
        where, args = "status IN ('ACTIVE', 'DRAINING')", []
    else:
        where, args = "status=?", [status]
    rows = db.query(
        f"""SELECT rid, arn FROM container_instances WHERE account=? AND region=? AND cluster=? AND {where}
            AND rid > ? ORDER BY rid LIMIT ?""",
        [account, region, cluster, *args, after or 0, limit],
    )
    return [(r["rid"], r["arn"]) for r in rows]


def in_cluster(db: Database, account: str, region: str, cluster: str, statuses: Iterable[str]) -> list[Doc]:
    wanted = list(statuses)
    marks = ",".join("?" * len(wanted))
    rows = db.query(
        f"""SELECT doc FROM container_instances WHERE account=? AND region=? AND cluster=? AND status IN ({marks})
            ORDER BY rid""",
        [account, region, cluster, *wanted],
    )
    return [loads(r["doc"]) for r in rows]


# -- attributes ----------------------------------------------------------------------------------


def attributes(db: Database, arn: str) -> list[dict[str, str]]:
    """The instance's attributes as the API shows them (``value`` left out when unset)."""
    out = []
    for name, value in attribute_store.of_target(db, attribute_store.INSTANCE_KIND, arn).items():
        out.append({"name": name} if value is None else {"name": name, "value": value})
    return out


def put_attributes(
    db: Database, account: str, region: str, cluster: str, arn: str, items: Iterable[tuple[str, str | None]]
) -> None:
    for name, value in items:
        attribute_store.put(db, account, region, cluster, attribute_store.INSTANCE_KIND, arn, name, value)


# -- resources held by tasks ---------------------------------------------------------------------


@dataclass(slots=True)
class Usage:
    """What the not-yet-STOPPED tasks on an instance hold, and how many run or wait."""

    cpu: int = 0
    memory: int = 0
    tcp_ports: set[int] = field(default_factory=set)
    udp_ports: set[int] = field(default_factory=set)
    running: int = 0
    pending: int = 0


def usage(db: Database, arn: str) -> Usage:
    rows = db.query(
        """SELECT last_status, json_extract(doc, '$._spec.reservation') AS r FROM tasks
           WHERE container_instance=? AND last_status != 'STOPPED'""",
        (arn,),
    )
    out = Usage()
    for row in rows:
        reservation = loads(row["r"]) if row["r"] else {}
        out.cpu += int(reservation.get("cpu", 0))
        out.memory += int(reservation.get("memory", 0))
        out.tcp_ports.update(int(p) for p in reservation.get("tcpPorts", ()))
        out.udp_ports.update(int(p) for p in reservation.get("udpPorts", ()))
        if row["last_status"] == "RUNNING":
            out.running += 1
        elif row["last_status"] in ("PROVISIONING", "PENDING", "ACTIVATING"):
            out.pending += 1
    return out
