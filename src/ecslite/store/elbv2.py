"""ELBv2 rows: load balancers, target groups (+ attributes), listeners, rules, links and targets (§7).

Invariants:
- Every row belongs to one (account, region); ARNs are unique across all of them, so a lookup by ARN
  alone finds the partition (the data plane and the ECS side only hold ARNs).
- ``doc`` is the resource as the API shows it (``LoadBalancer``, ``TargetGroup``, ``Listener``,
  ``Rule``) minus what is derived on read: a group's ``LoadBalancerArns`` comes from ``elb_tg_links``.
- ``elb_tg_links`` holds one row per (target group, listener or rule that forwards to it); it is
  rewritten with its listener or rule and goes with it, so "is this group in use" and "which load
  balancers use it" are single queries.
- A target is unique per (group, id, port). ``state``/``reason``/``description`` are what
  DescribeTargetHealth shows; ``drain_until`` is set only while ``draining``; ``last_check`` is the
  last health check's outcome (JSON, beyond ECS: shown in the UI). Deleting a group deletes its
  targets, and deleting a load balancer its listeners and their rules.
- A load balancer holds one private address per subnet (a ``network_interfaces`` row of kind
  ``elb`` whose owner column, ``task_arn``, is the load balancer's ARN), taken from the top of the
  subnet's range so tasks, which take the lowest free address, keep theirs; the addresses go with
  the load balancer.
- Each write records a change (kinds below, keyed by the ARN; targets by their group's ARN) so the
  health checker and the local ALB can follow without polling.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ecslite.model.vpc import RESERVED_LOW
from ecslite.store import tags as tag_store
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database, dumps, loads

LOAD_BALANCER_KIND = "elb-load-balancer"
TARGET_GROUP_KIND = "elb-target-group"
LISTENER_KIND = "elb-listener"
RULE_KIND = "elb-rule"
TARGET_KIND = "elb-target"

Doc = dict[str, Any]


# -- load balancers ------------------------------------------------------------------------------


def insert_load_balancer(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        "INSERT INTO elb_load_balancers (account, region, name, arn, doc) VALUES (?, ?, ?, ?, ?)",
        (account, region, doc["LoadBalancerName"], doc["LoadBalancerArn"], dumps(doc)),
    )
    db.changed(LOAD_BALANCER_KIND, doc["LoadBalancerArn"])


def put_load_balancer(db: Database, doc: Doc) -> None:
    db.execute("UPDATE elb_load_balancers SET doc=? WHERE arn=?", (dumps(doc), doc["LoadBalancerArn"]))
    db.changed(LOAD_BALANCER_KIND, doc["LoadBalancerArn"])


def get_load_balancer(db: Database, arn: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM elb_load_balancers WHERE arn=?", (arn,))
    return loads(row["doc"]) if row else None


def load_balancer_named(db: Database, account: str, region: str, name: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM elb_load_balancers WHERE account=? AND region=? AND name=?", (account, region, name)
    )
    return loads(row["doc"]) if row else None


def load_balancers(db: Database, account: str, region: str) -> list[tuple[int, Doc]]:
    rows = db.query(
        "SELECT rid, doc FROM elb_load_balancers WHERE account=? AND region=? ORDER BY rid", (account, region)
    )
    return [(int(r["rid"]), loads(r["doc"])) for r in rows]


def all_load_balancers(db: Database) -> list[Doc]:
    """Every load balancer of every partition (the local ALB binds them all)."""
    return [loads(r["doc"]) for r in db.query("SELECT doc FROM elb_load_balancers ORDER BY rid")]


def delete_load_balancer(db: Database, arn: str) -> None:
    """The load balancer, its listeners, their rules and links, and their tags."""
    for listener in listeners_of(db, arn):
        delete_listener(db, listener["ListenerArn"])
    db.execute("DELETE FROM elb_load_balancers WHERE arn=?", (arn,))
    vpc_store.release_for_task(db, arn)
    _untag(db, arn)
    db.changed(LOAD_BALANCER_KIND, arn)


ADDRESS_KIND = "elb"


def allocate_address(db: Database, account: str, region: str, arn: str, subnet: Doc, interface_id: str) -> str:
    """The load balancer's address in ``subnet``: the highest free one (``PoolExhausted`` when none)."""
    pool = str(subnet["CidrBlock"])
    network = ipaddress.IPv4Network(pool)
    used = {r["address"] for r in db.query("SELECT address FROM network_interfaces WHERE pool=?", (pool,))}
    first = int(network.network_address) + RESERVED_LOW
    for value in range(int(network.broadcast_address) - 1, first - 1, -1):
        address = str(ipaddress.IPv4Address(value))
        if address not in used:
            break
    else:
        raise vpc_store.PoolExhausted(pool)
    db.execute(
        """INSERT INTO network_interfaces (account, region, id, kind, pool, address, mac, subnet_id, vpc_id,
           task_arn, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            account,
            region,
            interface_id,
            ADDRESS_KIND,
            pool,
            address,
            "",
            subnet["SubnetId"],
            subnet["VpcId"],
            arn,
            "{}",
        ),
    )
    db.changed(vpc_store.INTERFACE_KIND, interface_id)
    return address


def load_balancer_addresses(db: Database, arn: str) -> list[str]:
    """The load balancer's private addresses, one per subnet, in allocation order."""
    rows = db.query(
        "SELECT address FROM network_interfaces WHERE task_arn=? AND kind=? ORDER BY rid", (arn, ADDRESS_KIND)
    )
    return [str(r["address"]) for r in rows]


# -- target groups -------------------------------------------------------------------------------


def insert_target_group(db: Database, account: str, region: str, doc: Doc, attributes: dict[str, str]) -> None:
    db.execute(
        "INSERT INTO elb_target_groups (account, region, name, arn, doc, attributes) VALUES (?, ?, ?, ?, ?, ?)",
        (account, region, doc["TargetGroupName"], doc["TargetGroupArn"], dumps(doc), dumps(attributes)),
    )
    db.changed(TARGET_GROUP_KIND, doc["TargetGroupArn"])


def put_target_group(db: Database, doc: Doc) -> None:
    db.execute("UPDATE elb_target_groups SET doc=? WHERE arn=?", (dumps(doc), doc["TargetGroupArn"]))
    db.changed(TARGET_GROUP_KIND, doc["TargetGroupArn"])


def get_target_group(db: Database, arn: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM elb_target_groups WHERE arn=?", (arn,))
    return _with_load_balancers(db, loads(row["doc"])) if row else None


def target_group_partition(db: Database, arn: str) -> tuple[str, str] | None:
    row = db.query_one("SELECT account, region FROM elb_target_groups WHERE arn=?", (arn,))
    return (str(row["account"]), str(row["region"])) if row else None


def target_group_named(db: Database, account: str, region: str, name: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM elb_target_groups WHERE account=? AND region=? AND name=?", (account, region, name)
    )
    return _with_load_balancers(db, loads(row["doc"])) if row else None


def target_groups(db: Database, account: str, region: str) -> list[tuple[int, Doc]]:
    rows = db.query(
        "SELECT rid, doc FROM elb_target_groups WHERE account=? AND region=? ORDER BY rid", (account, region)
    )
    return [(int(r["rid"]), _with_load_balancers(db, loads(r["doc"]))) for r in rows]


def all_target_groups(db: Database) -> list[Doc]:
    """Every target group of every partition, with its ``LoadBalancerArns``."""
    return [_with_load_balancers(db, loads(r["doc"])) for r in db.query("SELECT doc FROM elb_target_groups")]


def target_group_attributes(db: Database, arn: str) -> dict[str, str]:
    row = db.query_one("SELECT attributes FROM elb_target_groups WHERE arn=?", (arn,))
    return dict(loads(row["attributes"])) if row else {}


def put_target_group_attributes(db: Database, arn: str, attributes: dict[str, str]) -> None:
    db.execute("UPDATE elb_target_groups SET attributes=? WHERE arn=?", (dumps(attributes), arn))
    db.changed(TARGET_GROUP_KIND, arn)


def delete_target_group(db: Database, arn: str) -> None:
    db.execute("DELETE FROM elb_targets WHERE target_group_arn=?", (arn,))
    db.execute("DELETE FROM elb_target_groups WHERE arn=?", (arn,))
    _untag(db, arn)
    db.changed(TARGET_GROUP_KIND, arn)
    db.changed(TARGET_KIND, arn)


def _with_load_balancers(db: Database, doc: Doc) -> Doc:
    doc["LoadBalancerArns"] = load_balancers_using(db, doc["TargetGroupArn"])
    return doc


# -- links: which listeners and rules forward to a group ---------------------------------------


def set_links(db: Database, user_arn: str, load_balancer_arn: str, target_group_arns: Iterable[str]) -> None:
    """Replace what ``user_arn`` (a listener or rule) forwards to."""
    before = {
        r["target_group_arn"]
        for r in db.query("SELECT target_group_arn FROM elb_tg_links WHERE user_arn=?", (user_arn,))
    }
    db.execute("DELETE FROM elb_tg_links WHERE user_arn=?", (user_arn,))
    after = set(target_group_arns)
    for arn in after:
        db.execute(
            "INSERT INTO elb_tg_links (target_group_arn, user_arn, load_balancer_arn) VALUES (?, ?, ?)",
            (arn, user_arn, load_balancer_arn),
        )
    for arn in before ^ after:
        db.changed(TARGET_GROUP_KIND, arn)


def load_balancers_using(db: Database, target_group_arn: str) -> list[str]:
    """The load balancers whose listeners or rules forward to the group, in ARN order."""
    rows = db.query(
        "SELECT DISTINCT load_balancer_arn FROM elb_tg_links WHERE target_group_arn=? ORDER BY load_balancer_arn",
        (target_group_arn,),
    )
    return [str(r["load_balancer_arn"]) for r in rows]


def users_of(db: Database, target_group_arn: str) -> list[str]:
    """The listeners and rules that forward to the group."""
    rows = db.query("SELECT user_arn FROM elb_tg_links WHERE target_group_arn=? ORDER BY user_arn", (target_group_arn,))
    return [str(r["user_arn"]) for r in rows]


# -- listeners -----------------------------------------------------------------------------------


def insert_listener(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        "INSERT INTO elb_listeners (account, region, arn, load_balancer_arn, port, doc) VALUES (?, ?, ?, ?, ?, ?)",
        (account, region, doc["ListenerArn"], doc["LoadBalancerArn"], doc["Port"], dumps(doc)),
    )
    db.changed(LISTENER_KIND, doc["ListenerArn"])


def put_listener(db: Database, doc: Doc) -> None:
    db.execute("UPDATE elb_listeners SET port=?, doc=? WHERE arn=?", (doc["Port"], dumps(doc), doc["ListenerArn"]))
    db.changed(LISTENER_KIND, doc["ListenerArn"])


def get_listener(db: Database, arn: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM elb_listeners WHERE arn=?", (arn,))
    return loads(row["doc"]) if row else None


def listener_on_port(db: Database, load_balancer_arn: str, port: int) -> Doc | None:
    row = db.query_one("SELECT doc FROM elb_listeners WHERE load_balancer_arn=? AND port=?", (load_balancer_arn, port))
    return loads(row["doc"]) if row else None


def listeners_of(db: Database, load_balancer_arn: str) -> list[Doc]:
    rows = db.query("SELECT doc FROM elb_listeners WHERE load_balancer_arn=? ORDER BY rid", (load_balancer_arn,))
    return [loads(r["doc"]) for r in rows]


def delete_listener(db: Database, arn: str) -> None:
    """The listener, its rules, and what they forward to."""
    for rule in rules_of(db, arn):
        delete_rule(db, rule["RuleArn"])
    set_links(db, arn, "", ())
    db.execute("DELETE FROM elb_listeners WHERE arn=?", (arn,))
    _untag(db, arn)
    db.changed(LISTENER_KIND, arn)


# -- rules ---------------------------------------------------------------------------------------


def insert_rule(db: Database, account: str, region: str, listener_arn: str, priority: int | None, doc: Doc) -> None:
    db.execute(
        "INSERT INTO elb_rules (account, region, arn, listener_arn, priority, doc) VALUES (?, ?, ?, ?, ?, ?)",
        (account, region, doc["RuleArn"], listener_arn, priority, dumps(doc)),
    )
    db.changed(RULE_KIND, doc["RuleArn"])


def put_rule(db: Database, priority: int | None, doc: Doc) -> None:
    db.execute("UPDATE elb_rules SET priority=?, doc=? WHERE arn=?", (priority, dumps(doc), doc["RuleArn"]))
    db.changed(RULE_KIND, doc["RuleArn"])


def get_rule(db: Database, arn: str) -> tuple[str, Doc] | None:
    """``(listener ARN, doc)`` of the rule."""
    row = db.query_one("SELECT listener_arn, doc FROM elb_rules WHERE arn=?", (arn,))
    return (str(row["listener_arn"]), loads(row["doc"])) if row else None


def rule_with_priority(db: Database, listener_arn: str, priority: int) -> Doc | None:
    row = db.query_one("SELECT doc FROM elb_rules WHERE listener_arn=? AND priority=?", (listener_arn, priority))
    return loads(row["doc"]) if row else None


def rules_of(db: Database, listener_arn: str) -> list[Doc]:
    """The listener's rules in evaluation order: by priority, the default rule last."""
    rows = db.query(
        "SELECT doc FROM elb_rules WHERE listener_arn=? ORDER BY priority IS NULL, priority", (listener_arn,)
    )
    return [loads(r["doc"]) for r in rows]


def delete_rule(db: Database, arn: str) -> None:
    set_links(db, arn, "", ())
    db.execute("DELETE FROM elb_rules WHERE arn=?", (arn,))
    _untag(db, arn)
    db.changed(RULE_KIND, arn)


# -- targets -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetRow:
    target_group_arn: str
    id: str
    port: int
    zone: str | None
    state: str
    reason: str | None
    description: str | None
    registered_at: float
    drain_until: float | None
    last_check: Doc | None


def _target(row: Any) -> TargetRow:
    return TargetRow(
        target_group_arn=str(row["target_group_arn"]),
        id=str(row["id"]),
        port=int(row["port"]),
        zone=row["zone"],
        state=str(row["state"]),
        reason=row["reason"],
        description=row["description"],
        registered_at=float(row["registered_at"]),
        drain_until=row["drain_until"],
        last_check=loads(row["last_check"]) if row["last_check"] else None,
    )


def put_target(db: Database, account: str, region: str, target: TargetRow) -> None:
    """Insert or replace a target (registering again restarts it)."""
    db.execute(
        """INSERT INTO elb_targets (account, region, target_group_arn, id, port, zone, state, reason, description,
               registered_at, drain_until, last_check) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (target_group_arn, id, port) DO UPDATE SET zone=excluded.zone, state=excluded.state,
               reason=excluded.reason, description=excluded.description, registered_at=excluded.registered_at,
               drain_until=excluded.drain_until, last_check=excluded.last_check""",
        (
            account,
            region,
            target.target_group_arn,
            target.id,
            target.port,
            target.zone,
            target.state,
            target.reason,
            target.description,
            target.registered_at,
            target.drain_until,
            dumps(target.last_check) if target.last_check is not None else None,
        ),
    )
    db.changed(TARGET_KIND, target.target_group_arn)


def set_target_state(
    db: Database,
    target_group_arn: str,
    id: str,
    port: int,
    state: str,
    reason: str | None,
    description: str | None,
    drain_until: float | None = None,
) -> None:
    db.execute(
        """UPDATE elb_targets SET state=?, reason=?, description=?, drain_until=?
           WHERE target_group_arn=? AND id=? AND port=?""",
        (state, reason, description, drain_until, target_group_arn, id, port),
    )
    db.changed(TARGET_KIND, target_group_arn)


def set_last_check(db: Database, target_group_arn: str, id: str, port: int, check: Doc) -> None:
    """The last check's outcome; no change is published (nothing routes by it)."""
    db.execute(
        "UPDATE elb_targets SET last_check=? WHERE target_group_arn=? AND id=? AND port=?",
        (dumps(check), target_group_arn, id, port),
    )


def get_target(db: Database, target_group_arn: str, id: str, port: int) -> TargetRow | None:
    row = db.query_one(
        "SELECT * FROM elb_targets WHERE target_group_arn=? AND id=? AND port=?", (target_group_arn, id, port)
    )
    return _target(row) if row else None


def targets_of(db: Database, target_group_arn: str) -> list[TargetRow]:
    rows = db.query("SELECT * FROM elb_targets WHERE target_group_arn=? ORDER BY rid", (target_group_arn,))
    return [_target(r) for r in rows]


def count_targets(db: Database, target_group_arn: str) -> int:
    row = db.query_one("SELECT COUNT(*) AS n FROM elb_targets WHERE target_group_arn=?", (target_group_arn,))
    return int(row["n"]) if row else 0


def delete_target(db: Database, target_group_arn: str, id: str, port: int) -> None:
    db.execute("DELETE FROM elb_targets WHERE target_group_arn=? AND id=? AND port=?", (target_group_arn, id, port))
    db.changed(TARGET_KIND, target_group_arn)


def drained(db: Database, now: float) -> list[TargetRow]:
    """Draining targets whose deregistration delay has passed."""
    rows = db.query("SELECT * FROM elb_targets WHERE state='draining' AND drain_until <= ?", (now,))
    return [_target(r) for r in rows]


def next_drain_end(db: Database) -> float | None:
    row = db.query_one("SELECT MIN(drain_until) AS t FROM elb_targets WHERE state='draining'")
    return float(row["t"]) if row and row["t"] is not None else None


def groups_with_targets(db: Database) -> list[str]:
    return [str(r["target_group_arn"]) for r in db.query("SELECT DISTINCT target_group_arn FROM elb_targets")]


# -- tags ----------------------------------------------------------------------------------------


def _untag(db: Database, arn: str) -> None:
    tag_store.remove(db, arn, [key for key, _ in tag_store.get(db, arn)])


def resource_exists(db: Database, arn: str) -> bool:
    for table in ("elb_load_balancers", "elb_target_groups", "elb_listeners", "elb_rules"):
        if db.query_one(f"SELECT 1 FROM {table} WHERE arn=?", (arn,)) is not None:
            return True
    return False
