"""Target traffic when the server runs the fake runtime: nothing leaves the host.

The fake runtime starts no processes and owns no network, so its tasks' addresses (and any address
a user registers by hand) lead nowhere real: a health check or a proxied request sent there would
go out through the host's default route to whatever answers on the machine's network. With the
fake runtime:

- ELBv2 health checks of loopback targets are real HTTP checks; any other target is answered from
  the store: a live task at that address whose running container maps that port passes
  (HTTP 200), anything else fails as a refused connection would.
- The local ALB proxies only to loopback targets; any other target fails to connect (502), so
  routing, rules and balancing stay testable with real servers on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress

from ecslite.control.target_health import CheckResult, Prober, http_probe
from ecslite.store import tasks as task_store
from ecslite.store.db import Database

NO_NETWORK = "Connection refused (the fake runtime has no network; only loopback targets are reached)"


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def task_serving(db: Database, address: str, port: int) -> bool:
    """Whether a live task has ``address`` (its ENI's) and a running container that maps ``port``."""
    for arn in task_store.live_arns(db):
        doc = task_store.get(db, arn) or {}
        details = [d for a in doc.get("attachments") or () for d in a.get("details") or ()]
        if not any(d.get("name") == "privateIPv4Address" and d.get("value") == address for d in details):
            continue
        running = {c.get("name") for c in doc.get("containers") or () if c.get("lastStatus") == "RUNNING"}
        return any(
            int(m.get("containerPort") or 0) == port
            for c in (doc.get("_spec") or {}).get("containers") or ()
            if c.get("name") in running
            for m in c.get("portMappings") or ()
        )
    return False


def fake_prober(db: Database) -> Prober:
    async def probe(host: str, port: int, path: str, timeout: float) -> CheckResult:
        if is_loopback(host):
            return await http_probe(host, port, path, timeout)
        if task_serving(db, host, port):
            return CheckResult(200, None, 0.0)
        return CheckResult(None, NO_NETWORK, 0.0)

    return probe
