"""RED metrics per service and operation, and service graph edges, derived from spans
(spec/telemetry.md §9.2, §9.3). Computed on ingest, not at query time: the store's tap hands every
accepted span batch over (a list append on the ingest thread), and this component's own thread
folds them into cumulative series every ``interval`` seconds, written back to the store as metric
samples stamped with the flush time (as the spanmetrics connector and Tempo's metrics-generator
do). Nothing is sampled away before counting.

Series (both flavours of §9.2, on by default):

- ``traces_span_metrics_calls_total`` and ``traces_span_metrics_duration_milliseconds_{bucket,sum,
  count}`` with ``service_name``, ``span_name``, ``span_kind`` (``SPAN_KIND_SERVER``…),
  ``status_code`` (``STATUS_CODE_ERROR``…) — the OpenTelemetry spanmetrics connector's names;
- ``traces_spanmetrics_calls_total``, ``traces_spanmetrics_latency_{bucket,sum,count}`` (seconds)
  and ``traces_spanmetrics_size_total`` with ``service``, ``span_name``, ``span_kind``,
  ``status_code`` — Tempo's metrics-generator names, which Grafana's service graph and APM table read;
- both with the configured extra dimensions (sanitized attribute names) when a span has them.

Service graph (§9.3): a CLIENT/PRODUCER span is paired with the SERVER/CONSUMER span whose parent
it is, whichever arrives first, waiting up to ``pair_wait`` seconds; an expired client span with
``peer.service``, ``db.system``, ``messaging.system`` or ``server.address`` becomes an edge to
that virtual node, a root SERVER span an edge from ``user``; others count as unpaired.
Edges feed ``traces_service_graph_request_total{client, server, connection_type}``,
``…_request_failed_total``, ``…_request_{server,client}_seconds_{bucket,sum,count}``,
``…_unpaired_spans_total`` and ``…_dropped_spans_total`` (pending halves are capped).
:func:`pair_spans` applies the same rules to a finished set of spans (Jaeger's dependencies).
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ecslite.clock import Clock
from ecslite.telemetry.model import (
    Exemplar,
    Labels,
    MetricBatch,
    MetricMetadata,
    Resource,
    Sample,
    Signal,
    sanitize_label_name,
)
from ecslite.telemetry.span_records import Span, SpanBatch, SpanKind, StatusCode
from ecslite.telemetry.store import TelemetryStore

log = logging.getLogger(__name__)

# Tempo's default latency buckets in seconds (§9.2); the connector flavour uses them in milliseconds.
BUCKETS = (0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384)
DEFAULT_DIMENSIONS = ("http.request.method", "http.response.status_code", "aws.ecs.task.family")
KIND_NAMES: dict[int, str] = {
    SpanKind.UNSPECIFIED: "SPAN_KIND_UNSPECIFIED",
    SpanKind.INTERNAL: "SPAN_KIND_INTERNAL",
    SpanKind.SERVER: "SPAN_KIND_SERVER",
    SpanKind.CLIENT: "SPAN_KIND_CLIENT",
    SpanKind.PRODUCER: "SPAN_KIND_PRODUCER",
    SpanKind.CONSUMER: "SPAN_KIND_CONSUMER",
}
STATUS_NAMES: dict[int, str] = {
    StatusCode.UNSET: "STATUS_CODE_UNSET",
    StatusCode.OK: "STATUS_CODE_OK",
    StatusCode.ERROR: "STATUS_CODE_ERROR",
}
CALLER_KINDS = frozenset({SpanKind.CLIENT, SpanKind.PRODUCER})
CALLEE_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER})
RED_KINDS = CALLER_KINDS | CALLEE_KINDS
# Attributes naming the other side of an unpaired client span, and the edge's connection type.
VIRTUAL_NODE_KEYS = (
    ("peer.service", "virtual_node"),
    ("db.system", "database"),
    ("messaging.system", "messaging_system"),
    ("server.address", "virtual_node"),
)
USER_NODE = "user"
METADATA = (
    MetricMetadata("traces_span_metrics_calls", "counter", "Spans counted per service, name, kind and status"),
    MetricMetadata("traces_span_metrics_duration_milliseconds", "histogram", "Span durations", "milliseconds"),
    MetricMetadata("traces_spanmetrics_calls", "counter", "Spans counted per service, name, kind and status"),
    MetricMetadata("traces_spanmetrics_latency", "histogram", "Span durations", "seconds"),
    MetricMetadata("traces_spanmetrics_size", "counter", "Bytes of spans received", "bytes"),
    MetricMetadata("traces_service_graph_request", "counter", "Requests between two nodes"),
    MetricMetadata("traces_service_graph_request_failed", "counter", "Failed requests between two nodes"),
    MetricMetadata("traces_service_graph_request_server_seconds", "histogram", "Server side latency", "seconds"),
    MetricMetadata("traces_service_graph_request_client_seconds", "histogram", "Client side latency", "seconds"),
    MetricMetadata("traces_service_graph_unpaired_spans", "counter", "Spans whose other half never arrived"),
    MetricMetadata("traces_service_graph_dropped_spans", "counter", "Spans dropped: too many pending halves"),
)


@dataclass(frozen=True, slots=True)
class SpanMetricsSettings:
    interval: float = 5.0
    pair_wait: float = 10.0
    all_kinds: bool = False  # --spanmetrics-all-kinds: INTERNAL spans too
    dimensions: tuple[str, ...] = DEFAULT_DIMENSIONS
    max_pending: int = 10_000
    max_queued_spans: int = 200_000


# -- edges -----------------------------------------------------------------------------------------


class SpanView(NamedTuple):
    """The little of a span the service graph needs (a tuple: built once per span on ingest)."""

    trace_id: bytes
    span_id: bytes
    parent_id: bytes
    kind: int
    service: str
    duration_s: float
    error: bool
    peer: tuple[str, str] | None = None  # (node, connection type) for an unpaired client


_new_view = tuple.__new__  # a SpanView without NamedTuple's Python-level __new__ (one per span)
_TagInfo = tuple[tuple[tuple[str, str], ...], tuple[str, str] | None]
MAX_TAG_INFO = 10_000


class Edge(NamedTuple):
    client: str
    server: str
    connection_type: str
    failed: bool
    client_seconds: float | None
    server_seconds: float | None


def virtual_node(tags: Iterable[tuple[str, object]]) -> tuple[str, str] | None:
    found = dict(tags)
    for key, connection in VIRTUAL_NODE_KEYS:
        value = found.get(key)
        if isinstance(value, str) and value:
            return value, connection
    return None


def span_view(span: Span, service: str) -> SpanView:
    return SpanView(
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.kind,
        service,
        span.duration_ns / 1e9,
        span.status_code == StatusCode.ERROR,
        virtual_node(span.tags) if span.kind in CALLER_KINDS else None,
    )


def paired_edge(client: SpanView, server: SpanView) -> Edge:
    messaging = client.kind == SpanKind.PRODUCER or server.kind == SpanKind.CONSUMER
    return Edge(
        client.service,
        server.service,
        "messaging_system" if messaging else "",
        client.error or server.error,
        client.duration_s,
        server.duration_s,
    )


def pair_spans(views: Iterable[SpanView]) -> tuple[list[Edge], int]:
    """Edges of a finished set of spans (§9.3 rules without the wait) and the unpaired count."""
    clients: dict[tuple[bytes, bytes], SpanView] = {}
    servers: list[SpanView] = []
    for view in views:
        if view.kind in CALLER_KINDS:
            clients[(view.trace_id, view.span_id)] = view
        elif view.kind in CALLEE_KINDS:
            servers.append(view)
    edges: list[Edge] = []
    unpaired = 0
    for server in servers:
        if not server.parent_id:
            edges.append(Edge(USER_NODE, server.service, "", server.error, None, server.duration_s))
            continue
        client = clients.pop((server.trace_id, server.parent_id), None)
        if client is None:
            unpaired += 1
        else:
            edges.append(paired_edge(client, server))
    for client in clients.values():
        if client.peer is None:
            unpaired += 1
        else:
            edges.append(Edge(client.service, client.peer[0], client.peer[1], client.error, client.duration_s, None))
    return edges, unpaired


# -- accumulated series --------------------------------------------------------------------------


@dataclass(slots=True)
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    count: int = 0
    exemplars: dict[int, tuple[float, bytes, bytes, int]] = field(default_factory=dict)

    def observe(self, seconds: float, trace_id: bytes = b"", span_id: bytes = b"", end_ms: int = 0) -> None:
        index = bisect.bisect_left(BUCKETS, seconds)  # bucket i holds (BUCKETS[i-1], BUCKETS[i]]
        self.buckets[index] += 1
        self.total += seconds
        self.count += 1
        if trace_id:
            self.exemplars[index] = (seconds, trace_id, span_id, end_ms)


@dataclass(slots=True)
class _Red:
    """Calls, bytes and latency of one (service, span name, kind, status, dimensions) key."""

    calls: int = 0
    size: int = 0
    latency: _Histogram = field(default_factory=_Histogram)


RedKey = tuple[str, str, int, int, tuple[tuple[str, str], ...]]


@dataclass(slots=True)
class _State:
    red: dict[RedKey, _Red] = field(default_factory=dict)
    requests: dict[Labels, int] = field(default_factory=dict)
    failed: dict[Labels, int] = field(default_factory=dict)
    server_seconds: dict[Labels, _Histogram] = field(default_factory=dict)
    client_seconds: dict[Labels, _Histogram] = field(default_factory=dict)
    unpaired: dict[Labels, int] = field(default_factory=dict)
    dropped: int = 0


class SpanMetrics:
    """The RED and service graph component (start/stop with the server, reset with the store)."""

    name = "span-metrics"

    def __init__(self, store: TelemetryStore, clock: Clock, settings: SpanMetricsSettings | None = None) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings or SpanMetricsSettings()
        self._queue: list[SpanBatch] = []
        self._queued = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = False
        self._state = _State()
        # Halves waiting for their pair: key (trace id, client span id) → (view, seen at).
        self._clients: OrderedDict[tuple[bytes, bytes], tuple[SpanView, float]] = OrderedDict()
        self._servers: OrderedDict[tuple[bytes, bytes], tuple[SpanView, float]] = OrderedDict()
        self._thread: threading.Thread | None = None
        self._edge_labels: dict[tuple[str, str, str], Labels] = {}
        self._label_names: dict[str, str] = {}
        self._dimensions = frozenset(self.settings.dimensions)
        self._tag_info: dict[tuple[tuple[str, str | int | float | bool], ...], _TagInfo] = {}
        self._resource = Resource({"service.name": "ecslite", "service.instance.id": "span-metrics"})

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self.store.add_tap(self.observe)
        self._thread = threading.Thread(target=self._run, name="span-metrics", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        import asyncio

        self.store.remove_tap(self.observe)
        with self._lock:
            self._stop = True
            self._wake.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10.0)

    async def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._queued = 0
            self._state = _State()
            self._clients.clear()
            self._servers.clear()

    # -- ingest side (the store's writing thread) ----------------------------------------------

    def observe(self, signal: str, batch: object) -> None:
        if signal != Signal.TRACES or not isinstance(batch, SpanBatch):
            return
        with self._lock:
            self._queue.append(batch)
            self._queued += len(batch.spans)
            if self._queued >= self.settings.max_queued_spans:
                self._wake.notify()

    # -- the component's thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._stop:
                    self._wake.wait(self.settings.interval)
                batches, self._queue, self._queued = self._queue, [], 0
                stopping = self._stop
            try:
                self.flush(batches)
            except Exception:
                log.exception("span metrics flush failed")
            if stopping:
                return

    def flush(self, batches: Sequence[SpanBatch] = ()) -> None:
        """Fold ``batches`` in, expire waiting halves, and write every series at the current time."""
        now = self.clock.now()
        for batch in batches:
            self._fold(batch, now)
        self._expire(now)
        samples, exemplars = self._samples(int(now * 1000))
        if samples:
            self.store.write_metrics(MetricBatch(self._resource, samples, METADATA, exemplars))

    def _fold(self, batch: SpanBatch, now: float) -> None:
        # The hot loop of the server's ingest (about as costly as decoding, docs/benchmarks.md):
        # plain tuples, locals and dict lookups per span; what a span's searchable tags give (its
        # extra dimensions, its virtual node) is worked out once per distinct tag tuple; labels
        # are built only when series are written (_samples).
        settings = self.settings
        resource = batch.resource
        service = resource.service_name
        resource_dims = tuple(
            (sanitize_label_name(key), str(value))
            for key in settings.dimensions
            if isinstance(value := resource.attributes.get(key), str | int | float) and not isinstance(value, bool)
        )
        red = self._state.red
        all_kinds = settings.all_kinds
        tag_info = self._tag_info
        if len(tag_info) > MAX_TAG_INFO:
            tag_info.clear()  # high-cardinality values (url.path) cannot grow it without bound
        clients, servers = self._clients, self._servers
        max_pending = settings.max_pending
        dropped = 0
        for span in batch.spans:
            trace_id, span_id, parent_id, name, kind, start, end, status, _, _, _, detail, tags, _ = span
            caller = kind in CALLER_KINDS
            callee = not caller and kind in CALLEE_KINDS
            if not (caller or callee or all_kinds):
                continue
            info = tag_info.get(tags)
            if info is None:
                info = tag_info[tags] = self._tags_info(tags)
            dims = resource_dims + info[0] if info[0] else resource_dims
            key = (service, name, kind, status, dims)
            entry = red.get(key)
            if entry is None:
                entry = red[key] = _Red()
            entry.calls += 1
            entry.size += len(detail)
            seconds = (end - start) / 1e9
            latency = entry.latency  # _Histogram.observe, inlined
            index = bisect.bisect_left(BUCKETS, seconds)
            latency.buckets[index] += 1
            latency.total += seconds
            latency.count += 1
            if trace_id:
                latency.exemplars[index] = (seconds, trace_id, span_id, end // 1_000_000)
            error = status == StatusCode.ERROR
            if caller:
                view = _new_view(SpanView, (trace_id, span_id, parent_id, kind, service, seconds, error, info[1]))
                pair = (trace_id, span_id)
                waiting = servers.pop(pair, None)
                if waiting is not None:
                    self._edge(paired_edge(view, waiting[0]))
                    continue
                pending = clients
            elif callee:
                view = _new_view(SpanView, (trace_id, span_id, parent_id, kind, service, seconds, error, None))
                if not parent_id:
                    self._edge(Edge(USER_NODE, service, "", error, None, seconds))
                    continue
                pair = (trace_id, parent_id)
                client = clients.pop(pair, None)
                if client is not None:
                    self._edge(paired_edge(client[0], view))
                    continue
                pending = servers
            else:
                continue
            pending[pair] = (view, now)  # the oldest waiting half goes past max_pending (§9.3)
            if len(pending) > max_pending:
                pending.popitem(last=False)
                dropped += 1
        self._state.dropped += dropped

    def _tags_info(self, tags: tuple[tuple[str, str | int | float | bool], ...]) -> _TagInfo:
        """A span's extra dimensions and, for a client span, its virtual node, from its searchable tags."""
        dimensions = self._dimensions
        extra = tuple(
            (self._label_name(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in tags if k in dimensions
        )
        return extra, virtual_node(tags)

    def _label_name(self, key: str) -> str:
        name = self._label_names.get(key)
        if name is None:
            name = self._label_names[key] = sanitize_label_name(key)
        return name

    def _expire(self, now: float) -> None:
        cutoff = now - self.settings.pair_wait
        for pending, side in ((self._clients, "client"), (self._servers, "server")):
            while pending:
                key, (view, seen) = next(iter(pending.items()))
                if seen > cutoff:
                    break
                del pending[key]
                if side == "client" and view.peer is not None:
                    node, connection = view.peer
                    self._edge(Edge(view.service, node, connection, view.error, view.duration_s, None))
                else:
                    labels = _labels({side: view.service})
                    self._state.unpaired[labels] = self._state.unpaired.get(labels, 0) + 1

    def _edge(self, edge: Edge) -> None:
        state = self._state
        names = (edge.client, edge.server, edge.connection_type)
        key = self._edge_labels.get(names)
        if key is None:
            key = self._edge_labels[names] = _labels(
                {"client": edge.client, "server": edge.server, "connection_type": edge.connection_type}
            )
        state.requests[key] = state.requests.get(key, 0) + 1
        if edge.failed:
            state.failed[key] = state.failed.get(key, 0) + 1
        sides = ((edge.server_seconds, state.server_seconds), (edge.client_seconds, state.client_seconds))
        for seconds, histograms in sides:
            if seconds is None:
                continue
            histogram = histograms.get(key)
            if histogram is None:
                histogram = histograms[key] = _Histogram()
            histogram.observe(seconds)

    # -- output --------------------------------------------------------------------------------

    def _samples(self, ts: int) -> tuple[list[Sample], list[Exemplar]]:
        state = self._state
        samples: list[Sample] = []
        exemplars: list[Exemplar] = []
        for (service, name, kind, status, dims), entry in state.red.items():
            common = {
                "span_name": name,
                "span_kind": KIND_NAMES.get(kind, "SPAN_KIND_UNSPECIFIED"),
                "status_code": STATUS_NAMES.get(status, "STATUS_CODE_UNSET"),
                **dict(dims),
            }
            connector = _labels({"service_name": service, **common})
            tempo = _labels({"service": service, **common})
            samples.append(Sample(_named("traces_span_metrics_calls_total", connector), ts, float(entry.calls)))
            samples.append(Sample(_named("traces_spanmetrics_calls_total", tempo), ts, float(entry.calls)))
            samples.append(Sample(_named("traces_spanmetrics_size_total", tempo), ts, float(entry.size)))
            base = "traces_span_metrics_duration_milliseconds"
            _histogram_samples(base, connector, entry.latency, 1000.0, ts, samples, exemplars, keep=True)
            _histogram_samples("traces_spanmetrics_latency", tempo, entry.latency, 1.0, ts, samples, exemplars)
        for labels, count in state.requests.items():
            samples.append(Sample(_named("traces_service_graph_request_total", labels), ts, float(count)))
        for labels, count in state.failed.items():
            samples.append(Sample(_named("traces_service_graph_request_failed_total", labels), ts, float(count)))
        for labels, histogram in state.server_seconds.items():
            base = "traces_service_graph_request_server_seconds"
            _histogram_samples(base, labels, histogram, 1.0, ts, samples, exemplars)
        for labels, histogram in state.client_seconds.items():
            base = "traces_service_graph_request_client_seconds"
            _histogram_samples(base, labels, histogram, 1.0, ts, samples, exemplars)
        for labels, count in state.unpaired.items():
            samples.append(Sample(_named("traces_service_graph_unpaired_spans_total", labels), ts, float(count)))
        if state.dropped:
            samples.append(Sample(_named("traces_service_graph_dropped_spans_total", ()), ts, float(state.dropped)))
        return samples, exemplars


def _labels(pairs: dict[str, str]) -> Labels:
    return tuple(sorted((k, v) for k, v in pairs.items() if v != ""))


def _named(name: str, labels: Labels) -> Labels:
    return tuple(sorted((*labels, ("__name__", name))))


def _histogram_samples(
    base: str,
    labels: Labels,
    histogram: _Histogram,
    scale: float,
    ts: int,
    samples: list[Sample],
    exemplars: list[Exemplar],
    keep: bool = False,
) -> None:
    """Write one histogram's series; ``keep`` leaves its exemplars for a second flavour's series."""
    cumulative = 0
    for index, count in enumerate(histogram.buckets):
        cumulative += count
        bound = BUCKETS[index] * scale if index < len(BUCKETS) else math.inf
        le = "+Inf" if math.isinf(bound) else _bound_text(bound)
        series = tuple(sorted((*labels, ("__name__", base + "_bucket"), ("le", le))))
        samples.append(Sample(series, ts, float(cumulative)))
        exemplar = histogram.exemplars.get(index)
        if exemplar is not None:
            seconds, trace_id, span_id, end_ms = exemplar
            exemplars.append(Exemplar(series, end_ms, seconds * scale, trace_id, span_id))
    if not keep:
        histogram.exemplars.clear()  # one exemplar per bucket per interval (§9.2)
    samples.append(Sample(_named(base + "_sum", labels), ts, histogram.total * scale))
    samples.append(Sample(_named(base + "_count", labels), ts, float(histogram.count)))


def _bound_text(bound: float) -> str:
    text = repr(round(bound, 9))
    return text[:-2] if text.endswith(".0") else text
