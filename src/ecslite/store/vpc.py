"""The virtual VPC's rows: VPCs, subnets, security groups and network interfaces (ENIs and the
endpoints of bridge-mode tasks).

Invariants:
- A partition's default VPC is created once (``vpc_partitions`` remembers it), inside the
  transaction of the first request that uses the partition; deleted, it stays deleted, as in AWS.
- Network interface addresses are unique per pool (``UNIQUE (pool, address)``) across every
  partition: a pool is a subnet CIDR (subnets with the same CIDR share it, see model.vpc) or the
  bridge-mode range. :func:`allocate` picks the lowest free address inside the caller's
  transaction, so two allocations can never get the same address.
- An interface row is keyed by its id, chosen before allocation, which makes allocation
  idempotent: a retried controller step gets the row it made the first time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecslite.model.vpc import default_layout, gateway, next_free_address, stable_id, zone_names
from ecslite.model.vpc_docs import security_group_doc, subnet_doc, vpc_doc
from ecslite.store.db import Database, dumps, loads

Doc = dict[str, Any]
VPC_KIND = "vpc"
SUBNET_KIND = "subnet"
GROUP_KIND = "security-group"
INTERFACE_KIND = "network-interface"
DEFAULT_GROUP = "default"
DEFAULT_GROUP_DESCRIPTION = "default VPC security group"


# -- the default VPC ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DefaultIds:
    """The ids of a partition's default VPC: the same for the same (account, region, CIDR)."""

    vpc: str
    subnets: tuple[str, ...]  # in zone order: <region>a, b, c
    group: str


def default_ids(account: str, region: str, vpc_cidr: str) -> DefaultIds:
    vpc_id = stable_id("vpc", account, region, vpc_cidr)
    subnets = tuple(stable_id("subnet", account, region, str(cidr)) for _, cidr in default_layout(vpc_cidr).subnets)
    return DefaultIds(vpc=vpc_id, subnets=subnets, group=stable_id("sg", account, region, vpc_id))


def ensure_default(db: Database, account: str, region: str, vpc_cidr: str, now: float) -> bool:
    """Create the partition's default VPC (a subnet per zone, the ``default`` group) the first time.

    Returns True when it was created now. Ids are stable (:func:`default_ids`), so scripts holding
    them keep working after a reset.
    """
    if db.query_one("SELECT 1 FROM vpc_partitions WHERE account=? AND region=?", (account, region)) is not None:
        return False
    layout = default_layout(vpc_cidr)
    ids = default_ids(account, region, vpc_cidr)
    with db.transaction():
        db.execute(
            "INSERT OR IGNORE INTO vpc_partitions (account, region, initialized_at) VALUES (?, ?, ?)",
            (account, region, now),
        )
        put_vpc(db, account, region, vpc_doc(account, region, ids.vpc, vpc_cidr, default=True, tags={}))
        for (_, cidr), zone, subnet_id in zip(layout.subnets, zone_names(region), ids.subnets, strict=True):
            put_subnet(
                db,
                account,
                region,
                subnet_doc(account, region, subnet_id, ids.vpc, str(cidr), zone, default=True, tags={}),
            )
        put_default_group(db, account, region, ids.vpc, ids.group)
    return True


def put_default_group(db: Database, account: str, region: str, vpc_id: str, group_id: str) -> Doc:
    doc = security_group_doc(
        account, region, group_id, vpc_id, DEFAULT_GROUP, DEFAULT_GROUP_DESCRIPTION, tags={}, self_ingress=True
    )
    put_group(db, account, region, doc)
    return doc


# -- VPCs --------------------------------------------------------------------------------------


def put_vpc(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        """INSERT INTO vpcs (account, region, id, cidr, is_default, doc) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (account, region, id) DO UPDATE SET doc=excluded.doc""",
        (account, region, doc["VpcId"], doc["CidrBlock"], int(bool(doc["IsDefault"])), dumps(doc)),
    )
    db.changed(VPC_KIND, doc["VpcId"])


