"""Inputs of ecslite's Fluent Bit: ``forward`` (TCP and ``unix_path``), ``opentelemetry`` (OTLP/HTTP and
gRPC on every port), ``http``, ``tcp`` and ``dummy`` (spec/telemetry.md §1, §4, §6.5).

Every input first hands what it received to ecslite (the tap, :mod:`ecslite.builtin.tap`), then to
the router: the store sees every record whatever the routing does (§6.5, last paragraph). A full
ecslite pushes back through the input: Forward stops reading and holds its acks, OTLP answers
503/``UNAVAILABLE`` (§1.4).

Tags: ``Tag`` overrides; else Forward keeps the sender's tag (``Tag_Prefix`` prepended), the
``opentelemetry`` input tags by URI (``v1_traces``, ``v1_metrics``, ``v1_logs``; ``Tag_From_Uri``
default on, §6.5 row 3), ``http`` by its URI path, others by the instance name.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Sequence
from typing import Any, cast

import msgpack
import orjson

from ecslite.builtin.fluentbit.config import Section
from ecslite.builtin.fluentbit.engine import LOGS, METRICS, TRACES, Chunk, Engine, Input
from ecslite.builtin.http import HttpServer, Request, Response, text_response
from ecslite.telemetry.receivers.forward import (
    ForwardMessage,
    ForwardServer,
    ForwardSettings,
    Peer,
    event_time,
)

FORWARD_PORT = 24224
ROUTER_OPTION = "ecslite_router"  # set by this router's forward outputs (loop guard, §6.5 row 4)


def _listen(section: Section, default_port: int) -> tuple[str, int]:
    host = (section.get("listen") or "0.0.0.0").strip()
    try:
        port = int(section.get("port") or default_port)
    except ValueError:
        port = default_port
    return host, port


def pack_forward(messages: Sequence[tuple[str, list[tuple[int, dict[str, Any]]]]]) -> bytes:
    """Forward-mode messages ``[tag, [[EventTime, record], ...]]`` concatenated (for the tap)."""
    return b"".join(
        msgpack.packb([tag, [[event_time(ts), record] for ts, record in entries]], use_bin_type=True, default=str)
        for tag, entries in messages
    )


class ForwardInput(Input):
    """``forward``: ``Listen``/``Port`` (24224) or ``unix_path`` (+ ``unix_perm``), ``Buffer_Chunk_Size``,
    ``Buffer_Max_Size``, ``Tag``, ``Tag_Prefix``, ``Shared_Key``, ``Self_Hostname``, ``Security.Users``."""

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        users = []
        for value in section.get_all("security.users"):
            user, _, password = value.strip().partition(" ")
            users.append((user, password.strip()))
        shared_key = section.get("shared_key")
        self.settings = ForwardSettings(
            buffer_chunk_size=section.size("buffer_chunk_size", 1_024_000),
            buffer_max_size=section.size("buffer_max_size", 6_144_000),
            shared_key=shared_key,
            self_hostname=section.get("self_hostname") or "localhost",
            users=tuple(users),
            empty_shared_key=section.flag("empty_shared_key"),
        )
        self.tag_prefix = section.get("tag_prefix") or ""
        self.unix_path = section.get("unix_path")
        self.server = ForwardServer(self, self.settings, name=f"fluentbit-{self.name}")
        self.loop: asyncio.AbstractEventLoop | None = None
        self.looped = 0

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        if self.unix_path:
            perm = self.section.get("unix_perm")
            await self.server.listen_unix(self.unix_path, int(perm, 8) if perm else 0o666)
        else:
            host, port = _listen(self.section, FORWARD_PORT)
            await self.server.listen_tcp(host, port)

    async def stop(self) -> None:
        await self.server.close()

    # ForwardSink, on the Forward worker thread.
    def deliver(self, messages: Sequence[ForwardMessage], peer: Peer) -> bool:
        fresh = []
        routed: list[tuple[str, list[tuple[int, dict[str, Any]]], int]] = []
        for message in messages:
            if message.signal != 0:
                continue
            ours = message.options.get(ROUTER_OPTION) == self.engine.router_id
            if ours and self.tag is None:
                # Sent by this router's own forward output and would keep its tag: it would loop forever.
                self.looped += len(message.entries)
                continue
            if not ours:
                fresh.append((message.tag, message.entries))
            tag = self.tag or f"{self.tag_prefix}{message.tag}"
            routed.append((tag, message.entries, message.size))
        if fresh:
            status, retry_after = self.engine.tap.forward(pack_forward(fresh))
            if status == 503:
                time.sleep(min(retry_after or 1.0, 1.0))
                return False  # the Forward worker holds the acks and offers the messages again
        loop = self.loop
        if routed and loop is not None:
            loop.call_soon_threadsafe(self._route, routed)
        return True

    def _route(self, routed: list[tuple[str, list[tuple[int, dict[str, Any]]], int]]) -> None:
        if self.looped:
            self.warn(
                f"dropped {self.looped} records that this router's forward output sent back to it with their "
                "FireLens tag (they would loop); give this input a Tag, or send them elsewhere"
            )
            self.looped = 0
        for tag, entries, size in routed:
            records = [(ts, {str(k): v for k, v in record.items()}) for ts, record in entries]
            self.emit(Chunk(tag, LOGS, records, size=size))


# -- opentelemetry ---------------------------------------------------------------------------------

URI_TAGS = {TRACES: "v1_traces", METRICS: "v1_metrics", LOGS: "v1_logs"}


def _count(signal: str, message: Any) -> int:
    if signal == TRACES:
        return sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    if signal == LOGS:
        return sum(len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs)
    total = 0
    for rm in message.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                total += len(getattr(metric, kind).data_points) if kind else 0
    return total


class _OtlpRouting:
    """What the OTLP listener code calls ``pipeline``: ``submit`` an export request, get a future."""

    def __init__(self, owner: OpenTelemetryInput) -> None:
        from ecslite.telemetry.pipeline import PipelineSettings

        self.input = owner
        self.settings = PipelineSettings(max_body_bytes=owner.section.size("buffer_max_size", 64 * 1024 * 1024))

    def submit(self, request: Any) -> concurrent.futures.Future[Any] | None:
        tap = self.input.engine.tap
        if tap.full_until > time.monotonic():
            return None
        loop = self.input.loop
        assert loop is not None
        return asyncio.run_coroutine_threadsafe(self.input.handle(request), loop)


class OpenTelemetryInput(Input):
    """``opentelemetry``: ``Listen``/``Port`` (4318), ``Tag``, ``Tag_From_Uri`` (on),
    ``Successful_Response_Code`` (201), ``Buffer_Max_Size``; both transports on the port (§1.2)."""

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.tag_from_uri = section.flag("tag_from_uri", True)
        try:
            self.success_code = int(section.get("successful_response_code") or 201)
        except ValueError:
            self.success_code = 201
        if self.success_code not in (200, 201, 204):
            self.warn(f"successful_response_code {self.success_code} is not 200, 201 or 204; using 201")
            self.success_code = 201
        self.loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.Server] = []
        self._grpc: Any = None

    async def start(self) -> None:
        from ecslite.telemetry.pipeline import Pipeline
        from ecslite.telemetry.receivers.otlp_grpc import GrpcBackend

        self.loop = asyncio.get_running_loop()
        routing = cast(Pipeline, _OtlpRouting(self))  # the listener code needs only submit() and settings
        self._grpc = await asyncio.to_thread(GrpcBackend, routing, workers=4)
        connection = _connection_class(self.success_code)
        host, port = _listen(self.section, 4318)
        server = await self.loop.create_server(
            lambda: connection(routing, self._grpc, None), host, port, reuse_address=True
        )
        self._servers.append(server)

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        if self._grpc is not None:
            await asyncio.to_thread(self._grpc.close, 1.0)

    def tag_for(self, signal: str) -> str:
        if self.tag and not self.tag_from_uri:
            return self.tag
        if self.tag_from_uri:
            return URI_TAGS[signal]
        return self.tag or self.name

    async def handle(self, request: Any) -> Any:
        """Tap, then route one export request; the answer the OTLP listener gives."""
        from ecslite.telemetry import otlp
        from ecslite.telemetry.pipeline import BodyTooLarge, IngestResult, Outcome, decompress, too_large_message

        limit = 64 * 1024 * 1024
        try:
            body = decompress(request.body, request.compression, limit)
            message = otlp.parse_request(request.signal, body, request.encoding)
        except BodyTooLarge:
            return IngestResult(Outcome.TOO_LARGE, message=too_large_message(limit))
        except otlp.BadRequest as error:
            return IngestResult(Outcome.BAD_REQUEST, message=str(error))
        content_type = "application/json" if request.encoding == "json" else "application/x-protobuf"
        tap = self.engine.tap
        while True:
            status, text, retry_after = await tap.otlp(request.signal, request.body, content_type, request.compression)
            if status != 503:
                break
            # ecslite is full: this request waits (the sender waits for its answer), new ones get 503.
            wait = retry_after or 1.0
            tap.full_until = time.monotonic() + wait
            await asyncio.sleep(wait)
        if status == 400:
            return IngestResult(Outcome.BAD_REQUEST, message=text)
        count = _count(request.signal, message)
        payload = message.SerializeToString() if request.encoding == "json" else body
        self.emit(Chunk(self.tag_for(request.signal), request.signal, payload=payload, count=count, size=len(body)))
        return IngestResult(Outcome.OK, count)


def _connection_class(success_code: int) -> Any:
    """The OTLP listener connection answering Fluent Bit's ``successful_response_code``."""
    from ecslite.telemetry.receivers.otlp_http import Answer, OtlpConnection

    class RouterOtlpConnection(OtlpConnection):
        def _answer(self, signal: str, encoding: str, result: Any, close: bool) -> Answer:  # type: ignore[override]
            answer = OtlpConnection._answer(signal, encoding, result, close)
            if answer.status == 200 and success_code != 200:
                body = b"" if success_code == 204 else answer.body
                return Answer(success_code, body, answer.content_type, answer.headers, answer.close)
            return answer

    return RouterOtlpConnection


