"""What the export sink answers: each request checked as the backend it stands in for would check it
(spec/telemetry.md §6.2 Loki push, §6.3 Thanos receive, §6.4 Tempo's OTLP/HTTP receiver).

Pure functions over one request (method, path, headers, body) returning a :class:`Verdict`: the
HTTP answer and how many records were accepted and rejected. Nothing is kept: the records were
already stored from the router's input tap (§6.5, "storing nothing twice"). The one state a check
reads is :class:`SeriesClock`, the newest sample of each remote-write series, which Thanos needs
to refuse out-of-order and duplicate samples across requests.

Backend texts are kept in constants named for the check; those not confirmed against the
backend's source are marked "unverified" beside them (§0 of the spec: one constant per guess).
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import cramjam
import orjson

from ecslite.telemetry import otlp
from ecslite.telemetry.export import protos
from ecslite.telemetry.export.loki import BadPush, parse_selector_text, selector_text
from ecslite.telemetry.model import Signal
from ecslite.telemetry.pipeline import BodyTooLarge, decompress, too_large_message

MAX_BODY = 64 * 1024 * 1024
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# Go's net/http texts (http.NotFound, http.Error append a newline).
NOT_FOUND = "404 page not found\n"

# Loki 3.x pkg/validation/validate.go and pkg/loghttp/push (defaults of limits_config).
LOKI_MAX_LABEL_NAMES = 15
LOKI_MAX_LABEL_NAME_BYTES = 1024
LOKI_MAX_LABEL_VALUE_BYTES = 2048
LOKI_MAX_LINE_BYTES = 256 * 1024
LOKI_MAX_AGE_NS = 7 * 86_400 * 1_000_000_000  # reject_old_samples_max_age 1w
LOKI_GRACE_NS = 10 * 60 * 1_000_000_000  # creation_grace_period 10m
LOKI_MISSING_LABELS = "error at least one label pair is required per stream"
LOKI_INVALID_LABELS = "Error parsing labels '{labels}' with error: {error}"
LOKI_TOO_MANY_LABELS = "entry for stream '{labels}' has {count} label names; limit {limit}"
LOKI_NAME_TOO_LONG = "stream '{labels}' has label name too long: '{name}'"
LOKI_VALUE_TOO_LONG = "stream '{labels}' has label value too long: '{value}'"
LOKI_DUPLICATE_NAME = "stream '{labels}' has duplicate label name: '{name}'"
LOKI_LINE_TOO_LONG = (
    "Max entry size '{limit}' bytes exceeded for stream '{labels}' while adding an entry with length '{length}' bytes"
)
LOKI_TOO_OLD = "entry for stream '{labels}' has timestamp too old: {at}, oldest acceptable timestamp is: {oldest}"
LOKI_TOO_NEW = "entry for stream '{labels}' has timestamp too new: {at}"
LOKI_ENCODING = 'Content-Encoding "{encoding}" not supported'
LOKI_READY = "ready\n"

# The OpenTelemetry Collector's OTLP/HTTP receiver (Tempo's distributor uses it, §6.4). Unverified:
# the 405/415 texts and the id-length errors of pdata.
OTLP_METHOD = "405 method not allowed, supported: [POST]"
OTLP_MEDIA = "415 unsupported media type, supported: [application/json, application/x-protobuf]"
OTLP_TRACE_ID = "unmarshal: invalid TraceID length"
OTLP_SPAN_ID = "unmarshal: invalid SpanID length"
OTLP_MEDIA_TYPES = {"application/x-protobuf": "protobuf", "application/json": "json"}
OTLP_PATHS = {"/v1/traces": Signal.TRACES, "/v1/metrics": Signal.METRICS, "/v1/logs": Signal.LOGS}

# Thanos receive (pkg/store/labelpb, pkg/receive/writer_errors.go): conflicts answer 409, joined by "; ".
RW_OUT_OF_ORDER_LABELS = "add {count} series: out of order labels"
RW_DUPLICATE_LABELS = "add {count} series: label set contains duplicate label names"
RW_EMPTY_LABELS = "add {count} series: label set contains a label with empty name or value"
RW_OUT_OF_ORDER_SAMPLE = "add {count} samples: out of order sample"
RW_DUPLICATE_SAMPLE = "add {count} samples: duplicate sample for timestamp"
# Unverified: Thanos leaves names to the TSDB; Prometheus's text for a series it cannot take.
RW_INVALID_NAMES = "add {count} series: invalid metric name or label names"
RW_SNAPPY = "snappy decode error: {error}"
RW_PROTO = "proto: {error}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one request and what it carried (records are spans, points, lines or samples)."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    accepted: int = 0
    rejected: int = 0
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        """The error text a sender would log (empty on success)."""
        if self.ok:
            return ""
        if self.content_type.startswith("application/x-protobuf"):
            return _status_message(self.body)
        if self.content_type.startswith("application/json"):
            try:
                return str(orjson.loads(self.body).get("message", ""))
            except (orjson.JSONDecodeError, AttributeError):
                return self.body.decode("utf-8", "replace")
        return self.body.decode("utf-8", "replace").strip()


def _text(status: int, text: str, *, accepted: int = 0, rejected: int = 0) -> Verdict:
    body = text if text.endswith("\n") else text + "\n"
    return Verdict(status, body.encode(), accepted=accepted, rejected=rejected)


def _status_message(body: bytes) -> str:
    from google.rpc import status_pb2

    try:
        return str(status_pb2.Status.FromString(body).message)
    except Exception:  # a body that is no Status: show it as text
        return body.decode("utf-8", "replace")


def media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


# -- Loki push (§6.2) ------------------------------------------------------------------------------


def check_loki(method: str, path: str, headers: Mapping[str, str], body: bytes, now_ns: int) -> Verdict:
    if path == "/ready":
        return Verdict(200, LOKI_READY.encode()) if method == "GET" else Verdict(405)
    if path != "/loki/api/v1/push":
        return _text(404, NOT_FOUND)
    if method != "POST":
        return Verdict(405)
    encoding = (headers.get("content-encoding") or "").strip().lower()
    try:
        if encoding in ("gzip", "deflate"):
            body = decompress(body, encoding, MAX_BODY)
        elif encoding not in ("", "snappy"):
            return _text(400, LOKI_ENCODING.format(encoding=headers.get("content-encoding", "")))
        if media_type(headers.get("content-type")) == "application/json":
            streams = _loki_json(body)
        else:
            # Loki reads any other Content-Type (or none) as protobuf in a snappy block.
            streams = _loki_protobuf(body)
    except BodyTooLarge:
        return _text(413, too_large_message(MAX_BODY))
    except (BadPush, otlp.BadRequest) as error:
        return _text(400, str(error))
    return _loki_verdict(streams, now_ns)


Stream = tuple[str, list[tuple[str, str]] | None, list[tuple[int, int]]]  # text, labels, [(ts, line bytes)]


def _loki_json(body: bytes) -> list[Stream]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadPush(f"loghttp.PushRequest: {error}") from None
    streams = document.get("streams") if isinstance(document, dict) else None
    if not isinstance(streams, list):
        raise BadPush('loghttp.PushRequest: expected {"streams": [...]}')
    out: list[Stream] = []
    for stream in streams:
        if not isinstance(stream, dict):
            raise BadPush("loghttp.PushRequest.Streams: expected an object")
        labels_doc = stream.get("stream") or {}
        if not isinstance(labels_doc, dict):
            raise BadPush("loghttp.PushRequest.Streams: stream must be an object of labels")
        labels = [(str(k), str(v)) for k, v in labels_doc.items()]
        entries: list[tuple[int, int]] = []
        for value in stream.get("values") or []:
            if not isinstance(value, list) or len(value) < 2 or not isinstance(value[1], str):
                raise BadPush('loghttp.PushRequest.Streams: expected ["<unix ns>", "<line>", {metadata}?]')
            if not isinstance(value[0], str) or not value[0].lstrip("-").isdigit():
                raise BadPush(f"loghttp.PushRequest.Streams: invalid timestamp {value[0]!r}")
            entries.append((int(value[0]), len(value[1].encode("utf-8"))))
        out.append((selector_text(tuple(sorted(labels))), labels, entries))
    return out


def _loki_protobuf(body: bytes) -> list[Stream]:
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as error:  # cramjam raises its own DecompressionError
        raise BadPush(f"snappy: corrupt input ({error})") from None
    if len(raw) > MAX_BODY:
        raise BodyTooLarge
    try:
        request = protos.PushRequest.FromString(raw)
    except Exception as error:  # protobuf's DecodeError
        raise BadPush(f"proto: {error}") from None
    out: list[Stream] = []
    for stream in request.streams:
        try:
            labels: list[tuple[str, str]] | None = list(parse_selector_text(stream.labels)) if stream.labels else []
        except BadPush:
            labels = None
        entries = [
            (e.timestamp.seconds * 1_000_000_000 + e.timestamp.nanos, len(e.line.encode("utf-8")))
            for e in stream.entries
        ]
        out.append((stream.labels, labels, entries))
    return out


def _loki_verdict(streams: list[Stream], now_ns: int) -> Verdict:
    """Valid streams are taken and invalid ones refused; any refusal answers 400 with its reason."""
    accepted = rejected = 0
    errors: list[str] = []
    for text, labels, entries in streams:
        problem = _loki_stream_problem(text, labels)
        if problem is not None:
            rejected += len(entries)
            errors.append(problem)
            continue
        for ts, length in entries:
            entry_problem = _loki_entry_problem(text, ts, length, now_ns)
            if entry_problem is None:
                accepted += 1
            else:
                rejected += 1
                errors.append(entry_problem)
    if errors:
        return _text(400, errors[0], accepted=accepted, rejected=rejected)
    return Verdict(204, accepted=accepted)


def _loki_stream_problem(text: str, labels: list[tuple[str, str]] | None) -> str | None:
    if labels is None:
        return LOKI_INVALID_LABELS.format(labels=text, error="invalid label set")
    if not labels:
        return LOKI_MISSING_LABELS
    for name, _ in labels:
        if not LABEL_NAME.match(name):
            return LOKI_INVALID_LABELS.format(labels=text, error=f"invalid label name {name!r}")
    if len(labels) > LOKI_MAX_LABEL_NAMES:
        return LOKI_TOO_MANY_LABELS.format(labels=text, count=len(labels), limit=LOKI_MAX_LABEL_NAMES)
    seen: set[str] = set()
    for name, value in labels:
        if len(name.encode()) > LOKI_MAX_LABEL_NAME_BYTES:
            return LOKI_NAME_TOO_LONG.format(labels=text, name=name)
        if len(value.encode()) > LOKI_MAX_LABEL_VALUE_BYTES:
            return LOKI_VALUE_TOO_LONG.format(labels=text, value=value)
        if name in seen:
            return LOKI_DUPLICATE_NAME.format(labels=text, name=name)
        seen.add(name)
    return None


def _loki_entry_problem(text: str, ts: int, length: int, now_ns: int) -> str | None:
    if length > LOKI_MAX_LINE_BYTES:
        return LOKI_LINE_TOO_LONG.format(limit=LOKI_MAX_LINE_BYTES, labels=text, length=length)
    if ts < now_ns - LOKI_MAX_AGE_NS:
        return LOKI_TOO_OLD.format(labels=text, at=_rfc3339(ts), oldest=_rfc3339(now_ns - LOKI_MAX_AGE_NS))
    if ts > now_ns + LOKI_GRACE_NS:
        return LOKI_TOO_NEW.format(labels=text, at=_rfc3339(ts))
    return None


def _rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- OTLP/HTTP (Tempo, §6.4; rules of §1.2) ---------------------------------------------------------


def check_otlp(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Verdict:
    signal = OTLP_PATHS.get(path)
    if signal is None:
        return _text(404, NOT_FOUND)
    if method != "POST":
        return Verdict(405, OTLP_METHOD.encode(), headers=(("Allow", "POST"),))
    encoding = OTLP_MEDIA_TYPES.get(media_type(headers.get("content-type")))
    if encoding is None:
        return Verdict(415, OTLP_MEDIA.encode())
    try:
        raw = decompress(body, headers.get("content-encoding") or "", MAX_BODY)
        request = otlp.parse_request(signal, raw, encoding)
        count = _otlp_items(signal, request)
    except BodyTooLarge:
        return _otlp_error(413, too_large_message(MAX_BODY), encoding)
    except otlp.BadRequest as error:
        return _otlp_error(400, str(error), encoding)
    if encoding == "json":
        return Verdict(200, b"{}", "application/json", accepted=count)
    return Verdict(200, b"", "application/x-protobuf", accepted=count)


def _otlp_error(status: int, message: str, encoding: str) -> Verdict:
    from google.rpc import code_pb2, status_pb2

    code = code_pb2.INVALID_ARGUMENT
    if encoding == "json":
        return Verdict(status, orjson.dumps({"code": code, "message": message}), "application/json")
    return Verdict(status, status_pb2.Status(code=code, message=message).SerializeToString(), "application/x-protobuf")


def _otlp_items(signal: str, request: object) -> int:
    """Spans, data points or log records of a request; ids of a wrong length refuse the request."""
    count = 0
    if signal == Signal.TRACES:
        for rs in request.resource_spans:  # type: ignore[attr-defined]
            for ss in rs.scope_spans:
                for span in ss.spans:
                    _check_ids(span.trace_id, span.span_id, span.parent_span_id)
                    count += 1
    elif signal == Signal.LOGS:
        for rl in request.resource_logs:  # type: ignore[attr-defined]
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    _check_ids(record.trace_id, record.span_id, b"")
                    count += 1
    else:
        for rm in request.resource_metrics:  # type: ignore[attr-defined]
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    count += len(getattr(metric, kind).data_points) if kind else 0
    return count


def _check_ids(trace_id: bytes, span_id: bytes, parent_id: bytes) -> None:
    if len(trace_id) not in (0, 16):
        raise otlp.BadRequest(OTLP_TRACE_ID)
    if len(span_id) not in (0, 8) or len(parent_id) not in (0, 8):
        raise otlp.BadRequest(OTLP_SPAN_ID)


# -- Prometheus remote write 1.0 (Thanos receive, §6.3) ---------------------------------------------


class SeriesClock:
    """The newest sample of each series seen, bounded: Thanos's head refuses a sample older than it,
    or at its time with another value. Forgetting the oldest series past ``limit`` only makes the
    check more lenient, never wrong about a sample it does refuse."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._newest: OrderedDict[tuple[tuple[str, str], ...], tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def append(self, labels: tuple[tuple[str, str], ...], samples: list[tuple[int, float]]) -> tuple[int, int, int]:
        """(accepted, out of order, duplicates) for ``samples`` in their order."""
        accepted = out_of_order = duplicates = 0
        with self._lock:
            newest = self._newest.get(labels)
            for ts, value in samples:
                if newest is not None and ts < newest[0]:
                    out_of_order += 1
                    continue
                if newest is not None and ts == newest[0] and not _same(value, newest[1]):
                    duplicates += 1
                    continue
                newest = (ts, value)
                accepted += 1
            if newest is not None:
                self._newest[labels] = newest
                self._newest.move_to_end(labels)
                while len(self._newest) > self.limit:
                    self._newest.popitem(last=False)
        return accepted, out_of_order, duplicates

    def clear(self) -> None:
        with self._lock:
            self._newest.clear()


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def check_remote_write(method: str, path: str, body: bytes, clock: SeriesClock) -> Verdict:
    if path != "/api/v1/receive":
        return _text(404, NOT_FOUND)
    if method != "POST":
        return _text(405, "Method Not Allowed")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as error:  # cramjam's DecompressionError
        return _text(400, RW_SNAPPY.format(error=error))
    if len(raw) > MAX_BODY:
        return _text(413, too_large_message(MAX_BODY))
    try:
        request = protos.WriteRequest.FromString(raw)
    except Exception as error:  # protobuf's DecodeError
        return _text(400, RW_PROTO.format(error=error))
    counts = dict.fromkeys(("order", "duplicate", "empty", "names", "sample_order", "sample_duplicate"), 0)
    accepted = rejected = 0
    for series in request.timeseries:
        labels = tuple((label.name, label.value) for label in series.labels)
        samples = [(s.timestamp, s.value) for s in series.samples]
        problem = series_problem(labels)
        if problem is not None:
            counts[problem] += 1
            rejected += len(samples)
            continue
        taken, out_of_order, duplicates = clock.append(labels, samples)
        accepted += taken
        rejected += out_of_order + duplicates
        counts["sample_order"] += out_of_order
        counts["sample_duplicate"] += duplicates
    errors = _rw_errors(counts)
    if not errors:
        return Verdict(200, accepted=accepted)
    status = 400 if counts["names"] else 409
    return _text(status, "; ".join(errors), accepted=accepted, rejected=rejected)


def series_problem(labels: tuple[tuple[str, str], ...]) -> str | None:
    """Why Thanos refuses a series' label set (§6.3), as a key of :func:`_rw_errors`, or ``None``."""
    names = [name for name, _ in labels]
    if any(not name or not value for name, value in labels):
        return "empty"
    if any(a > b for a, b in itertools.pairwise(names)):
        return "order"
    if len(set(names)) != len(names):
        return "duplicate"
    if "__name__" not in names or not all(LABEL_NAME.match(name) for name in names):
        return "names"
    return None


def _rw_errors(counts: Mapping[str, int]) -> list[str]:
    texts = (
        ("order", RW_OUT_OF_ORDER_LABELS),
        ("duplicate", RW_DUPLICATE_LABELS),
        ("empty", RW_EMPTY_LABELS),
        ("names", RW_INVALID_NAMES),
        ("sample_order", RW_OUT_OF_ORDER_SAMPLE),
        ("sample_duplicate", RW_DUPLICATE_SAMPLE),
    )
    return [text.format(count=counts[key]) for key, text in texts if counts[key]]
