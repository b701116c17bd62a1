"""OTLP/gRPC (spec/telemetry.md §1.1): a grpcio server on a private loopback port behind the listeners.

Every OTLP listener sniffs the HTTP/2 preface and splices gRPC connections to this server, so one
server serves the host receivers and every task's implicit ``localhost:4317``. The splice's
local port tells which listener (and so which task) a call came through: listeners register it
with :meth:`GrpcBackend.register_peer` before the first byte is forwarded.

Methods are served with a raw-bytes generic handler, so requests are decoded on the ingest
thread, not here. Codes: ``OK`` (partial success when something was rejected),
``INVALID_ARGUMENT`` for undecodable requests, ``UNAVAILABLE`` with ``google.rpc.RetryInfo``
when the pipeline is full, ``RESOURCE_EXHAUSTED`` without RetryInfo over the 64 MiB limit
(grpcio's own check), ``UNIMPLEMENTED`` for profiles and anything else.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ecslite.telemetry.enrich import TaskOwner
from ecslite.telemetry.model import Signal
from ecslite.telemetry.pipeline import IngestRequest, IngestResult, Outcome, Pipeline, too_large_message

log = logging.getLogger(__name__)

METHODS = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export": Signal.TRACES,
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export": Signal.LOGS,
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": Signal.METRICS,
}
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
RETRY_INFO_KEY = "grpc-status-details-bin"


def export_response(signal: str, result: IngestResult) -> bytes:
    """The ``Export*ServiceResponse`` bytes; ``partial_success`` only when something was rejected."""
    if signal == Signal.TRACES:
        traces = trace_service_pb2.ExportTraceServiceResponse()
        if result.rejected:
            traces.partial_success.rejected_spans = result.rejected
            traces.partial_success.error_message = result.message
        return traces.SerializeToString()
    if signal == Signal.LOGS:
        logs = logs_service_pb2.ExportLogsServiceResponse()
        if result.rejected:
            logs.partial_success.rejected_log_records = result.rejected
            logs.partial_success.error_message = result.message
        return logs.SerializeToString()
    metrics = metrics_service_pb2.ExportMetricsServiceResponse()
    if result.rejected:
        metrics.partial_success.rejected_data_points = result.rejected
        metrics.partial_success.error_message = result.message
    return metrics.SerializeToString()


RESPONSES: dict[str, type[Message]] = {
    Signal.TRACES: trace_service_pb2.ExportTraceServiceResponse,
    Signal.LOGS: logs_service_pb2.ExportLogsServiceResponse,
    Signal.METRICS: metrics_service_pb2.ExportMetricsServiceResponse,
}


def unavailable_status(retry_after: int) -> bytes:
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_after))
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message="ecslite telemetry pipeline is full; retry later")
    status.details.add().Pack(retry)
    packed: bytes = status.SerializeToString()
    return packed


class GrpcBackend:
    def __init__(self, pipeline: Pipeline, *, workers: int = 8) -> None:
        self.pipeline = pipeline
        self._peers: dict[int, TaskOwner | None] = {}
        self._lock = threading.Lock()
        self._server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
            handlers=[_Handler(self)],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", 4 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ],
            maximum_concurrent_rpcs=workers * 64,
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    def register_peer(self, port: int, owner: TaskOwner | None) -> None:
        with self._lock:
            self._peers[port] = owner

    def forget_peer(self, port: int) -> None:
        with self._lock:
            self._peers.pop(port, None)

    def owner_of(self, peer: str) -> TaskOwner | None:
        # grpcio names a TCP peer "ipv4:127.0.0.1:54321"; the port is the splice's local port.
        try:
            port = int(peer.rsplit(":", 1)[-1])
        except ValueError:
            return None
        with self._lock:
            return self._peers.get(port)

    def export(self, signal: str, body: bytes, context: grpc.ServicerContext) -> bytes:
        owner = self.owner_of(context.peer())
        receiver = "otlp_grpc_task" if owner is not None else "otlp_grpc"
        # grpcio has already decompressed the message (grpc-encoding gzip/deflate).
        future = self.pipeline.submit(IngestRequest(signal, body, "protobuf", "", owner, receiver))
        if future is None:
            context.set_trailing_metadata(
                ((RETRY_INFO_KEY, unavailable_status(self.pipeline.settings.retry_after_seconds)),)
            )
            context.abort(grpc.StatusCode.UNAVAILABLE, "ecslite telemetry pipeline is full; retry later")
            raise AssertionError("abort raises")
        result = future.result()
        if result.outcome is Outcome.BAD_REQUEST:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, result.message)
        if result.outcome is Outcome.TOO_LARGE:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, too_large_message(self.pipeline.settings.max_body_bytes))
        return export_response(signal, result)

    def close(self, grace: float = 2.0) -> None:
        self._server.stop(grace).wait(grace + 1)


class _Handler(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, backend: GrpcBackend) -> None:
        self.backend = backend

    def service(self, details: Any) -> Any:
        signal = METHODS.get(details.method)
        if signal is None:
            return None  # grpcio answers UNIMPLEMENTED (profiles included, §1.1)

        def handle(body: bytes, context: grpc.ServicerContext) -> bytes:
            return self.backend.export(signal, body, context)

        return grpc.unary_unary_rpc_method_handler(handle)
