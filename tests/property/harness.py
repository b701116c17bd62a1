"""An in-process ecslite edge for property tests, and the checks every exchange must pass.

The server is built with ``build_server`` and driven through ``httpx.ASGITransport`` on a private
event loop, so one request costs about a millisecond. The dispatcher is wrapped so the store is
fingerprinted right before and right after each AWS request: an error response must leave the
store exactly as it was (design: a request changes the store completely or not at all).

Controllers share the loop and may commit while a request is suspended. Such a commit is not the
request's doing, so the harness tells the two apart: a store subscriber notes each published change
with the request it came from (a context variable set only inside the wrapped dispatcher). When a
foreign commit overlaps a request, the whole-store comparison cannot be attributed and the
request's own published changes are checked instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import re
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from ecslite.config import Settings
from ecslite.edge.aws import AwsDispatcher, AwsResponse
from ecslite.protocol.errors import AwsError
from ecslite.protocol.models import operation_model
from ecslite.providers.base import find_handler
from ecslite.server import Server, build_server
from ecslite.store.db import Change, Database

_IN_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar("in_fuzz_request", default=False)
_NOT_IMPLEMENTED = re.compile(r"The (\w+) operation of ([\w-]+) is not implemented in ecslite yet\.")


def store_fingerprint(server: Server) -> dict[str, str]:
    """One digest per table over every row, independent of row order."""
    conn = server.db.conn
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    out: dict[str, str] = {}
    for table in tables:
        rows = sorted(repr(tuple(row)) for row in conn.execute(f'SELECT * FROM "{table}"'))
        out[table] = hashlib.blake2b("\n".join(rows).encode(), digest_size=16).hexdigest()
    return out


@dataclass
class Exchange:
    """One request as the client saw it, with what the store looked like around it."""

    response: httpx.Response
    before: dict[str, str] | None = None
    after: dict[str, str] | None = None
    own_changes: list[Change] = field(default_factory=list)
    foreign_commit: bool = False
    open_transaction: bool = False
    failures: list[str] = field(default_factory=list)  # where the server logged an unexpected exception


class _RecordingDispatcher:
    """Delegates to the real dispatcher, fingerprinting the store around each call."""

    def __init__(self, inner: AwsDispatcher, server: Server) -> None:
        self.inner = inner
        self.server = server
        self.current: Exchange | None = None
        self.window_open = False
        server.db.subscribe(self._on_changes)

    def _on_changes(self, changes: Sequence[Change]) -> None:
        if self.current is None or not self.window_open:
            return
        if _IN_REQUEST.get():
            self.current.own_changes.extend(changes)
        else:
            self.current.foreign_commit = True

    def reject(self, headers: dict[str, str], error: AwsError, path: str = "/") -> AwsResponse:
        return self.inner.reject(headers, error, path)

    async def handle(
        self, method: str, headers: dict[str, str], query_string: str, body: bytes, path: str = "/"
    ) -> AwsResponse:
        exchange = self.current
        if exchange is None:
            return await self.inner.handle(method, headers, query_string, body, path)
        exchange.before = store_fingerprint(self.server)
        token = _IN_REQUEST.set(True)
        self.window_open = True
        try:
            return await self.inner.handle(method, headers, query_string, body, path)
        finally:
            self.window_open = False
            _IN_REQUEST.reset(token)
            exchange.after = store_fingerprint(self.server)
            exchange.open_transaction = self.server.db.conn.in_transaction


class _FaultLog(logging.Handler):
    """Listens to the edge's logger, so a server fault names the exception behind it."""

    def __init__(self, recorder: _RecordingDispatcher) -> None:
        super().__init__(logging.ERROR)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        exchange = self.recorder.current
        if exchange is not None and record.exc_info and record.exc_info[1] is not None:
            frames = traceback.extract_tb(record.exc_info[2])
            where = next((f"{f.filename}:{f.lineno}" for f in reversed(frames) if "/ecslite/" in f.filename), "?")
            exchange.failures.append(f"{record.exc_info[1]!r} at {where}")