def get_vpc(db: Database, account: str, region: str, vpc_id: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM vpcs WHERE account=? AND region=? AND id=?", (account, region, vpc_id))
    return loads(row["doc"]) if row else None


def default_vpc(db: Database, account: str, region: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM vpcs WHERE account=? AND region=? AND is_default=1 ORDER BY rid LIMIT 1", (account, region)
    )
    return loads(row["doc"]) if row else None


def vpcs(db: Database, account: str, region: str) -> list[tuple[int, Doc]]:
    rows = db.query("SELECT rid, doc FROM vpcs WHERE account=? AND region=? ORDER BY rid", (account, region))
    return [(r["rid"], loads(r["doc"])) for r in rows]


def vpc_cidrs_on_host(db: Database) -> list[str]:
    """Every VPC's CIDR of every partition: their resolvers (base + 2) share the host bridge."""
    return [r["cidr"] for r in db.query("SELECT DISTINCT cidr FROM vpcs")]


def delete_vpc(db: Database, account: str, region: str, vpc_id: str) -> None:
    db.execute("DELETE FROM security_groups WHERE account=? AND region=? AND vpc_id=?", (account, region, vpc_id))
    db.execute("DELETE FROM vpcs WHERE account=? AND region=? AND id=?", (account, region, vpc_id))
    db.changed(VPC_KIND, vpc_id)


# -- subnets -----------------------------------------------------------------------------------


def put_subnet(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        """INSERT INTO subnets (account, region, id, vpc_id, cidr, zone, doc) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (account, region, id) DO UPDATE SET doc=excluded.doc""",
        (account, region, doc["SubnetId"], doc["VpcId"], doc["CidrBlock"], doc["AvailabilityZone"], dumps(doc)),
    )
    db.changed(SUBNET_KIND, doc["SubnetId"])


def get_subnet(db: Database, account: str, region: str, subnet_id: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM subnets WHERE account=? AND region=? AND id=?", (account, region, subnet_id))
    return loads(row["doc"]) if row else None


def subnets(db: Database, account: str, region: str, vpc_id: str | None = None) -> list[tuple[int, Doc]]:
    sql = "SELECT rid, doc FROM subnets WHERE account=? AND region=?"
    args: list[Any] = [account, region]
    if vpc_id is not None:
        sql += " AND vpc_id=?"
        args.append(vpc_id)
    return [(r["rid"], loads(r["doc"])) for r in db.query(sql + " ORDER BY rid", args)]


def subnet_cidrs_on_host(db: Database) -> list[str]:
    """Every subnet CIDR of every partition: they all share the host bridge."""
    return [r["cidr"] for r in db.query("SELECT DISTINCT cidr FROM subnets")]


def delete_subnet(db: Database, account: str, region: str, subnet_id: str) -> None:
    db.execute("DELETE FROM subnets WHERE account=? AND region=? AND id=?", (account, region, subnet_id))
    db.changed(SUBNET_KIND, subnet_id)


# -- security groups ---------------------------------------------------------------------------


def put_group(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        """INSERT INTO security_groups (account, region, id, vpc_id, name, doc) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (account, region, id) DO UPDATE SET doc=excluded.doc""",
        (account, region, doc["GroupId"], doc["VpcId"], doc["GroupName"], dumps(doc)),
    )
    db.changed(GROUP_KIND, doc["GroupId"])


def get_group(db: Database, account: str, region: str, group_id: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM security_groups WHERE account=? AND region=? AND id=?", (account, region, group_id)
    )
    return loads(row["doc"]) if row else None


def group_by_name(db: Database, account: str, region: str, vpc_id: str, name: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM security_groups WHERE account=? AND region=? AND vpc_id=? AND name=?",
        (account, region, vpc_id, name),
    )
    return loads(row["doc"]) if row else None


def groups(db: Database, account: str, region: str) -> list[tuple[int, Doc]]:
    rows = db.query("SELECT rid, doc FROM security_groups WHERE account=? AND region=? ORDER BY rid", (account, region))
    return [(r["rid"], loads(r["doc"])) for r in rows]


def delete_group(db: Database, account: str, region: str, group_id: str) -> None:
    db.execute("DELETE FROM security_groups WHERE account=? AND region=? AND id=?", (account, region, group_id))
    db.changed(GROUP_KIND, group_id)


# -- network interfaces ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interface:
    """An allocated address: a task's ENI (``kind`` ``eni``) or a bridge-mode endpoint (``bridge``)."""

    id: str
    kind: str
    pool: str
    address: str
    mac: str
    subnet_id: str | None
    vpc_id: str | None
    task_arn: str | None
    doc: Doc

    @property
    def gateway(self) -> str:
        return gateway(self.pool)

    @property
    def prefix_length(self) -> int:
        return int(self.pool.rsplit("/", 1)[1])


def _interface(row: Any) -> Interface:
    return Interface(
        id=row["id"],
        kind=row["kind"],
        pool=row["pool"],
        address=row["address"],
        mac=row["mac"],
        subnet_id=row["subnet_id"],
        vpc_id=row["vpc_id"],
        task_arn=row["task_arn"],
        doc=loads(row["doc"]),
    )


_COLUMNS = "id, kind, pool, address, mac, subnet_id, vpc_id, task_arn, doc"


class PoolExhausted(Exception):
    """No address is left in the pool."""


@dataclass(frozen=True, slots=True)
class InterfaceRequest:
    account: str
    region: str
    id: str
    kind: str
    pool: str
    mac: str
    task_arn: str
    subnet_id: str | None = None
    vpc_id: str | None = None


def allocate(db: Database, request: InterfaceRequest, build_doc: Any = None) -> Interface:
    """The interface ``request.id``, allocating the pool's lowest free address if it does not exist yet.

    ``build_doc(address)`` makes the stored document (an ENI's EC2 shape); must run inside the
    caller's transaction, which makes the choice of address and the row one atomic step.
    """
    existing = get_interface(db, request.id)
    if existing is not None:
        return existing
    used = [r["address"] for r in db.query("SELECT address FROM network_interfaces WHERE pool=?", (request.pool,))]
    address = next_free_address(request.pool, used)
    if address is None:
        raise PoolExhausted(request.pool)
    doc = build_doc(address) if build_doc is not None else {}
    db.execute(
        f"""INSERT INTO network_interfaces (account, region, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            request.account,
            request.region,
            request.id,
            request.kind,
            request.pool,
            address,
            request.mac,
            request.subnet_id,
            request.vpc_id,
            request.task_arn,
            dumps(doc),
        ),
    )
    db.changed(INTERFACE_KIND, request.id)
    found = get_interface(db, request.id)
    assert found is not None
    return found


def get_interface(db: Database, interface_id: str) -> Interface | None:
    row = db.query_one(f"SELECT {_COLUMNS} FROM network_interfaces WHERE id=?", (interface_id,))
    return _interface(row) if row else None


def enis(db: Database, account: str, region: str) -> list[tuple[int, Interface]]:
    rows = db.query(
        f"SELECT rid, {_COLUMNS} FROM network_interfaces WHERE account=? AND region=? AND kind='eni' ORDER BY rid",
        (account, region),
    )
    return [(r["rid"], _interface(r)) for r in rows]


def interfaces_of_kinds(db: Database, account: str, region: str, kinds: Sequence[str]) -> list[tuple[int, Interface]]:
    """The partition's interfaces of the given kinds (``eni``, ``elb``, ...), in allocation order."""
    marks = ", ".join("?" for _ in kinds)
    rows = db.query(
        f"""SELECT rid, {_COLUMNS} FROM network_interfaces WHERE account=? AND region=? AND kind IN ({marks})
            ORDER BY rid""",
        (account, region, *kinds),
    )
    return [(r["rid"], _interface(r)) for r in rows]


def for_task(db: Database, task_arn: str) -> list[Interface]:
    rows = db.query(f"SELECT {_COLUMNS} FROM network_interfaces WHERE task_arn=? ORDER BY rid", (task_arn,))
    return [_interface(r) for r in rows]


def release_for_task(db: Database, task_arn: str) -> list[str]:
    """Free every address a task holds (when it is STOPPED or gone); returns the interface ids."""
    ids = [i.id for i in for_task(db, task_arn)]
    if ids:
        db.execute("DELETE FROM network_interfaces WHERE task_arn=?", (task_arn,))
        for interface_id in ids:
            db.changed(INTERFACE_KIND, interface_id)
    return ids


def interfaces_in_subnet(db: Database, account: str, region: str, subnet_id: str) -> int:
    row = db.query_one(
        "SELECT COUNT(*) AS n FROM network_interfaces WHERE account=? AND region=? AND subnet_id=?",
        (account, region, subnet_id),
    )
    return int(row["n"]) if row else 0


def addresses_in_pool(db: Database, pool: str) -> int:
    row = db.query_one("SELECT COUNT(*) AS n FROM network_interfaces WHERE pool=?", (pool,))
    return int(row["n"]) if row else 0


def interfaces_with_group(db: Database, account: str, region: str, group_id: str) -> list[str]:
    rows = db.query(
        """SELECT n.id FROM network_interfaces n, json_each(n.doc, '$.Groups') g
           WHERE n.account=? AND n.region=? AND json_extract(g.value, '$.GroupId')=?""",
        (account, region, group_id),
    )
    return [r["id"] for r in rows]


def task_arns_holding(db: Database) -> list[str]:
    return [
        r["task_arn"] for r in db.query("SELECT DISTINCT task_arn FROM network_interfaces WHERE task_arn IS NOT NULL")
    ]


def tasks_using_subnet(db: Database, account: str, region: str, subnet_id: str) -> int:
    """Tasks not yet STOPPED whose launch chose this subnet (they may not hold their ENI yet)."""
    row = db.query_one(
        """SELECT COUNT(*) AS n FROM tasks WHERE account=? AND region=? AND last_status != 'STOPPED'
           AND json_extract(doc, '$._spec.subnetId')=?""",
        (account, region, subnet_id),
    )
    return int(row["n"]) if row else 0


def ids_in(rows: Sequence[tuple[int, Doc]], key: str) -> set[str]:
    return {doc[key] for _, doc in rows}
