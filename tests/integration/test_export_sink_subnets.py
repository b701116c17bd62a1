"""The export sink follows the store's subnets (control.sink_gateways, telemetry.sink.listener): a
subnet's gateway is served once its row commits, on the ports the configured address got, and let
go when the row is deleted or the store is reset; subnets sharing a CIDR share the gateway until
the last one goes. Loopback stands in for the bridge (127.0.0.0/8 answers on ``lo`` without a
device), so this runs without root; tests/runtime/test_sink_subnets.py does it with real tasks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from ecslite.control.sink_gateways import SinkGatewaysFeed, subnet_gateways
from ecslite.model.vpc_docs import subnet_doc
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database
from ecslite.telemetry.sink import ExportSink, SinkPorts

pytestmark = [pytest.mark.integration]

T = TypeVar("T")
ACCOUNT, REGION = "000000000000", "us-east-1"


@dataclass
class Running:
    sink: ExportSink
    db: Database
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def settle(self) -> None:
        """Wait until the sink's last sync has run (it runs in a task the sink owns)."""

        self.run(self.sink.synced())

    def put_subnet(self, subnet_id: str, cidr: str, account: str = ACCOUNT) -> None:
        async def put() -> None:
            doc = subnet_doc(account, REGION, subnet_id, "vpc-1", cidr, f"{REGION}a", default=False, tags={})
            with self.db.transaction():
                vpc_store.put_subnet(self.db, account, REGION, doc)

        self.run(put())
        self.settle()

    def delete_subnet(self, subnet_id: str, account: str = ACCOUNT) -> None:
        async def delete() -> None:
            with self.db.transaction():
                vpc_store.delete_subnet(self.db, account, REGION, subnet_id)

        self.run(delete())
        self.settle()

    def ready(self, address: str) -> int | None:
        """The Loki port's ``/ready`` status at ``address``, or None when nothing listens there."""
        try:
            return httpx.get(f"http://{address}:{self.sink.bound['loki']}/ready", timeout=5).status_code
        except httpx.ConnectError:
            return None


@pytest.fixture
def running() -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    db = Database()
    sink = ExportSink(["127.0.0.1"], ports=SinkPorts(0, 0, 0))
    feed = SinkGatewaysFeed(db, sink)
    started = Running(sink, db, loop)
    started.run(sink.start())
    started.run(feed.start())
    started.settle()
    try:
        yield started
    finally:
        started.run(sink.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        db.close()


def test_a_new_subnets_gateway_is_served_on_the_same_ports_and_let_go_on_delete(running: Running) -> None:
    assert running.sink.served() == ["127.0.0.1"]
    assert running.ready("127.0.5.1") is None

    running.put_subnet("subnet-a", "127.0.5.0/24")
    assert running.sink.served() == ["127.0.0.1", "127.0.5.1"]
    assert running.ready("127.0.5.1") == 200
    for kind in ("otlp", "remote_write"):
        with httpx.Client() as client:
            assert client.get(f"http://127.0.5.1:{running.sink.bound[kind]}/").status_code in (404, 405)

    running.delete_subnet("subnet-a")
    assert running.sink.served() == ["127.0.0.1"]
    assert running.ready("127.0.5.1") is None
    assert running.ready("127.0.0.1") == 200


def test_a_gateway_shared_by_two_subnets_stays_until_the_last_goes(running: Running) -> None:
    running.put_subnet("subnet-a", "127.0.6.0/24")
    running.put_subnet("subnet-b", "127.0.6.0/24", account="111111111111")
    running.delete_subnet("subnet-a")
    assert running.ready("127.0.6.1") == 200
    running.delete_subnet("subnet-b", account="111111111111")
    assert running.ready("127.0.6.1") is None


def test_a_reset_lets_every_subnet_gateway_go_and_keeps_the_configured_address(running: Running) -> None:
    running.put_subnet("subnet-a", "127.0.7.0/24")
    running.put_subnet("subnet-b", "127.0.8.0/28")
    assert running.sink.served() == ["127.0.0.1", "127.0.7.1", "127.0.8.1"]

    async def reset() -> None:
        running.db.reset()

    running.run(reset())
    running.settle()
    assert running.sink.served() == ["127.0.0.1"]
    assert [running.ready(a) for a in ("127.0.0.1", "127.0.7.1", "127.0.8.1")] == [200, None, None]


def test_subnets_in_the_store_before_start_are_served_from_the_start() -> None:
    db = Database()
    with db.transaction():
        doc = subnet_doc(ACCOUNT, REGION, "subnet-a", "vpc-1", "127.0.9.0/24", f"{REGION}a", default=False, tags={})
        vpc_store.put_subnet(db, ACCOUNT, REGION, doc)
    assert subnet_gateways(db) == ("127.0.9.1",)

    async def scenario() -> tuple[list[str], list[str]]:
        sink = ExportSink(["127.0.0.1"], ports=SinkPorts(0, 0, 0))
        feed = SinkGatewaysFeed(db, sink)
        await feed.start()  # announced before the sink starts: recorded, served at start
        await sink.start()
        served = sink.served()
        await sink.stop()
        return served, sink.served()

    assert asyncio.run(scenario()) == (["127.0.0.1", "127.0.9.1"], [])
    db.close()


def test_a_gateway_whose_port_is_taken_is_reported_and_the_others_are_served(running: Running) -> None:
    from ecslite.listen_sockets import listen_tcp

    taken = listen_tcp("127.0.10.1", running.sink.bound["otlp"])
    try:
        running.put_subnet("subnet-a", "127.0.10.0/24")
        running.put_subnet("subnet-b", "127.0.11.0/24")
        assert running.sink.served() == ["127.0.0.1", "127.0.11.1"]
        problem = running.sink.stats()["problem"]
        assert problem is not None and problem.startswith(
            f"port {running.sink.bound['otlp']} on 127.0.10.1 is not free"
        )
        # The Loki socket bound before the OTLP one failed was closed again.
        assert running.ready("127.0.10.1") is None
    finally:
        taken.close()
    running.put_subnet("subnet-c", "127.0.12.0/24")  # the next announcement tries again
    assert sorted(running.sink.served()) == ["127.0.0.1", "127.0.10.1", "127.0.11.1", "127.0.12.1"]
    assert running.ready("127.0.10.1") == 200
    assert running.sink.stats()["problem"] is None