class EdgeHarness:
    """A server plus an HTTP client bound to it, on an event loop owned by the harness."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = build_server(Settings(data_dir=data_dir, ephemeral=True, runtime="fake"))
        self.loop.run_until_complete(self.server.start())
        self.recorder = _RecordingDispatcher(self.server.dispatcher, self.server)
        self.server.app.dispatcher = self.recorder  # type: ignore[assignment]
        self.fault_log = _FaultLog(self.recorder)
        logging.getLogger("ecslite.edge.aws").addHandler(self.fault_log)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.server.app), base_url="http://127.0.0.1:4577"
        )

    def send(
        self,
        method: str = "POST",
        path: str = "/",
        headers: dict[str, str] | list[tuple[bytes, bytes]] | None = None,
        content: bytes = b"",
        params: str = "",
    ) -> Exchange:
        exchange = Exchange(response=httpx.Response(0))
        self.recorder.current = exchange
        url = f"{path}?{params}" if params else path
        if isinstance(headers, dict):
            # Latin-1, as HTTP/1.1 carries header bytes; httpx would insist on ASCII for str values.
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        try:
            exchange.response = self.loop.run_until_complete(
                self.client.request(method, url, headers=headers, content=content)
            )
        finally:
            self.recorder.current = None
        return exchange

    def close(self) -> None:
        logging.getLogger("ecslite.edge.aws").removeHandler(self.fault_log)
        try:
            self.loop.run_until_complete(self.client.aclose())
            self.loop.run_until_complete(self.server.stop())
        finally:
            self.loop.close()

    # -- checks ----------------------------------------------------------------------------------

    def check_json_exchange(self, exchange: Exchange) -> dict[str, Any]:
        """A JSON-protocol answer: right content type, an object body, and the shared checks."""
        response = exchange.response
        assert response.headers["content-type"].startswith("application/x-amz-json-1."), response.headers
        assert response.headers.get("x-amzn-requestid")
        body = orjson.loads(response.content)
        assert isinstance(body, dict)
        if response.status_code >= 400:
            assert isinstance(body.get("__type"), str) and body["__type"], body
            assert isinstance(body.get("message", ""), str), body
            self._check_server_fault(exchange, body["__type"], body.get("message", ""))
        self.check_store(exchange)
        return body

    def check_xml_exchange(self, exchange: Exchange) -> ET.Element:
        """A query-protocol answer: well-formed XML; errors as ``ErrorResponse`` with code and request id."""
        response = exchange.response
        assert response.headers["content-type"] == "text/xml", response.headers
        root = ET.fromstring(response.content)
        if response.status_code >= 400 and root.tag == "Response":
            # EC2's dialect: <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>
            code = root.findtext("Errors/Error/Code")
            assert code, response.text
            assert root.find("Errors/Error/Message") is not None, response.text
            assert root.findtext("RequestID"), response.text
            self._check_server_fault(exchange, code, root.findtext("Errors/Error/Message") or "")
        elif response.status_code >= 400:
            assert root.tag == "ErrorResponse", response.text
            code = root.findtext("Error/Code")
            assert code, response.text
            assert root.findtext("Error/Type") in ("Sender", "Receiver"), response.text
            assert root.find("Error/Message") is not None, response.text
            assert root.findtext("RequestId"), response.text
            self._check_server_fault(exchange, code, root.findtext("Error/Message") or "")
        self.check_store(exchange)
        return root

    def _check_server_fault(self, exchange: Exchange, code: str, message: str) -> None:
        """No 5xx, except 501 for an operation of a service whose provider lacks it (nothing ran)."""
        status = exchange.response.status_code
        if status < 500:
            return
        match = _NOT_IMPLEMENTED.fullmatch(message)
        assert status == 501 and code == "NotImplemented" and match, (status, code, message, exchange.failures)
        operation, service = match.groups()
        assert operation_model(service, operation) is not None, message
        provider = self.server.providers.get(service)
        assert provider is None or find_handler(provider, operation) is None, message

    def check_store(self, exchange: Exchange) -> None:
        assert not exchange.open_transaction, "a request left a transaction open"
        if exchange.response.status_code < 400 or exchange.before is None:
            return
        assert not exchange.own_changes, f"rejected request published changes: {exchange.own_changes}"
        if not exchange.foreign_commit:
            changed = {
                t
                for t in exchange.before.keys() | exchange.after.keys()
                if (exchange.after or {}).get(t) != exchange.before.get(t)
            }
            assert not changed, f"rejected request changed tables {sorted(changed)}"


class EdgePart:
    """One of the edge's own apps (S3's, ECR's registry: ``handle(scope, receive, send, headers)``)
    over an in-memory store, driven through ``httpx.ASGITransport`` on a private event loop. A
    subclass makes its provider over ``db`` and sets ``part``."""

    base_url = "http://edge.local"
    part: Any

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.db = Database(None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        await self.part.handle(scope, receive, send, headers)

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, url, headers=headers, content=body)

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.close()
        self.db.close()
