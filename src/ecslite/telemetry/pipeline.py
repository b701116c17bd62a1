"""The ingest pipeline: receivers → (decompress, parse, validate, enrich) → store (spec/telemetry.md §1.4).

Receivers call :meth:`Pipeline.submit` with the raw body; it returns at once, either ``None``
(refused: the pipeline is full, answer 503 + ``Retry-After`` / gRPC ``UNAVAILABLE`` with
RetryInfo) or a future the ingest thread completes with an :class:`IngestResult`. The event loop
only moves bytes; decompression, parsing and enrichment run on the one ingest thread, SQLite on
the store's writer threads (§8.1).

Back-pressure (never a silent drop): a request is refused when the bodies waiting for the
ingest thread would pass ``max_queue_bytes`` (256 MiB) or the records accepted and not yet
committed (waiting for the ingest thread as ready-made records, or in the store's writers) reach
``max_pending_items`` (100,000). Every refusal is counted per receiver and
signal (``ecslite_receiver_refused_total``). Memory is therefore bounded by the two limits; a
request that was not refused is stored in full (records it rejects are reported to the sender as
partial success).
"""

from __future__ import annotations

import concurrent.futures
import gc
import logging
import queue
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from ecslite.clock import Clock, SystemClock
from ecslite.telemetry import otlp, prometheus
from ecslite.telemetry.attributes import attributes_from_pb
from ecslite.telemetry.enrich import TaskOwner, enrich
from ecslite.telemetry.log_records import LogBatch
from ecslite.telemetry.model import MetricBatch, Resource, Signal
from ecslite.telemetry.span_records import SpanBatch
from ecslite.telemetry.store import TelemetryStore

log = logging.getLogger(__name__)

MIB = 1024 * 1024
ENCODINGS = ("", "identity", "gzip", "deflate", "zstd")


class Outcome(StrEnum):
    OK = "ok"
    BAD_REQUEST = "bad_request"
    TOO_LARGE = "too_large"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    max_queue_bytes: int = 256 * MIB
    max_pending_items: int = 100_000
    max_body_bytes: int = 64 * MIB  # after decompression (§1.2)
    retry_after_seconds: int = 1
    override_resource: bool = False


@dataclass(frozen=True, slots=True)
class IngestRequest:
    signal: str
    body: bytes
    encoding: str = "protobuf"  # protobuf | json
    compression: str = ""  # "" | identity | gzip | deflate | zstd
    owner: TaskOwner | None = None
    receiver: str = "otlp"


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: Outcome
    accepted: int = 0
    rejected: int = 0
    message: str = ""


