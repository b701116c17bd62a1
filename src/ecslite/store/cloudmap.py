"""Cloud Map rows: namespaces, services, instances and operations (spec/ecs.md §8.1).

Invariants:
- Every row belongs to one (account, region). Namespace and service ids are unique there; an
  instance is keyed by (service id, instance id), so re-registering an id replaces the instance.
- ``doc`` is the resource as the API shows it (``Namespace``, ``Service``, ``Instance``,
  ``Operation``); counts (``ServiceCount``, ``InstanceCount``) are never stored, they are read.
- Each change of a service's instances (added, replaced, removed, health changed) raises the
  service's ``revision`` by one in the same transaction: DiscoverInstancesRevision reads it.
- ``owner`` names the ECS task an instance was registered for (control.service_registry); instances
  registered through the API have none.
- Operations are written once, complete, in the transaction that did their work; ``request_key``
  (the operation kind and the caller's CreatorRequestId) finds the first answer of a retried request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecslite.model.cloudmap import OperationType, initial_health, operation_doc
from ecslite.store.db import Database, dumps, loads

NAMESPACE_KIND = "sd-namespace"
SERVICE_KIND = "sd-service"
INSTANCE_KIND = "sd-instance"

Doc = dict[str, Any]


# -- namespaces ----------------------------------------------------------------------------------


def insert_namespace(db: Database, account: str, region: str, doc: Doc, vpc_id: str | None) -> None:
    db.execute(
        "INSERT INTO sd_namespaces (account, region, id, arn, name, type, vpc_id, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (account, region, doc["Id"], doc["Arn"], doc["Name"], doc["Type"], vpc_id, dumps(doc)),
    )
    db.changed(NAMESPACE_KIND, doc["Arn"])


def put_namespace(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        "UPDATE sd_namespaces SET doc=? WHERE account=? AND region=? AND id=?", (dumps(doc), account, region, doc["Id"])
    )
    db.changed(NAMESPACE_KIND, doc["Arn"])


def get_namespace(db: Database, account: str, region: str, ref: str) -> Doc | None:
    """A namespace by id or ARN."""
    column = "arn" if ref.startswith("arn:") else "id"
    row = db.query_one(
        f"SELECT doc FROM sd_namespaces WHERE account=? AND region=? AND {column}=?", (account, region, ref)
    )
    return loads(row["doc"]) if row else None


def namespaces(db: Database, account: str, region: str) -> list[Doc]:
    rows = db.query("SELECT doc FROM sd_namespaces WHERE account=? AND region=? ORDER BY rid", (account, region))
    return [loads(r["doc"]) for r in rows]


def namespaces_named(db: Database, account: str, region: str, name: str) -> list[Doc]:
    rows = db.query(
        "SELECT doc FROM sd_namespaces WHERE account=? AND region=? AND name=? ORDER BY rid", (account, region, name)
    )
    return [loads(r["doc"]) for r in rows]


def delete_namespace(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute("DELETE FROM sd_namespaces WHERE account=? AND region=? AND id=?", (account, region, doc["Id"]))
    _untag_all(db, doc["Arn"])
    db.changed(NAMESPACE_KIND, doc["Arn"])


def service_count(db: Database, account: str, region: str, namespace_id: str) -> int:
    row = db.query_one(
        "SELECT COUNT(*) AS n FROM sd_services WHERE account=? AND region=? AND namespace_id=?",
        (account, region, namespace_id),
    )
    return int(row["n"]) if row else 0


# -- services ------------------------------------------------------------------------------------


def insert_service(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        "INSERT INTO sd_services (account, region, id, arn, namespace_id, name, doc) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (account, region, doc["Id"], doc["Arn"], doc["NamespaceId"], doc["Name"], dumps(doc)),
    )
    db.changed(SERVICE_KIND, doc["Arn"])


def put_service(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        "UPDATE sd_services SET doc=? WHERE account=? AND region=? AND id=?", (dumps(doc), account, region, doc["Id"])
    )
    db.changed(SERVICE_KIND, doc["Arn"])


def get_service(db: Database, account: str, region: str, ref: str) -> Doc | None:
    """A service by id or ARN."""
    column = "arn" if ref.startswith("arn:") else "id"
    row = db.query_one(
        f"SELECT doc FROM sd_services WHERE account=? AND region=? AND {column}=?", (account, region, ref)
    )
    return loads(row["doc"]) if row else None


def service_by_arn(db: Database, arn: str) -> tuple[str, str, Doc] | None:
    """``(account, region, doc)`` of the service with this ARN, in whichever partition holds it."""
    row = db.query_one("SELECT account, region, doc FROM sd_services WHERE arn=?", (arn,))
    return (str(row["account"]), str(row["region"]), loads(row["doc"])) if row else None


def service_named(db: Database, account: str, region: str, namespace_id: str, name: str) -> Doc | None:
    """The namespace's service of this name; DNS names are case-insensitive, so is the match."""
    row = db.query_one(
        "SELECT doc FROM sd_services WHERE account=? AND region=? AND namespace_id=? AND lower(name)=lower(?)",
        (account, region, namespace_id, name),
    )
    return loads(row["doc"]) if row else None


