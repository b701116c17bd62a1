"""The load balancer page's TLS and traffic reads: an HTTPS listener's certificates as ACM holds them,
and each target group's last 15 minutes of AWS/ApplicationELB metrics.

Traffic is read from the CloudWatch store the local ALB's publisher writes (:mod:`ecslite.elb.publish`),
the rows GetMetricData answers from, so the page and the API agree; its percentile is the one
GetMetricData computes from the publisher's per-bin datapoints (the Prometheus mirror keeps only each
pass's average, which has no p99). A group with no datapoint in the window has ``None`` traffic: the
page says there is none yet rather than showing zeros.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ecslite.elb.publish import NAMESPACE, resource_of
from ecslite.providers.cloudwatch.datapoints import Bucket
from ecslite.store import certificates as cert_store
from ecslite.store import cloudwatch as cw_store
from ecslite.store.db import Database

Doc = dict[str, Any]
WINDOW_SECONDS = 15 * 60
COUNTS = {
    "requests": "RequestCount",
    "target4xx": "HTTPCode_Target_4XX_Count",
    "target5xx": "HTTPCode_Target_5XX_Count",
}


def certificates(db: Database, listener: Mapping[str, Any]) -> list[Doc]:
    """The listener's default certificate first, then those added for SNI, each with what ACM says
    of it (``missing`` when ACM no longer holds it)."""
    held = [(c, True) for c in listener.get("Certificates") or ()]
    held += [(c, False) for c in listener.get("ListenerCertificates") or ()]
    out = []
    for cert, default in held:
        arn = str(cert.get("CertificateArn"))
        row = cert_store.get(db, arn)
        doc = row.doc if row is not None else {}
        out.append(
            {
                "certificateArn": arn,
                "isDefault": default,
                "domain": doc.get("DomainName"),
                "notAfter": doc.get("NotAfter"),
                "status": doc.get("Status"),
                "missing": row is None,
            }
        )
    return out


def _read(
    db: Database, partition: tuple[str, str], name: str, dims: cw_store.Dimensions, start: float, end: float
) -> list[cw_store.Row]:
    account, region = partition
    return cw_store.read(db, account, region, NAMESPACE, name, dims, start, end)


def group_traffic(db: Database, lb_arn: str, group_arn: str, now: float) -> Doc | None:
    """One target group's traffic through one load balancer over the last 15 minutes (``hasTraffic``
    false when no request was published for it in that window); None for an ARN that is not ELB's."""
    lb, group = resource_of(lb_arn), resource_of(group_arn)
    if lb is None or group is None:
        return None
    partition = (lb[0], lb[1])
    dims: cw_store.Dimensions = (("LoadBalancer", lb[2]), ("TargetGroup", group[2]))
    start, end = now - WINDOW_SECONDS, now + 1
    out: Doc = {"windowSeconds": WINDOW_SECONDS}
    seen = False
    for key, name in COUNTS.items():
        rows = _read(db, partition, name, dims, start, end)
        seen = seen or bool(rows)
        out[key] = sum(r.sum for r in rows)
    out["requestsPerMinute"] = out["requests"] / (WINDOW_SECONDS / 60)
    times = _read(db, partition, "TargetResponseTime", dims, start, end)
    bucket = Bucket(start, 0.0, 0.0, math.inf, -math.inf, "Seconds")
    for row in times:
        bucket.count += row.count
        bucket.sum += row.sum
        if row.count:
            bucket.values.append((row.sum / row.count, row.count))
    out["responseTimeAverage"] = bucket.statistic("Average")
    out["responseTimeP99"] = bucket.statistic("p99")
    for key, name in (("healthy", "HealthyHostCount"), ("unhealthy", "UnHealthyHostCount")):
        rows = _read(db, partition, name, dims, start, end)
        out[key] = rows[-1].sum if rows else None  # the newest pass: a count of hosts, not a total
    # Host counts are published for an idle group too; traffic is what the empty state is about.
    out["hasTraffic"] = seen or bool(times)
    return out