# -- http, tcp, dummy --------------------------------------------------------------------------------


class HttpInput(Input):
    """``http``: JSON object(s) or NDJSON posted to ``Listen:Port`` (9880); the tag is ``Tag``, else the
    URI path without its slash; answers ``Successful_Response_Code`` (201)."""

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.server = HttpServer(self.handle)
        try:
            self.success_code = int(section.get("successful_response_code") or 201)
        except ValueError:
            self.success_code = 201

    async def start(self) -> None:
        host, port = _listen(self.section, 9880)
        await self.server.listen(host, port)

    async def stop(self) -> None:
        self.server.close()

    async def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return text_response("method not allowed\n", 400)
        try:
            data = orjson.loads(request.body)
            items = data if isinstance(data, list) else [data]
        except orjson.JSONDecodeError:
            try:
                items = [orjson.loads(line) for line in request.body.splitlines() if line.strip()]
            except orjson.JSONDecodeError:
                return text_response("error: invalid JSON\n", 400)
        records = [(time.time_ns(), item) for item in items if isinstance(item, dict)]
        tag = self.tag or request.path.strip("/").replace("/", ".") or self.name
        if records:
            status, _ = await asyncio.to_thread(self.engine.tap.forward, pack_forward([(tag, records)]))
            if status == 503:
                return text_response("error: busy\n", 503)
            self.emit(Chunk(tag, LOGS, records, size=len(request.body)))
        return Response(self.success_code, b"", "text/plain")