def services(db: Database, account: str, region: str) -> list[Doc]:
    rows = db.query("SELECT doc FROM sd_services WHERE account=? AND region=? ORDER BY rid", (account, region))
    return [loads(r["doc"]) for r in rows]


def delete_service(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute("DELETE FROM sd_services WHERE account=? AND region=? AND id=?", (account, region, doc["Id"]))
    _untag_all(db, doc["Arn"])
    db.changed(SERVICE_KIND, doc["Arn"])


def revision(db: Database, account: str, region: str, service_id: str) -> int:
    row = db.query_one(
        "SELECT revision FROM sd_services WHERE account=? AND region=? AND id=?", (account, region, service_id)
    )
    return int(row["revision"]) if row else 0


def instance_count(db: Database, account: str, region: str, service_id: str) -> int:
    row = db.query_one(
        "SELECT COUNT(*) AS n FROM sd_instances WHERE account=? AND region=? AND service_id=?",
        (account, region, service_id),
    )
    return int(row["n"]) if row else 0


# -- instances -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instance:
    service_id: str
    id: str
    health: str  # HEALTHY | UNHEALTHY | UNKNOWN (no health checking)
    owner: str | None
    doc: Doc  # {Id, CreatorRequestId, Attributes, CreatedByAccount}

    @property
    def attributes(self) -> dict[str, str]:
        found: dict[str, str] = self.doc.get("Attributes") or {}
        return found


def _instance(row: Any) -> Instance:
    return Instance(str(row["service_id"]), str(row["id"]), str(row["health"]), row["owner"], loads(row["doc"]))


def put_instance(db: Database, account: str, region: str, service: Doc, instance: Instance) -> None:
    """Register (or replace) an instance; the service's revision moves on."""
    db.execute(
        """INSERT INTO sd_instances (account, region, service_id, id, health, owner, doc) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (account, region, service_id, id)
           DO UPDATE SET health=excluded.health, owner=excluded.owner, doc=excluded.doc""",
        (account, region, instance.service_id, instance.id, instance.health, instance.owner, dumps(instance.doc)),
    )
    _bump(db, account, region, service)


def get_instance(db: Database, account: str, region: str, service_id: str, instance_id: str) -> Instance | None:
    row = db.query_one(
        "SELECT * FROM sd_instances WHERE account=? AND region=? AND service_id=? AND id=?",
        (account, region, service_id, instance_id),
    )
    return _instance(row) if row else None


def instances(db: Database, account: str, region: str, service_id: str) -> list[Instance]:
    rows = db.query(
        "SELECT * FROM sd_instances WHERE account=? AND region=? AND service_id=? ORDER BY rid",
        (account, region, service_id),
    )
    return [_instance(r) for r in rows]


def set_health(db: Database, account: str, region: str, service: Doc, instance_id: str, health: str) -> bool:
    """Change an instance's health; False when it already had it (no new revision)."""
    cursor = db.execute(
        "UPDATE sd_instances SET health=? WHERE account=? AND region=? AND service_id=? AND id=? AND health!=?",
        (health, account, region, service["Id"], instance_id, health),
    )
    if cursor.rowcount:
        _bump(db, account, region, service)
    return bool(cursor.rowcount)


def delete_instance(db: Database, account: str, region: str, service: Doc, instance_id: str) -> bool:
    cursor = db.execute(
        "DELETE FROM sd_instances WHERE account=? AND region=? AND service_id=? AND id=?",
        (account, region, service["Id"], instance_id),
    )
    if cursor.rowcount:
        _bump(db, account, region, service)
    return bool(cursor.rowcount)


@dataclass(frozen=True, slots=True)
class OwnedInstance:
    account: str
    region: str
    service_id: str
    instance_id: str
    health: str
    attributes: dict[str, str]


def owned_by(db: Database, owner: str) -> list[OwnedInstance]:
    rows = db.query("SELECT account, region, service_id, id, health, doc FROM sd_instances WHERE owner=?", (owner,))
    return [
        OwnedInstance(
            str(r["account"]),
            str(r["region"]),
            str(r["service_id"]),
            str(r["id"]),
            str(r["health"]),
            dict(loads(r["doc"]).get("Attributes") or {}),
        )
        for r in rows
    ]


def owners(db: Database) -> list[str]:
    return [str(r["owner"]) for r in db.query("SELECT DISTINCT owner FROM sd_instances WHERE owner IS NOT NULL")]


def _bump(db: Database, account: str, region: str, service: Doc) -> None:
    db.execute(
        "UPDATE sd_services SET revision=revision+1 WHERE account=? AND region=? AND id=?",
        (account, region, service["Id"]),
    )
    db.changed(INSTANCE_KIND, service["Arn"])


@dataclass(frozen=True, slots=True)
class Registration:
    """One RegisterInstance, from the API or from ECS (``owner`` = the task's ARN)."""

    instance_id: str
    attributes: dict[str, str]
    owner: str | None = None
    creator_request_id: str | None = None
    request_key: str | None = None
    fingerprint: str = ""


def register(db: Database, account: str, region: str, service: Doc, reg: Registration, now: float) -> str:
    """Register (or replace) an instance and record its REGISTER_INSTANCE operation; returns the
    operation id. A replaced instance keeps its health (only its attributes change)."""
    known = get_instance(db, account, region, service["Id"], reg.instance_id)
    health = known.health if known is not None else initial_health(service, reg.attributes).value
    doc: Doc = {"Id": reg.instance_id, "Attributes": dict(reg.attributes), "CreatedByAccount": account}
    if reg.creator_request_id:
        doc["CreatorRequestId"] = reg.creator_request_id
    put_instance(db, account, region, service, Instance(service["Id"], reg.instance_id, health, reg.owner, doc))
    targets = {"SERVICE": service["Id"], "INSTANCE": reg.instance_id}
    operation = operation_doc(OperationType.REGISTER_INSTANCE, targets, now, reg.fingerprint)
    add_operation(db, account, region, operation, reg.request_key)
    return str(operation["Id"])


def deregister(db: Database, account: str, region: str, service: Doc, instance_id: str, now: float) -> str:
    delete_instance(db, account, region, service, instance_id)
    targets = {"SERVICE": service["Id"], "INSTANCE": instance_id}
    operation = operation_doc(OperationType.DEREGISTER_INSTANCE, targets, now)
    add_operation(db, account, region, operation)
    return str(operation["Id"])


# -- operations ----------------------------------------------------------------------------------


def add_operation(db: Database, account: str, region: str, doc: Doc, request_key: str | None = None) -> None:
    db.execute(
        "INSERT INTO sd_operations (account, region, id, request_key, doc) VALUES (?, ?, ?, ?, ?)",
        (account, region, doc["Id"], request_key, dumps(doc)),
    )


def get_operation(db: Database, account: str, region: str, operation_id: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM sd_operations WHERE account=? AND region=? AND id=?", (account, region, operation_id)
    )
    return loads(row["doc"]) if row else None


def operation_for_request(db: Database, account: str, region: str, request_key: str) -> tuple[Doc, str] | None:
    """The operation a request with this key made, and the fingerprint of that request."""
    row = db.query_one(
        "SELECT doc FROM sd_operations WHERE account=? AND region=? AND request_key=? ORDER BY rid LIMIT 1",
        (account, region, request_key),
    )
    if row is None:
        return None
    doc = loads(row["doc"])
    return doc, str(doc.get("_request") or "")


def operations(db: Database, account: str, region: str) -> list[Doc]:
    rows = db.query("SELECT doc FROM sd_operations WHERE account=? AND region=? ORDER BY rid", (account, region))
    return [loads(r["doc"]) for r in rows]


# -- DNS -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DnsNamespace:
    account: str
    region: str
    id: str
    name: str
    vpc_id: str | None


def dns_namespaces(db: Database, names: Sequence[str]) -> list[DnsNamespace]:
    """Private DNS namespaces whose name is one of ``names`` (lower case), in every partition."""
    if not names:
        return []
    marks = ", ".join("?" for _ in names)
    rows = db.query(
        f"""SELECT account, region, id, name, vpc_id FROM sd_namespaces
            WHERE type='DNS_PRIVATE' AND lower(name) IN ({marks}) ORDER BY rid""",
        tuple(names),
    )
    return [DnsNamespace(r["account"], r["region"], r["id"], str(r["name"]).lower(), r["vpc_id"]) for r in rows]


def _untag_all(db: Database, arn: str) -> None:
    db.execute("DELETE FROM tags WHERE resource_arn=?", (arn,))
