"""The tasks' resolver answering Cloud Map private DNS namespaces (spec/ecs.md §8.2): the Cloud Map
view (control.cloudmap_dns) behind the relay's ``answer_locally``, checked on the wire."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import struct
from typing import Any

import pytest

from ecslite.control.cloudmap_dns import local_names
from ecslite.model import cloudmap as cm
from ecslite.runtime.process.dns import DnsForwarder
from ecslite.store import cloudmap as store
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database
from tests.fixtures.capability import missing

ACCOUNT, REGION = "000000000000", "us-east-1"
RESOLVER = "172.31.0.2"  # the default VPC's resolver (base + 2)
TYPES = {"A": 1, "AAAA": 28, "SRV": 33, "TXT": 16}


def query(name: str, kind: str = "A", ident: int = 0x1234) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", TYPES[kind], 1)


def _name(message: bytes, offset: int) -> tuple[str, int]:
    labels, end = [], None
    while True:
        size = message[offset]
        if size & 0xC0:
            end = end or offset + 2
            offset = ((size & 0x3F) << 8) | message[offset + 1]
            continue
        if size == 0:
            return ".".join(labels), end or offset + 1
        labels.append(message[offset + 1 : offset + 1 + size].decode())
        offset += 1 + size


def parse(message: bytes) -> dict[str, Any]:
    ident, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", message[:12])
    offset = 12
    for _ in range(qd):
        _, offset = _name(message, offset)
        offset += 4
    records = []
    for _ in range(an + ns + ar):
        owner, offset = _name(message, offset)
        kind, _, ttl, size = struct.unpack("!HHIH", message[offset : offset + 10])
        data = message[offset + 10 : offset + 10 + size]
        if kind == 1:
            value: Any = str(ipaddress.IPv4Address(data))
        elif kind == 33:
            priority, weight, port = struct.unpack("!HHH", data[:6])
            value = (priority, weight, port, _name(message, offset + 16)[0])
        else:
            value = data
        records.append((owner, kind, ttl, value))
        offset += 10 + size
    return {
        "id": ident,
        "rcode": flags & 0xF,
        "aa": bool(flags & 0x0400),
        "answers": records[:an],
        "additional": records[an + ns :],
    }


@pytest.fixture
def db() -> Database:
    database = Database(None)
    with database.transaction():
        vpc_store.ensure_default(database, ACCOUNT, REGION, "172.31.0.0/16", 0.0)
    return database


def namespace(db: Database, name: str = "demo.local", vpc: str | None = None) -> str:
    vpc_id = vpc or str(vpc_store.default_vpc(db, ACCOUNT, REGION)["VpcId"])  # type: ignore[index]
    ident = cm.namespace_id()
    doc = {"Id": ident, "Arn": cm.namespace_arn(REGION, ACCOUNT, ident), "Name": name, "Type": "DNS_PRIVATE"}
    with db.transaction():
        store.insert_namespace(db, ACCOUNT, REGION, doc, vpc_id)
    return ident


def service(
    db: Database, ns_id: str, records: tuple[str, ...] = ("A", "SRV"), custom: bool = False, weighted: bool = False
) -> dict[str, Any]:
    ident = cm.service_id()
    doc: dict[str, Any] = {
        "Id": ident,
        "Arn": cm.service_arn(REGION, ACCOUNT, ident),
        "Name": "orders",
        "NamespaceId": ns_id,
        "DnsConfig": {
            "RoutingPolicy": "WEIGHTED" if weighted else "MULTIVALUE",
            "DnsRecords": [{"Type": t, "TTL": 10 if t == "A" else 20} for t in records],
        },
    }
    if custom:
        doc["HealthCheckCustomConfig"] = {}
    with db.transaction():
        store.insert_service(db, ACCOUNT, REGION, doc)
    return doc


def register(db: Database, srv: dict[str, Any], ident: str, address: str, health: str | None = None) -> None:
    attributes = {cm.IPV4: address, cm.PORT: "8000"}
    with db.transaction():
        store.register(db, ACCOUNT, REGION, srv, store.Registration(ident, attributes), 0.0)
        if health is not None:
            store.set_health(db, ACCOUNT, REGION, srv, ident, health)


def ask(db: Database, name: str, kind: str = "A", resolver: str = RESOLVER) -> dict[str, Any] | None:
    forwarder = DnsForwarder(upstreams=[], local_names=local_names(db))
    raw = forwarder.answer_locally(query(name, kind), resolver)
    return parse(raw) if raw is not None else None


def test_service_name_answers_the_instances_a_records(db: Database) -> None:
    srv = service(db, namespace(db))
    register(db, srv, "t1", "172.31.0.10")
    register(db, srv, "t2", "172.31.0.11")
    answer = ask(db, "orders.demo.local")
    assert answer is not None
    assert answer["id"] == 0x1234 and answer["rcode"] == 0 and answer["aa"]
    assert sorted(r[3] for r in answer["answers"]) == ["172.31.0.10", "172.31.0.11"]
    assert {(r[0], r[1], r[2]) for r in answer["answers"]} == {("orders.demo.local", 1, 10)}


def test_srv_answers_ports_and_target_addresses(db: Database) -> None:
    srv = service(db, namespace(db))
    register(db, srv, "t1", "172.31.0.10")
    answer = ask(db, "orders.demo.local", "SRV")
    assert answer is not None
    assert answer["answers"] == [("orders.demo.local", 33, 20, (1, 1, 8000, "t1.orders.demo.local"))]
    assert answer["additional"] == [("t1.orders.demo.local", 1, 10, "172.31.0.10")]
    target = ask(db, "t1.orders.demo.local")
    assert target is not None and [r[3] for r in target["answers"]] == ["172.31.0.10"]


def test_srv_only_service_has_no_a_record_of_its_own(db: Database) -> None:
    srv = service(db, namespace(db), ("SRV",))
    register(db, srv, "t1", "172.31.0.10")
    own = ask(db, "orders.demo.local")
    assert own is not None and own["rcode"] == 0 and own["answers"] == []
    target = ask(db, "t1.orders.demo.local")
    assert target is not None and target["answers"] == [("t1.orders.demo.local", 1, 20, "172.31.0.10")]


def test_unknown_name_in_the_namespace_is_nxdomain_and_others_are_relayed(db: Database) -> None:
    service(db, namespace(db))
    missing = ask(db, "nope.demo.local")
    assert missing is not None and missing["rcode"] == 3 and missing["answers"] == []
    apex = ask(db, "demo.local")
    assert apex is not None and apex["rcode"] == 0
    assert ask(db, "example.com") is None
    assert ask(db, "orders.demo.local", "TXT") == {
        "id": 0x1234,
        "rcode": 0,
        "aa": True,
        "answers": [],
        "additional": [],
    }


def test_unhealthy_instances_leave_answers_until_none_is_healthy(db: Database) -> None:
    srv = service(db, namespace(db), ("A",), custom=True)
    register(db, srv, "t1", "172.31.0.10")
    register(db, srv, "t2", "172.31.0.11", health="UNHEALTHY")
    answer = ask(db, "orders.demo.local")
    assert answer is not None and [r[3] for r in answer["answers"]] == ["172.31.0.10"]
    with db.transaction():
        store.set_health(db, ACCOUNT, REGION, srv, "t1", "UNHEALTHY")
    answer = ask(db, "orders.demo.local")
    assert answer is not None and sorted(r[3] for r in answer["answers"]) == ["172.31.0.10", "172.31.0.11"]


def test_multivalue_answers_at_most_eight_and_weighted_one(db: Database) -> None:
    ns_id = namespace(db)
    srv = service(db, ns_id, ("A",))
    for n in range(12):
        register(db, srv, f"t{n}", f"172.31.0.{10 + n}")
    answer = ask(db, "orders.demo.local")
    assert answer is not None and len(answer["answers"]) == 8
    other = namespace(db, "w.local")
    weighted = service(db, other, ("A",), weighted=True)
    register(db, weighted, "a", "172.31.1.1")
    register(db, weighted, "b", "172.31.1.2")
    answer = ask(db, "orders.w.local")
    assert answer is not None and len(answer["answers"]) == 1


def test_namespace_answers_only_in_its_own_vpc(db: Database) -> None:
    with db.transaction():
        vpc_store.put_vpc(db, ACCOUNT, REGION, {"VpcId": "vpc-other", "CidrBlock": "10.9.0.0/16", "IsDefault": False})
    srv = service(db, namespace(db))
    register(db, srv, "t1", "172.31.0.10")
    assert ask(db, "orders.demo.local", resolver="10.9.0.2") is None
    assert ask(db, "orders.demo.local", resolver=RESOLVER) is not None
    # A resolver that is no VPC's (bridge-mode tasks) sees every private namespace.
    assert ask(db, "orders.demo.local", resolver="192.168.99.1") is not None


def test_names_are_case_insensitive_and_echo_the_question(db: Database) -> None:
    srv = service(db, namespace(db))
    register(db, srv, "t1", "172.31.0.10")
    forwarder = DnsForwarder(upstreams=[], local_names=local_names(db))
    raw = forwarder.answer_locally(query("Orders.Demo.Local"), RESOLVER)
    assert raw is not None and b"\x06Orders\x04Demo\x05Local\x00" in raw
    assert [r[3] for r in parse(raw)["answers"]] == ["172.31.0.10"]


def test_without_local_names_everything_is_relayed() -> None:
    assert DnsForwarder(upstreams=[]).answer_locally(query("orders.demo.local"), RESOLVER) is None


def test_listening_twice_at_once_binds_the_address_once() -> None:
    """Tasks of one subnet start together and each asks the relay to listen on their resolver: the
    second call waits for the first instead of binding the address again (EADDRINUSE)."""
    if os.geteuid() != 0:
        missing("port 53 needs root")

    async def scenario() -> None:
        forwarder = DnsForwarder(upstreams=[])
        try:
            await asyncio.gather(*(forwarder.listen("127.0.9.53") for _ in range(3)))
            assert list(forwarder.listeners) == ["127.0.9.53"]
        finally:
            await forwarder.close()

    asyncio.run(scenario())
