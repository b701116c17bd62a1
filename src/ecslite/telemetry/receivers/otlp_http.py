"""An OTLP listener connection: sniffs the transport, serves OTLP/HTTP, splices gRPC (spec §1.2).

Each accepted connection reads its first bytes: the HTTP/2 preface means gRPC, and the
connection is spliced byte for byte to the :class:`~.otlp_grpc.GrpcBackend`; anything else is
HTTP/1.1, parsed with ``httptools`` and answered here. The event loop only moves bytes: bodies go
to the pipeline untouched and answers come back from the ingest thread.

HTTP rules (§1.2): ``POST /v1/traces|metrics|logs``; other methods 405 with ``Allow: POST``;
``Content-Type`` ``application/x-protobuf`` or ``application/json`` (else 415); ``gzip``,
``deflate`` and ``zstd`` bodies; 413 past 64 MiB; 400 with a ``google.rpc.Status`` in the
request's encoding for bad data; 503 with ``Retry-After`` when the pipeline is full; 200 with the
``Export*ServiceResponse`` (partial success when something was rejected). Keep-alive and
pipelined requests are answered in order; reading pauses while 16 answers are outstanding.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import httptools
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from ecslite.telemetry.enrich import TaskOwner
from ecslite.telemetry.model import Signal
from ecslite.telemetry.pipeline import ENCODINGS, IngestRequest, IngestResult, Outcome, Pipeline, too_large_message
from ecslite.telemetry.receivers.otlp_grpc import RESPONSES, GrpcBackend, export_response

log = logging.getLogger(__name__)

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PATHS = {"/v1/traces": Signal.TRACES, "/v1/metrics": Signal.METRICS, "/v1/logs": Signal.LOGS}
CONTENT_TYPES = {"application/x-protobuf": "protobuf", "application/json": "json"}
MAX_OUTSTANDING = 16
REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
PATH_HINT = "OTLP/HTTP paths are /v1/traces, /v1/metrics and /v1/logs"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False


def status_body(code: int, message: str, encoding: str) -> tuple[bytes, str]:
    """A ``google.rpc.Status`` in the request's encoding (§1.2)."""
    if encoding == "protobuf":
        return status_pb2.Status(code=code, message=message).SerializeToString(), "application/x-protobuf"
    import orjson

    return orjson.dumps({"code": code, "message": message}), "application/json"


def ok_body(signal: str, result: IngestResult, encoding: str) -> tuple[bytes, str]:
    raw = export_response(signal, result)
    if encoding == "protobuf":
        return raw, "application/x-protobuf"
    message = RESPONSES[signal].FromString(raw)
    return json_format.MessageToJson(message, indent=None).encode(), "application/json"