class Pipeline:
    def __init__(self, store: TelemetryStore, settings: PipelineSettings | None = None, clock: Clock | None = None):
        self.store = store
        self.settings = settings or PipelineSettings()
        self.clock = clock or SystemClock()
        self.delta = prometheus.DeltaAccumulator()
        self._queue: queue.SimpleQueue[tuple[Any, concurrent.futures.Future[IngestResult]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued_bytes = 0
        self._queued_items = 0  # records of submit_batches not yet handed to the store
        self.refused: Counter[tuple[str, str]] = Counter()
        self.accepted: Counter[tuple[str, str]] = Counter()
        self.rejected: Counter[tuple[str, str]] = Counter()
        self.bad_requests: Counter[tuple[str, str]] = Counter()
        self.received_bytes: Counter[tuple[str, str]] = Counter()
        self._thread = threading.Thread(target=self._run, name="telemetry-ingest", daemon=True)
        self._thread.start()

    # -- called by receivers (any thread) --------------------------------------------------------

    def submit(self, request: IngestRequest) -> concurrent.futures.Future[IngestResult] | None:
        """Queue a request for the ingest thread, or ``None`` when the pipeline is full (counted)."""
        return self._offer(request, len(request.body), 0, request.receiver, request.signal)

    def submit_batches(
        self, signal: str, batches: Sequence[SpanBatch | LogBatch | MetricBatch], owner: TaskOwner | None, receiver: str
    ) -> concurrent.futures.Future[IngestResult] | None:
        """Records built by another receiver (Forward, X-Ray, scrapes): enriched and stored like OTLP."""
        items = sum(_size(b) for b in batches)
        return self._offer((signal, list(batches), owner, receiver), 0, items, receiver, signal)

    def _offer(
        self, item: Any, size: int, items: int, receiver: str, signal: str
    ) -> concurrent.futures.Future[IngestResult] | None:
        key = (receiver, signal)
        with self._lock:
            full = (
                self._queued_bytes + size > self.settings.max_queue_bytes
                or self._queued_items + self.store.pending >= self.settings.max_pending_items
            )
            if full:
                self.refused[key] += 1
                return None
            self._queued_bytes += size
            self._queued_items += items
            self.received_bytes[key] += size
        future: concurrent.futures.Future[IngestResult] = concurrent.futures.Future()
        self._queue.put((item, future))
        return future

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def counters(self) -> dict[str, Any]:
        def flat(counter: Counter[tuple[str, str]]) -> dict[str, int]:
            return {f"{r}/{s}": n for (r, s), n in sorted(counter.items())}

        return {
            "accepted": flat(self.accepted),
            "rejected": flat(self.rejected),
            "refused": flat(self.refused),
            "badRequests": flat(self.bad_requests),
            "receivedBytes": flat(self.received_bytes),
            "queuedBytes": self._queued_bytes,
            "queuedItems": self._queued_items,
            "pending": self.store.pending,
            "deltaDropped": self.delta.dropped,
            "store": self.store.counters(),
            "writer": self.store.writer_info(),
        }

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10.0)

    # -- the ingest thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            item, future = entry
            try:
                result = self._process(item) if isinstance(item, IngestRequest) else self._process_batches(*item)
            except Exception as error:  # a bug: the sender learns of it, the thread lives on
                log.exception("telemetry ingest failed")
                result = IngestResult(Outcome.BAD_REQUEST, message=f"internal error: {error}")
            finally:
                with self._lock:
                    if isinstance(item, IngestRequest):
                        self._queued_bytes -= len(item.body)
                    else:
                        self._queued_items -= sum(_size(b) for b in item[1])
            future.set_result(result)

    def _process(self, request: IngestRequest) -> IngestResult:
        key = (request.receiver, request.signal)
        try:
            body = decompress(request.body, request.compression, self.settings.max_body_bytes)
        except BodyTooLarge:
            self.bad_requests[key] += 1
            return IngestResult(Outcome.TOO_LARGE, message=too_large_message(self.settings.max_body_bytes))
        except otlp.BadRequest as error:
            self.bad_requests[key] += 1
            return IngestResult(Outcome.BAD_REQUEST, message=str(error))
        try:
            decoded = self._decode(request.signal, body, request.encoding, request.owner)
        except otlp.BadRequest as error:
            self.bad_requests[key] += 1
            return IngestResult(Outcome.BAD_REQUEST, message=str(error))
        self._store(request.signal, decoded.batches)
        self.accepted[key] += decoded.accepted
        self.rejected[key] += decoded.rejected
        return IngestResult(Outcome.OK, decoded.accepted, decoded.rejected, decoded.error_message)

    def _decode(self, signal: str, body: bytes, encoding: str, owner: TaskOwner | None) -> otlp.Decoded:
        now = self.clock.now()
        override = self.settings.override_resource

        def on_resource(resource: Resource) -> Resource:
            return enrich(resource, owner, override=override)

        oldest_ns = int((now - self.store.settings.retention_seconds.get(signal, 3 * 86400.0)) * 1e9)
        if signal in (Signal.TRACES, Signal.LOGS) and encoding == "json":
            # JSON becomes protobuf once, so both encodings share the column decoders (otlp module doc).
            body = otlp.parse_request(signal, body, encoding).SerializeToString()
        if signal == Signal.TRACES:
            return otlp.decode_trace_bytes(body, on_resource, oldest_ns)
        if signal == Signal.LOGS:
            return otlp.decode_log_bytes(body, on_resource, oldest_ns, int(now * 1e9))
        message = cast(metrics_service_pb2.ExportMetricsServiceRequest, otlp.parse_request(signal, body, encoding))
        resources = [
            on_resource(Resource(attributes_from_pb(rm.resource.attributes), rm.resource.dropped_attributes_count))
            for rm in message.resource_metrics
        ]
        batches, accepted, _rejected, reasons = prometheus.convert(
            message, resources, self.delta, now, oldest_ns // 1_000_000
        )
        decoded = otlp.Decoded(Signal.METRICS, list(batches), accepted)
        for reason, count in reasons.items():
            decoded.reject(reason, count)
        return decoded

    def _process_batches(self, signal: str, batches: list[Any], owner: TaskOwner | None, receiver: str) -> IngestResult:
        override = self.settings.override_resource
        enriched = [_with_resource(b, enrich(b.resource, owner, override=override)) for b in batches]
        self._store(signal, enriched)
        count = sum(_size(b) for b in enriched)
        self.accepted[(receiver, signal)] += count
        return IngestResult(Outcome.OK, count)

    def _store(self, signal: str, batches: Sequence[Any]) -> None:
        if not batches:
            return
        while not self.store.wait_for_room(signal, 1.0):
            log.warning("telemetry store is behind; ingest waits", extra={"signal": signal})
        for batch in batches:
            if isinstance(batch, SpanBatch):
                self.store.write_spans(batch)
            elif isinstance(batch, LogBatch):
                self.store.write_logs(batch)
            else:
                self.store.write_metrics(batch)


def _with_resource(batch: Any, resource: Resource) -> Any:
    import dataclasses

    return dataclasses.replace(batch, resource=resource)


def _size(batch: Any) -> int:
    if isinstance(batch, SpanBatch):
        return len(batch.spans)
    if isinstance(batch, LogBatch):
        return len(batch.records)
    return len(batch.samples)


COLLECTOR_THRESHOLDS = (20_000, 10, 20)
SWITCH_INTERVAL = 0.001  # seconds


def tune_interpreter() -> None:
    """Interpreter settings for a process that ingests telemetry beside an event loop.

    - Garbage collection less often: ingest allocates several containers per record and keeps up to
      ``max_pending_items`` records alive (queues, writer batches), so with CPython's default
      thresholds (700, 10, 10) the collector walks the whole heap several times a second, each
      time holding the GIL for 100-200 ms, although records hold no reference cycles and die by
      reference counting. Measured under OTLP ingest: DescribeClusters p99 from 160 ms to 25-45 ms,
      and a fifth less CPU per record (docs/benchmarks.md). Larger thresholds save a little more
      CPU but make each young collection a longer pause.
    - A 1 ms GIL switch interval (default 5 ms): while the ingest, span-metrics and writer threads
      are busy, the event loop waits up to an interval for the GIL at every step of a request.

    Never lowers a collector threshold nor lengthens the switch interval.
    """
    current = gc.get_threshold()
    gc.set_threshold(*(max(have, wanted) for have, wanted in zip(current, COLLECTOR_THRESHOLDS, strict=True)))
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))


