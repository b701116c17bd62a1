"""Loki push: log records → streams of entries, JSON or protobuf + snappy (spec/telemetry.md §6.2).

- Stream labels are the small fixed set of §2.3 (``service_name``, ``cluster``, ``task_family``,
  ``container``, ``source``, ``level``) plus any static extra labels; names are sanitized to
  ``[a-zA-Z_][a-zA-Z0-9_]*``, empty values dropped, so a stream always has at least one label.
  Everything else a query needs (``trace_id``, ``span_id``, ``task_id``) is structured metadata,
  never a label (cardinality).
- The line is the record's body (maps JSON-encoded); timestamps are Unix nanoseconds.
- A queue item is one serialized ``PushRequest``; a batch of items is concatenated (protobuf
  merges the ``streams``), regrouped by label set with entries in time order, and sent as JSON
  (``application/json``) or protobuf (``application/x-protobuf``, snappy **block** format).
- :func:`decode_push` reads both bodies; ecslite's own push endpoint uses it.
"""

from __future__ import annotations

import binascii
import gzip
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import cramjam
import orjson

from ecslite.telemetry.export import protos
from ecslite.telemetry.export.senders import HttpSender
from ecslite.telemetry.log_records import LogBatch, log_stream_labels, severity_level
from ecslite.telemetry.model import Labels, sanitize_label_name

JSON = "json"
PROTOBUF = "protobuf"
FORMATS = (JSON, PROTOBUF)
MAX_LABEL_VALUE_BYTES = 2048  # Loki's default limit (§6.2)


class BadPush(Exception):
    """A push body that is not a valid Loki push request (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class LokiEntry:
    """One log line of one stream. ``labels`` are sorted ``(name, value)`` pairs."""

    labels: Labels
    ts_ns: int
    line: str
    metadata: tuple[tuple[str, str], ...] = ()


# -- records → entries ---------------------------------------------------------------------------


def clean_labels(labels: Mapping[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """Sanitized names, no empty values, values cut to Loki's limit, sorted; later duplicates win."""
    pairs = labels.items() if isinstance(labels, Mapping) else labels
    out: dict[str, str] = {}
    for name, value in pairs:
        if value == "":
            continue
        raw = value.encode("utf-8")
        if len(raw) > MAX_LABEL_VALUE_BYTES:
            value = raw[:MAX_LABEL_VALUE_BYTES].decode("utf-8", "ignore")
        out[sanitize_label_name(name)] = value
    return tuple(sorted(out.items()))


def entries_from_logs(
    batch: LogBatch, extra_labels: Mapping[str, str] | None = None, *, structured_metadata: bool = True
) -> list[LokiEntry]:
    """The Loki entries of a batch of log records (§2.3, §6.2)."""
    task_arn = batch.resource.get_str("aws.ecs.task.arn")
    task_id = batch.resource.get_str("aws.ecs.task.id") or (task_arn.rsplit("/", 1)[-1] if task_arn else None)
    streams: dict[tuple[str, str | None], Labels] = {}
    out: list[LokiEntry] = []
    for record in batch.records:
        level = severity_level(record.severity_number, record.severity_text)
        key = (record.source, level)
        labels = streams.get(key)
        if labels is None:
            base = dict(log_stream_labels(batch.resource, record.source, level))
            base.update(extra_labels or {})
            labels = streams[key] = clean_labels(base)
        metadata: list[tuple[str, str]] = []
        if structured_metadata:
            if record.trace_id:
                metadata.append(("trace_id", binascii.hexlify(record.trace_id).decode()))
            if record.span_id:
                metadata.append(("span_id", binascii.hexlify(record.span_id).decode()))
            if task_id:
                metadata.append(("task_id", task_id))
        out.append(LokiEntry(labels, record.time_ns or record.observed_ns, record.body, tuple(metadata)))
    return out


# -- entries ↔ PushRequest -----------------------------------------------------------------------