class TcpInput(Input):
    """``tcp``: JSON objects (``Format json``, default) or lines (``Format none``: ``{"log": line}``)."""

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.format = (section.get("format") or "json").strip().lower()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        host, port = _listen(self.section, 5170)
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                if not text:
                    continue
                if self.format == "none":
                    record: Any = {"log": text}
                else:
                    try:
                        record = orjson.loads(text)
                    except orjson.JSONDecodeError:
                        continue
                if isinstance(record, dict):
                    tag = self.tag or self.name
                    await asyncio.to_thread(self.engine.tap.forward, pack_forward([(tag, [(time.time_ns(), record)])]))
                    self.emit(Chunk(tag, LOGS, [(time.time_ns(), record)], size=len(line)))
        finally:
            writer.close()


class DummyInput(Input):
    """``dummy``: ``Dummy`` (JSON, default ``{"message":"dummy"}``) ``Rate`` times a second, ``Samples`` in all."""

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        try:
            record = orjson.loads(section.get("dummy") or '{"message":"dummy"}')
        except orjson.JSONDecodeError:
            self.warn('Dummy is not valid JSON; using {"message":"dummy"}')
            record = {"message": "dummy"}
        self.record: dict[str, Any] = record if isinstance(record, dict) else {"message": "dummy"}
        self.rate = max(section.number("rate", 1.0), 0.001)
        self.samples = int(section.number("samples", 0))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        sent = 0
        tag = self.tag or self.name
        while not self.samples or sent < self.samples:
            await asyncio.sleep(1.0 / self.rate)
            record = dict(self.record)
            now = time.time_ns()
            await asyncio.to_thread(self.engine.tap.forward, pack_forward([(tag, [(now, record)])]))
            self.emit(Chunk(tag, LOGS, [(now, record)], size=len(orjson.dumps(record))))
            sent += 1


INPUTS = {
    "forward": ForwardInput,
    "opentelemetry": OpenTelemetryInput,
    "http": HttpInput,
    "tcp": TcpInput,
    "dummy": DummyInput,
}
