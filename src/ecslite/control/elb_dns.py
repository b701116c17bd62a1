"""What the tasks' resolver answers for load balancers' DNS names (spec/ecs.md §7.1, §7.5).

A load balancer's ``DNSName`` (``[internal-]<name>-<digits>.<region>.elb.amazonaws.com``) answers
``A`` with its private addresses, one per subnet, in random order, TTL 60 as Route 53 gives an
ALB's name; ``AAAA`` has no data (``ipv4`` load balancers only). Public DNS answers these names
everywhere, so the answer does not depend on which VPC's resolver was asked. Any other name,
under ``elb.amazonaws.com`` too, is not ours (``None``): the relay asks the host's resolvers.

:func:`with_load_balancers` puts this in front of another :data:`LocalNames` (the Cloud Map view,
``control.cloudmap_dns``). It only reads the store.
"""

from __future__ import annotations

import random

from ecslite.runtime.process.dns_wire import LocalAnswer, LocalNames, LocalRecord
from ecslite.store import elbv2 as store
from ecslite.store.db import Database

SUFFIX = ".elb.amazonaws.com"
TTL = 60


def answer(db: Database, name: str, kind: str) -> LocalAnswer | None:
    if not name.endswith(SUFFIX):
        return None
    for balancer in store.all_load_balancers(db):
        if str(balancer.get("DNSName", "")).lower() != name:
            continue
        addresses = store.load_balancer_addresses(db, balancer["LoadBalancerArn"])
        if kind != "A" or not addresses:
            return LocalAnswer()
        random.shuffle(addresses)
        return LocalAnswer(answers=tuple(LocalRecord(name, "A", TTL, address) for address in addresses))
    return None


def with_load_balancers(db: Database, other: LocalNames | None = None) -> LocalNames:
    """Load balancers' names first, then ``other`` (if any) for every other name."""

    def lookup(name: str, kind: str, resolver: str) -> LocalAnswer | None:
        found = answer(db, name.lower().rstrip("."), kind)
        if found is not None or other is None:
            return found
        return other(name, kind, resolver)

    return lookup