class BodyTooLarge(Exception):
    pass


def too_large_message(limit: int) -> str:
    return f"request body larger than {limit // MIB} MiB after decompression"


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Decompress incrementally and stop at ``limit`` (§1.2); concatenated gzip members are read."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise BodyTooLarge
        return body
    if encoding == "gzip":
        return _inflate(body, 16 + zlib.MAX_WBITS, limit)
    if encoding == "deflate":
        try:
            return _inflate(body, zlib.MAX_WBITS, limit)
        except otlp.BadRequest:
            return _inflate(body, -zlib.MAX_WBITS, limit)  # raw deflate, as some clients send it
    if encoding == "zstd":
        try:
            import zstandard
        except ImportError:
            raise otlp.BadRequest("Content-Encoding zstd is not supported by this server") from None
        try:
            reader = zstandard.ZstdDecompressor().decompressobj()
            out = reader.decompress(body)
        except zstandard.ZstdError as error:
            raise otlp.BadRequest(f"invalid zstd body: {error}") from None
        if len(out) > limit:
            raise BodyTooLarge
        return bytes(out)
    raise otlp.BadRequest(f"unsupported Content-Encoding {encoding!r}")


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    out: list[bytes] = []
    total = 0
    data = body
    try:
        while data:
            inflater = zlib.decompressobj(wbits)
            while data:
                chunk = inflater.decompress(data, limit + 1 - total)
                total += len(chunk)
                out.append(chunk)
                if total > limit:
                    raise BodyTooLarge
                data = inflater.unconsumed_tail
                if inflater.eof:
                    break
            if not inflater.eof:
                raise otlp.BadRequest("truncated compressed body")
            data = inflater.unused_data
    except zlib.error as error:
        raise otlp.BadRequest(f"invalid compressed body: {error}") from None
    return b"".join(out)


def wait_result(future: concurrent.futures.Future[IngestResult], timeout: float = 120.0) -> IngestResult:
    """Block a receiver thread (gRPC) until the ingest thread answers."""
    deadline = time.monotonic() + timeout
    return future.result(max(0.0, deadline - time.monotonic()))