class OtlpConnection(asyncio.Protocol):
    """One accepted connection of an OTLP listener (host or task)."""

    def __init__(self, pipeline: Pipeline, grpc_backend: GrpcBackend | None, owner: TaskOwner | None) -> None:
        self.pipeline = pipeline
        self.grpc = grpc_backend
        self.owner = owner
        self.receiver = "otlp_http_task" if owner is not None else "otlp_http"
        self.transport: asyncio.Transport | None = None
        self.mode: str | None = None  # None while sniffing, then "http" or "grpc"
        self._sniffed = b""
        self._parser: httptools.HttpRequestParser | None = None
        self._answers: deque[asyncio.Future[Answer]] = deque()
        self._reading_paused = False
        self._closing = False
        self._upstream: asyncio.Transport | None = None
        self._upstream_pending: list[bytes] = []
        self._upstream_port: int | None = None
        self._reset_request()

    # -- connection -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._upstream is not None:
            self._upstream.close()
        if self._upstream_port is not None and self.grpc is not None:
            self.grpc.forget_peer(self._upstream_port)

    def data_received(self, data: bytes) -> None:
        if self.mode == "http":
            self._feed(data)
        elif self.mode == "grpc":
            self._to_upstream(data)
        else:
            self._sniff(data)

    def _sniff(self, data: bytes) -> None:
        self._sniffed += data
        head = self._sniffed[: len(H2_PREFACE)]
        if H2_PREFACE.startswith(head) and len(head) < len(H2_PREFACE):
            return  # could still be the preface: wait for more
        data, self._sniffed = self._sniffed, b""
        if head == H2_PREFACE and self.grpc is not None:
            self.mode = "grpc"
            self._start_splice()
            self._to_upstream(data)
            return
        self.mode = "http"
        self._parser = httptools.HttpRequestParser(self)
        self._feed(data)

    # -- HTTP/1.1 ---------------------------------------------------------------------------------

    def _reset_request(self) -> None:
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._too_large = False

    def _feed(self, data: bytes) -> None:
        assert self._parser is not None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reply_now(Answer(400, b"upgrade not supported", "text/plain", close=True))
        except httptools.HttpParserError as error:
            self._reply_now(Answer(400, f"malformed HTTP request: {error}".encode(), "text/plain", close=True))

    def on_message_begin(self) -> None:
        self._reset_request()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        length = self._headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.pipeline.settings.max_body_bytes:
            self._too_large = True

    def on_body(self, chunk: bytes) -> None:
        if self._too_large:
            return
        self._size += len(chunk)
        if self._size > self.pipeline.settings.max_body_bytes:
            self._too_large = True
            self._body = []
            return
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        assert self._parser is not None
        method = self._parser.get_method().decode()
        keep_alive = self._parser.should_keep_alive()
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._answers.append(future)
        answer = self._route(method, keep_alive, future)
        if answer is not None:
            future.set_result(answer)
        future.add_done_callback(self._flush_answers)
        if len(self._answers) >= MAX_OUTSTANDING and self.transport is not None and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def _route(self, method: str, keep_alive: bool, future: asyncio.Future[Answer]) -> Answer | None:
        close = not keep_alive
        path = self._url.split(b"?", 1)[0].decode("latin-1")
        signal = PATHS.get(path)
        if method == "OPTIONS":
            cors = (
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", "POST, OPTIONS"),
                ("Access-Control-Allow-Headers", "*"),
            )
            return Answer(204, headers=cors, close=close)
        media = self._headers.get("content-type", "").split(";", 1)[0].strip().lower()
        encoding = CONTENT_TYPES.get(media, "json")
        if signal is None:
            hint = f"{path} not found; {PATH_HINT}"
            body, kind = status_body(code_pb2.NOT_FOUND, hint, encoding)
            return Answer(404, body, kind, close=close)
        if method != "POST":
            body, kind = status_body(code_pb2.UNIMPLEMENTED, f"{method} not allowed; use POST", encoding)
            return Answer(405, body, kind, (("Allow", "POST"),), close=close)
        if self._too_large:
            body, kind = status_body(
                code_pb2.RESOURCE_EXHAUSTED, too_large_message(self.pipeline.settings.max_body_bytes), encoding
            )
            return Answer(413, body, kind, close=True)  # the rest of the body is not read
        if media not in CONTENT_TYPES:
            message = f"unsupported Content-Type {media or '(none)'!r}; use application/x-protobuf or application/json"
            body, kind = status_body(code_pb2.INVALID_ARGUMENT, message, encoding)
            return Answer(415, body, kind, close=close)
        compression = self._headers.get("content-encoding", "").strip().lower()
        if compression not in ENCODINGS:
            message = f"unsupported Content-Encoding {compression!r}; use gzip, deflate or zstd"
            body, kind = status_body(code_pb2.INVALID_ARGUMENT, message, encoding)
            return Answer(400, body, kind, close=close)
        request = IngestRequest(signal, b"".join(self._body), encoding, compression, self.owner, self.receiver)
        self._body = []
        pending = self.pipeline.submit(request)
        if pending is None:
            retry = str(self.pipeline.settings.retry_after_seconds)
            body, kind = status_body(code_pb2.UNAVAILABLE, "ecslite telemetry pipeline is full; retry later", encoding)
            return Answer(503, body, kind, (("Retry-After", retry),), close=close)
        loop = asyncio.get_running_loop()

        def answered(done: concurrent.futures.Future[IngestResult]) -> None:
            answer = self._answer(signal, encoding, done.result(), close)
            loop.call_soon_threadsafe(_set, future, answer)

        pending.add_done_callback(answered)
        return None

    @staticmethod
    def _answer(signal: str, encoding: str, result: IngestResult, close: bool) -> Answer:
        if result.outcome is Outcome.OK:
            body, kind = ok_body(signal, result, encoding)
            return Answer(200, body, kind, close=close)
        if result.outcome is Outcome.TOO_LARGE:
            body, kind = status_body(code_pb2.RESOURCE_EXHAUSTED, result.message, encoding)
            return Answer(413, body, kind, close=close)
        body, kind = status_body(code_pb2.INVALID_ARGUMENT, result.message, encoding)
        return Answer(400, body, kind, close=close)

    def _reply_now(self, answer: Answer) -> None:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        future.set_result(answer)
        self._answers.append(future)
        self._flush_answers(future)

    def _flush_answers(self, _: object = None) -> None:
        transport = self.transport
        while self._answers and self._answers[0].done():
            answer = self._answers.popleft().result()
            if transport is None or self._closing:
                continue
            transport.write(_encode(answer))
            if answer.close:
                self._closing = True
                transport.close()
        if self._reading_paused and len(self._answers) < MAX_OUTSTANDING and transport and not self._closing:
            self._reading_paused = False
            transport.resume_reading()

    # -- gRPC splice ------------------------------------------------------------------------------

    def _start_splice(self) -> None:
        assert self.grpc is not None
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._connect_upstream())
        task.add_done_callback(_log_failure)

    async def _connect_upstream(self) -> None:
        assert self.grpc is not None
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_connection(lambda: _Upstream(self), "127.0.0.1", self.grpc.port)
        except OSError:
            if self.transport is not None:
                self.transport.close()
            return
        self._upstream_port = transport.get_extra_info("sockname")[1]
        self.grpc.register_peer(self._upstream_port, self.owner)
        self._upstream = transport
        for chunk in self._upstream_pending:
            transport.write(chunk)
        self._upstream_pending = []
        if self._closing:
            transport.close()

    def _to_upstream(self, data: bytes) -> None:
        if self._upstream is not None:
            self._upstream.write(data)
        else:
            self._upstream_pending.append(data)

    def pause_writing(self) -> None:
        if self._upstream is not None:
            self._upstream.pause_reading()

    def resume_writing(self) -> None:
        if self._upstream is not None:
            self._upstream.resume_reading()


class _Upstream(asyncio.Protocol):
    """The gRPC server's side of a splice: bytes go back to the client unchanged."""

    def __init__(self, client: OtlpConnection) -> None:
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.client.transport is not None:
            self.client.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client.transport is not None:
            self.client.transport.close()

    def pause_writing(self) -> None:
        if self.client.transport is not None:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.client.transport is not None:
            self.client.transport.resume_reading()


def _set(future: asyncio.Future[Answer], answer: Answer) -> None:
    if not future.done():
        future.set_result(answer)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("gRPC splice failed", exc_info=task.exception())


def _encode(answer: Answer) -> bytes:
    lines = [f"HTTP/1.1 {answer.status} {REASONS.get(answer.status, '')}"]
    if answer.status != 204:
        lines.append(f"Content-Type: {answer.content_type}")
        lines.append(f"Content-Length: {len(answer.body)}")
    lines.extend(f"{name}: {value}" for name, value in answer.headers)
    if answer.close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (answer.body if answer.status != 204 else b"")


ConnectionFactory = Callable[[], OtlpConnection]
