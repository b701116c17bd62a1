"""What the tasks' resolver answers for Cloud Map private DNS namespaces (spec/ecs.md §8.2).

:func:`local_names` builds the read-only :data:`~ecslite.runtime.process.dns_wire.LocalNames`
function the server hands to the process runtime's DNS relay. For a question it finds the longest
private DNS namespace the name falls in, among the namespaces of the VPC whose resolver address
the query came to (every private namespace when the address is no VPC's resolver: the bridge-mode
range), and answers:

- ``<service>.<namespace>``: the service's A, AAAA or SRV records (SRV ``1 1 <port>
  <instance>.<service>.<namespace>`` with the targets' addresses as additional records), TTL from
  the service's DnsConfig. MULTIVALUE: up to 8 serving instances at random; WEIGHTED: one. Serving
  instances are the healthy ones (UNKNOWN, without health checking, counts as healthy), or all of
  them when none is healthy (Route 53 fails open). A type the service has no records of: no data.
- ``<instance>.<service>.<namespace>``: that instance's address (the SRV targets).
- the namespace itself: no data; any other name inside it: NXDOMAIN.
- a name in no namespace of ours: None, so the relay asks the host's resolvers.

It only reads the store; it never writes (the relay runs on the event loop, reads are sub-millisecond).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from ecslite.model import cloudmap as cm
from ecslite.model.vpc import dns_address
from ecslite.runtime.process.dns_wire import LocalAnswer, LocalNames, LocalRecord
from ecslite.store import cloudmap as store
from ecslite.store.db import Database

MAX_ANSWERS = 8


def local_names(db: Database) -> LocalNames:
    def lookup(name: str, kind: str, resolver: str) -> LocalAnswer | None:
        return answer(db, name, kind, resolver)

    return lookup


def answer(db: Database, name: str, kind: str, resolver: str) -> LocalAnswer | None:
    labels = name.split(".")
    suffixes = [".".join(labels[i:]) for i in range(len(labels))]
    namespaces = _visible(db, store.dns_namespaces(db, suffixes), resolver)
    if not namespaces:
        return None
    namespace = max(namespaces, key=lambda n: len(n.name))
    inner = name[: -len(namespace.name)].rstrip(".")
    if not inner:
        return LocalAnswer()
    service = store.service_named(db, namespace.account, namespace.region, namespace.id, inner)
    if service is not None and service.get("DnsConfig"):
        return _service_answer(db, namespace, service, name, kind)
    head, _, rest = inner.partition(".")
    if rest:
        service = store.service_named(db, namespace.account, namespace.region, namespace.id, rest)
        if service is not None and service.get("DnsConfig"):
            found = store.get_instance(db, namespace.account, namespace.region, service["Id"], head)
            if found is not None:
                return LocalAnswer(answers=tuple(_addresses(service, [found], name, kind, target=True)))
    return LocalAnswer(nxdomain=True)


def _visible(db: Database, found: Sequence[store.DnsNamespace], resolver: str) -> list[store.DnsNamespace]:
    """The namespaces of the VPC behind ``resolver``; all of them when it is no VPC's resolver."""
    if not found:
        return []
    vpcs = {
        (str(r["account"]), str(r["region"]), str(r["id"]))
        for r in db.query("SELECT account, region, id, cidr FROM vpcs")
        if dns_address(str(r["cidr"])) == resolver
    }
    if not vpcs:
        return list(found)
    return [n for n in found if (n.account, n.region, n.vpc_id) in vpcs]


def _service_answer(
    db: Database, namespace: store.DnsNamespace, service: dict[str, Any], name: str, kind: str
) -> LocalAnswer:
    found = store.instances(db, namespace.account, namespace.region, service["Id"])
    chosen_ids = set(cm.serving({i.id: i.health for i in found}))
    chosen = [i for i in found if i.id in chosen_ids]
    random.shuffle(chosen)
    weighted = (service.get("DnsConfig") or {}).get("RoutingPolicy") == "WEIGHTED"
    chosen = chosen[: 1 if weighted else MAX_ANSWERS]
    types = cm.record_types(service)
    if kind == "SRV" and "SRV" in types:
        ttl = cm.record_ttl(service, "SRV")
        answers, additional = [], []
        for instance in chosen:
            port = instance.attributes.get(cm.PORT)
            if port is None:
                continue
            target = f"{instance.id.lower()}.{name}"
            answers.append(LocalRecord(name, "SRV", ttl, f"1 1 {port} {target}"))
            additional.extend(_addresses(service, [instance], target, "A", target=True))
        return LocalAnswer(answers=tuple(answers), additional=tuple(additional))
    return LocalAnswer(answers=tuple(_addresses(service, chosen, name, kind)))


def _addresses(
    service: dict[str, Any], found: Sequence[store.Instance], name: str, kind: str, *, target: bool = False
) -> list[LocalRecord]:
    """A/AAAA records of ``found`` under ``name``: for a service of that record type, or for SRV
    targets (``target``), which Cloud Map gives an address record with the SRV record's TTL."""
    attribute = {"A": cm.IPV4, "AAAA": cm.IPV6}.get(kind)
    types = cm.record_types(service)
    if attribute is None:
        return []
    if kind in types:
        ttl = cm.record_ttl(service, kind)
    elif target and "SRV" in types:
        ttl = cm.record_ttl(service, "SRV")
    else:
        return []
    return [LocalRecord(name, kind, ttl, i.attributes[attribute]) for i in found if attribute in i.attributes]
