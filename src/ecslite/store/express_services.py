"""ECS Express Mode services (``express_services``): one row per Express service, keyed by its ECS
service ARN within a partition.

- ``doc`` is ecslite's record: the request's settings as configurations (newest last), ``tags``,
  ``infrastructureRoleArn``, times, and ``resources``: the ARNs and ids of everything made for the
  service (task definitions, the ECS service, target group, listener rule, security group, scalable
  target, scaling policy, log group) and of the network's shared load balancer, listener,
  certificate and load balancer security group.
- ``network`` names the network an Express service's load balancer serves (the VPC and its
  subnets): services of one network share one load balancer.
- ``status`` is ``ACTIVE`` until DeleteExpressGatewayService, then ``DRAINING`` while what the
  service made is taken down, then ``INACTIVE``. A re-created name replaces an INACTIVE row.
"""

from __future__ import annotations

from typing import Any

from ecslite.store.db import Database, dumps, loads

Doc = dict[str, Any]


def get(db: Database, account: str, region: str, arn: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM express_services WHERE account=? AND region=? AND arn=?", (account, region, arn)
    )
    return loads(row["doc"]) if row else None


def put(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        """INSERT INTO express_services (account, region, arn, network, status, doc) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (account, region, arn) DO UPDATE SET network=excluded.network, status=excluded.status,
            doc=excluded.doc""",
        (account, region, doc["serviceArn"], doc["network"], doc["status"], dumps(doc)),
    )


def in_network(db: Database, account: str, region: str, network: str) -> list[Doc]:
    """The network's Express services that still hold its shared load balancer (not INACTIVE)."""
    rows = db.query(
        "SELECT doc FROM express_services WHERE account=? AND region=? AND network=? AND status != 'INACTIVE'"
        " ORDER BY rid",
        (account, region, network),
    )
    return [loads(r["doc"]) for r in rows]


def draining(db: Database, account: str, region: str) -> list[Doc]:
    rows = db.query(
        "SELECT doc FROM express_services WHERE account=? AND region=? AND status='DRAINING' ORDER BY rid",
        (account, region),
    )
    return [loads(r["doc"]) for r in rows]


def every(db: Database) -> list[Doc]:
    """Every Express service of every partition, oldest first (ecslite's own API lists them)."""
    return [loads(r["doc"]) for r in db.query("SELECT doc FROM express_services ORDER BY rid")]