def selector_text(labels: Labels) -> str:
    """``{a="b", c="d"}``: the label text of a protobuf ``StreamAdapter`` (Go-quoted values)."""
    return "{" + ", ".join(f'{name}="{_quote(value)}"' for name, value in labels) + "}"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def parse_selector_text(text: str) -> Labels:
    """The labels of ``{a="b", c="d"}``; :class:`BadPush` when it is not such a text."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise BadPush(f'invalid labels {text!r}: expected {{name="value", ...}}')
    out: list[tuple[str, str]] = []
    i, end = 1, len(body) - 1
    while i < end:
        while i < end and body[i] in " ,":
            i += 1
        if i >= end:
            break
        eq = body.find("=", i)
        if eq < 0 or eq + 1 >= end or body[eq + 1] != '"':
            raise BadPush(f"invalid labels {text!r}")
        name = body[i:eq].strip()
        value, i = _unquote(body, eq + 2, end, text)
        if not name or not (name[0].isalpha() or name[0] == "_") or not name.replace("_", "a").isalnum():
            raise BadPush(f"invalid label name {name!r}")
        out.append((name, value))
    if not out:
        raise BadPush("a stream needs at least one label")
    return tuple(sorted(out))


def _unquote(body: str, i: int, end: int, text: str) -> tuple[str, int]:
    chars: list[str] = []
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}
    while i < end:
        ch = body[i]
        if ch == "\\" and i + 1 < end:
            chars.append(escapes.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        if ch == '"':
            return "".join(chars), i + 1
        chars.append(ch)
        i += 1
    raise BadPush(f"invalid labels {text!r}: unterminated value")


def push_request(entries: Iterable[LokiEntry]) -> bytes:
    """A serialized ``PushRequest`` holding ``entries`` (a queue item)."""
    request = protos.PushRequest()
    streams: dict[Labels, object] = {}
    for entry in entries:
        stream = streams.get(entry.labels)
        if stream is None:
            stream = streams[entry.labels] = request.streams.add(labels=selector_text(entry.labels))
        adapter = stream.entries.add(line=entry.line)  # type: ignore[attr-defined]
        adapter.timestamp.seconds, adapter.timestamp.nanos = divmod(entry.ts_ns, 1_000_000_000)
        for name, value in entry.metadata:
            adapter.structuredMetadata.add(name=name, value=value)
    data: bytes = request.SerializeToString()
    return data


def entries_of_request(request: object) -> list[LokiEntry]:
    out: list[LokiEntry] = []
    for stream in request.streams:  # type: ignore[attr-defined]
        labels = parse_selector_text(stream.labels)
        for entry in stream.entries:
            ts = entry.timestamp.seconds * 1_000_000_000 + entry.timestamp.nanos
            metadata = tuple((pair.name, pair.value) for pair in entry.structuredMetadata)
            out.append(LokiEntry(labels, ts, entry.line, metadata))
    return out


def grouped(entries: Iterable[LokiEntry]) -> dict[Labels, list[LokiEntry]]:
    """Entries by stream, each stream in time order (stable for equal times)."""
    streams: dict[Labels, list[LokiEntry]] = {}
    for entry in entries:
        streams.setdefault(entry.labels, []).append(entry)
    for values in streams.values():
        values.sort(key=lambda e: e.ts_ns)
    return streams


def json_body(entries: Iterable[LokiEntry]) -> bytes:
    streams = []
    for labels, values in grouped(entries).items():
        rows: list[list[object]] = []
        for entry in values:
            row: list[object] = [str(entry.ts_ns), entry.line]
            if entry.metadata:
                row.append(dict(entry.metadata))
            rows.append(row)
        streams.append({"stream": dict(labels), "values": rows})
    return orjson.dumps({"streams": streams})


def protobuf_body(entries: Iterable[LokiEntry]) -> bytes:
    """Snappy block of a ``PushRequest`` with one stream per label set, entries in time order."""
    ordered = [entry for values in grouped(entries).values() for entry in values]
    return bytes(cramjam.snappy.compress_raw(push_request(ordered)))


def decode_push(body: bytes, content_type: str = "application/json", content_encoding: str = "") -> list[LokiEntry]:
    """The entries of a push body (JSON, optionally gzip; or protobuf, snappy block)."""
    kind = (content_type or "application/json").split(";", 1)[0].strip().lower()
    encoding = (content_encoding or "").strip().lower()
    try:
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding not in ("", "identity", "snappy"):
            raise BadPush(f"unsupported Content-Encoding {content_encoding!r}")
        if kind == "application/x-protobuf":
            raw = bytes(cramjam.snappy.decompress_raw(body))
            return entries_of_request(protos.PushRequest.FromString(raw))
    except BadPush:
        raise
    except Exception as error:  # snappy, gzip and protobuf each raise their own types
        raise BadPush(f"invalid push body: {error}") from None
    if kind != "application/json":
        raise BadPush(f"unsupported Content-Type {content_type!r}")
    return _entries_of_json(body)


def _entries_of_json(body: bytes) -> list[LokiEntry]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadPush(f"invalid JSON: {error}") from None
    streams = document.get("streams") if isinstance(document, dict) else None
    if not isinstance(streams, list):
        raise BadPush('invalid push body: expected {"streams": [...]}')
    out: list[LokiEntry] = []
    for stream in streams:
        labels_doc = stream.get("stream") if isinstance(stream, dict) else None
        values = stream.get("values") if isinstance(stream, dict) else None
        if not isinstance(labels_doc, dict) or not labels_doc or not isinstance(values, list):
            raise BadPush('invalid stream: needs "stream" labels and "values"')
        labels = tuple(sorted((str(k), str(v)) for k, v in labels_doc.items()))
        for name, _ in labels:
            if not name or not (name[0].isalpha() or name[0] == "_") or not name.replace("_", "a").isalnum():
                raise BadPush(f"invalid label name {name!r}")
        for value in values:
            if not isinstance(value, list) or len(value) < 2 or not isinstance(value[1], str):
                raise BadPush('invalid entry: expected ["<unix ns>", "<line>", {metadata}?]')
            try:
                ts = int(value[0])
            except (TypeError, ValueError):
                raise BadPush(f"invalid timestamp {value[0]!r}") from None
            meta = value[2] if len(value) > 2 and isinstance(value[2], dict) else {}
            out.append(LokiEntry(labels, ts, value[1], tuple((str(k), str(v)) for k, v in meta.items())))
    return out


# -- sending -------------------------------------------------------------------------------------


class LokiSender(HttpSender):
    """POSTs batches to ``…/loki/api/v1/push``: JSON or protobuf + snappy, ``X-Scope-OrgID`` when a tenant is set."""

    def __init__(
        self,
        url: str,
        *,
        format: str = PROTOBUF,
        tenant_id: str | None = None,
        headers: dict[str, str] | None = None,
        name: str | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown Loki push format {format!r}: json or protobuf")
        extra = dict(headers or {})
        if tenant_id:
            extra["X-Scope-OrgID"] = tenant_id
        super().__init__(name or f"loki {url}", url, extra, auth=auth)
        self.format = format

    def encode(self, items: Sequence[bytes]) -> tuple[bytes, dict[str, str]]:
        entries = entries_of_request(protos.PushRequest.FromString(b"".join(items)))
        if self.format == JSON:
            return json_body(entries), {"Content-Type": "application/json"}
        return protobuf_body(entries), {"Content-Type": "application/x-protobuf"}
