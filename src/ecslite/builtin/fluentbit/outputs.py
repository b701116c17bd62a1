"""Outputs of ecslite's Fluent Bit: ``opentelemetry``, ``loki``, ``prometheus_remote_write``, ``forward``,
``cloudwatch_logs``, ``stdout`` and ``null`` (spec/telemetry.md §6; Fluent Bit 4.1 option names).

HTTP outputs classify answers as §6.1 says: 2xx done; 429 and 5xx (and connection failures)
retried by the engine; any other status final (counted in ``errors``, the body logged).

- ``opentelemetry``: OTLP/HTTP protobuf to ``Host:Port`` + ``Traces_uri``/``Metrics_uri``/``Logs_uri``
  (``/v1/traces`` …), ``Header``, ``Compress gzip``, ``Tls``. Traces and metrics go as received;
  log records become OTLP logs (``log`` as the body, other keys as attributes).
- ``loki``: JSON push to ``Host:Port`` + ``Uri`` (``/loki/api/v1/push``, 3100) with ``labels``
  (``k=v`` or ``k=$record_key``), ``label_keys`` (``$key``; a key without ``$`` is taken as if it had
  one, with a warning, §6.5 row 1), ``remove_keys``, ``line_format json|key_value``,
  ``drop_single_key``, ``structured_metadata``, ``tenant_id``; no label at all → ``job=fluent-bit``.
- ``prometheus_remote_write``: metrics only, remote write 1.0 (protobuf, snappy block) to
  ``Host:Port`` + ``Uri``, ``Add_label NAME VALUE``, ``Header``, ``HTTP_User``/``HTTP_Passwd``.
- ``forward``: Forward mode to ``Host:Port`` (``Tag`` overrides, ``Require_ack_response``,
  ``Compress gzip``, ``Time_as_Integer``); what it sends is marked so this router's own forward
  input knows it again (§6.5 row 4).
- ``cloudwatch_logs``: into ecslite's CloudWatch Logs through the gateway: ``log_group_name``,
  ``log_stream_name`` or ``log_stream_prefix`` + tag, ``auto_create_group``, ``log_key``.
- ``stdout``: Fluent Bit's text form ``[0] tag: [[s.ns, {}], {"k"=>"v"}]`` or ``Format json_lines``.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import secrets
import struct
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx
import msgpack
import orjson

from ecslite.builtin.fluentbit.config import Section
from ecslite.builtin.fluentbit.engine import LOGS, METRICS, TRACES, Chunk, Engine, Output, Result
from ecslite.builtin.fluentbit.filters import accessor
from ecslite.builtin.fluentbit.inputs import ROUTER_OPTION
from ecslite.telemetry.receivers.forward import ack as forward_ack
from ecslite.telemetry.receivers.forward import event_time

USER_AGENT = "Fluent-Bit"


def classify(status: int) -> Result:
    if 200 <= status < 300:
        return Result.OK
    if status == 429 or status >= 500:
        return Result.RETRY
    return Result.ERROR


def _port(section: Section, default: int) -> int:
    try:
        return int(section.get("port") or default)
    except ValueError:
        return default


def _headers(section: Section) -> dict[str, str]:
    headers = {}
    for value in section.get_all("header"):
        name, _, rest = value.strip().partition(" ")
        if name:
            headers[name] = rest.strip()
    return headers


class HttpOutput(Output):
    """Common ground of the HTTP outputs: base URL, TLS, headers, basic auth, one client."""

    default_port = 80

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.host = (section.get("host") or "127.0.0.1").strip()
        self.port = _port(section, self.default_port)
        self.tls = section.flag("tls")
        self.verify = section.flag("tls.verify", True)
        self.headers = _headers(section)
        user = section.get("http_user")
        self.auth: tuple[str | bytes, str | bytes] | None = (user, section.get("http_passwd") or "") if user else None
        self.log_payload = section.flag("log_response_payload", True)
        self._client: httpx.AsyncClient | None = None
        if not self.host:
            self.warn("Host is empty (an unset ${VARIABLE}?); every flush will fail until it is set")

    def url(self, uri: str) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}{uri if uri.startswith('/') else '/' + uri}"

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0, verify=self.verify)
        return self._client

    async def post(self, uri: str, body: bytes, headers: dict[str, str]) -> Result:
        try:
            response = await self.client().post(
                self.url(uri),
                content=body,
                headers={"User-Agent": USER_AGENT, **headers, **self.headers},
                auth=self.auth if self.auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as error:
            self.warn(f"cannot reach {self.url(uri)}: {error}")
            return Result.RETRY
        result = classify(response.status_code)
        if result is not Result.OK and self.log_payload:
            self.warn(f"{self.url(uri)} answered HTTP {response.status_code}: {response.text[:300]}")
        return result

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()


# -- opentelemetry -----------------------------------------------------------------------------------


def logs_request(chunks: Sequence[Chunk]) -> bytes:
    """OTLP logs for log records: ``log`` (else the JSON record) as the body, the rest as attributes."""
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    from ecslite.telemetry.attributes import set_any_value

    request = logs_service_pb2.ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    scope.scope.name = "fluent-bit"
    for chunk in chunks:
        for ts, record in chunk.records:
            item = scope.log_records.add(time_unix_nano=ts, observed_time_unix_nano=ts)
            line = record.get("log")
            if isinstance(line, str):
                item.body.string_value = line.rstrip("\n")
                rest = {k: v for k, v in record.items() if k != "log"}
            else:
                item.body.string_value = orjson.dumps(record, default=str).decode()
                rest = {}
            for key, value in rest.items():
                kv = item.attributes.add(key=str(key))
                set_any_value(kv.value, value if isinstance(value, str | int | float | bool) else str(value))
            kv = item.attributes.add(key="fluent.tag")
            kv.value.string_value = chunk.tag
    data: bytes = request.SerializeToString()
    return data


def merged(chunks: Sequence[Chunk]) -> bytes:
    """One export request out of several of one signal: concatenated protobuf messages of a type
    parse as one message whose repeated fields (the resource lists) are concatenated."""
    return b"".join(c.payload for c in chunks)


class OpenTelemetryOutput(HttpOutput):
    signals = (TRACES, METRICS, LOGS)
    default_port = 80

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.uris = {
            TRACES: section.get("traces_uri") or "/v1/traces",
            METRICS: section.get("metrics_uri") or "/v1/metrics",
            LOGS: section.get("logs_uri") or "/v1/logs",
        }
        self.gzip = (section.get("compress") or "").strip().lower() == "gzip"

    async def flush(self, chunks: Sequence[Chunk]) -> Result:
        results = []
        for kind in (TRACES, METRICS, LOGS):
            group = [c for c in chunks if c.kind == kind]
            if not group:
                continue
            raw = [c for c in group if c.payload]
            body = merged(raw)
            records = [c for c in group if not c.payload]
            if records:
                body += logs_request(records)
            headers = {"Content-Type": "application/x-protobuf"}
            if self.gzip:
                body = gzip.compress(body)
                headers["Content-Encoding"] = "gzip"
            results.append(await self.post(self.uris[kind], body, headers))
        return worst(results)


def worst(results: Sequence[Result]) -> Result:
    if Result.RETRY in results:
        return Result.RETRY
    if Result.ERROR in results:
        return Result.ERROR
    return Result.OK


# -- loki ------------------------------------------------------------------------------------------------


class LokiOutput(HttpOutput):
    default_port = 3100

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.uri = section.get("uri") or "/loki/api/v1/push"
        self.tenant = section.get("tenant_id")
        self.static: dict[str, str] = {}
        self.dynamic: list[tuple[str, Any]] = []
        for value in section.get_all("labels"):
            for item in value.split(","):
                key, equals, rest = item.strip().partition("=")
                if not key:
                    continue
                if not equals:
                    self.warn(f"labels entry {item.strip()!r} is not key=value; it is ignored")
                elif rest.strip().startswith("$"):
                    self.dynamic.append((key.strip(), accessor(rest.strip())))
                else:
                    self.static[key.strip()] = rest.strip()
        for value in section.get_all("label_keys"):
            for item in value.split(","):
                key = item.strip()
                if not key:
                    continue
                if not key.startswith("$"):
                    # Fluent Bit 4.1 refuses to start here ("invalid label key, the name must start with '$'",
                    # §6.5 row 1); ecslite goes on as if the '$' were there.
                    self.warn(
                        f"invalid label key, the name must start with '$': {key!r} (Fluent Bit would not start; "
                        f"ecslite reads it as ${key})"
                    )
                    key = "$" + key
                self.dynamic.append((_label_name(key), accessor(key)))
        self.remove_keys = {k.strip().lstrip("$") for v in section.get_all("remove_keys") for k in v.split(",")}
        self.line_format = (section.get("line_format") or "json").strip().lower()
        self.drop_single_key = (section.get("drop_single_key") or "off").strip().lower()
        self.metadata = [
            (_label_name(k.strip()), accessor(k.strip()))
            for v in section.get_all("structured_metadata")
            for k in v.split(",")
            if k.strip()
        ]
        if not self.static and not self.dynamic:
            self.static["job"] = "fluent-bit"

    def _line(self, record: dict[str, Any]) -> str:
        kept = {k: v for k, v in record.items() if k not in self.remove_keys}
        if self.drop_single_key in ("on", "true", "raw") and len(kept) == 1:
            value = next(iter(kept.values()))
            return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
        if self.line_format == "key_value":
            return " ".join(f"{k}={v}" for k, v in kept.items())
        return orjson.dumps(kept, default=str).decode()

    def payload(self, chunks: Sequence[Chunk]) -> dict[str, Any]:
        streams: dict[tuple[tuple[str, str], ...], list[list[Any]]] = {}
        for chunk in chunks:
            for ts, record in chunk.records:
                labels = dict(self.static)
                for key, get in self.dynamic:
                    value = get(record)
                    if value is not None:
                        labels[key] = value if isinstance(value, str) else str(value)
                entry: list[Any] = [str(ts), self._line(record)]
                if self.metadata:
                    entry.append({k: str(v) for k, get in self.metadata if (v := get(record)) is not None})
                streams.setdefault(tuple(sorted(labels.items())), []).append(entry)
        return {"streams": [{"stream": dict(labels), "values": values} for labels, values in streams.items()]}

    async def flush(self, chunks: Sequence[Chunk]) -> Result:
        headers = {"Content-Type": "application/json"}
        if self.tenant:
            headers["X-Scope-OrgID"] = self.tenant
        return await self.post(self.uri, orjson.dumps(self.payload(chunks)), headers)


def _label_name(accessor_text: str) -> str:
    import re

    parts = re.findall(r"[A-Za-z0-9_.\-]+", accessor_text.lstrip("$"))
    name = "_".join(parts) if parts else "label"
    name = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return name if not name[0].isdigit() else "_" + name


# -- prometheus remote write -------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def write_request(series: Sequence[tuple[Sequence[tuple[str, str]], Sequence[tuple[int, float]]]]) -> bytes:
    """A remote write 1.0 ``WriteRequest``: series of (sorted labels, [(ms, value)])."""
    out = bytearray()
    for labels, samples in series:
        body = bytearray()
        for name, value in labels:
            body += _field(1, _field(1, name.encode()) + _field(2, value.encode()))
        for ts_ms, number in samples:
            sample = b"\x09" + struct.pack("<d", number) + b"\x10" + _varint(ts_ms)
            body += _field(2, sample)
        out += _field(1, bytes(body))
    return bytes(out)


class PrometheusRemoteWriteOutput(HttpOutput):
    signals = (METRICS,)

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.uri = section.get("uri") or "/"
        self.add_labels = []
        for value in section.get_all("add_label"):
            key, _, rest = value.strip().partition(" ")
            if key and rest.strip():
                self.add_labels.append((key, rest.strip()))
            elif key:
                self.warn(f"Add_label {key} has no value (an unset ${{VARIABLE}}?); the label is left out")
        from ecslite.telemetry.prometheus import DeltaAccumulator

        self.delta = DeltaAccumulator()

    def series(self, chunks: Sequence[Chunk]) -> list[tuple[list[tuple[str, str]], list[tuple[int, float]]]]:
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

        from ecslite.telemetry.attributes import attributes_from_pb
        from ecslite.telemetry.model import Resource
        from ecslite.telemetry.prometheus import convert

        grouped: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
        for chunk in chunks:
            request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(chunk.payload)
            resources = [Resource(attributes_from_pb(rm.resource.attributes)) for rm in request.resource_metrics]
            batches, _, _, _ = convert(request, resources, self.delta, time.time(), 0)
            for batch in batches:
                for sample in batch.samples:
                    labels = dict(sample.labels)
                    labels.update(self.add_labels)
                    key = tuple(sorted((k, v) for k, v in labels.items() if v != ""))
                    grouped.setdefault(key, []).append((sample.ts_ms, sample.value))
        return [(list(labels), sorted(samples)) for labels, samples in grouped.items()]

    async def flush(self, chunks: Sequence[Chunk]) -> Result:
        import cramjam

        body = bytes(cramjam.snappy.compress_raw(write_request(self.series(chunks))))
        headers = {
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        }
        return await self.post(self.uri, body, headers)


# -- forward ---------------------------------------------------------------------------------------------


class ForwardOutput(Output):
    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.host = (section.get("host") or "127.0.0.1").strip()
        self.port = _port(section, 24224)
        self.tag_override = section.get("tag")
        self.require_ack = section.flag("require_ack_response")
        self.compress = (section.get("compress") or "").strip().lower() == "gzip"
        self.time_as_integer = section.flag("time_as_integer")

    def _message(self, chunk: Chunk) -> tuple[bytes, str | None]:
        entries = [
            [ts // 1_000_000_000 if self.time_as_integer else event_time(ts), record] for ts, record in chunk.records
        ]
        options: dict[str, Any] = {ROUTER_OPTION: self.engine.router_id}
        chunk_id = None
        if self.require_ack:
            chunk_id = base64.b64encode(secrets.token_bytes(16)).decode()
            options["chunk"] = chunk_id
        tag = self.tag_override or chunk.tag
        if self.compress:
            packed = b"".join(msgpack.packb(e, use_bin_type=True, default=str) for e in entries)
            options["compressed"] = "gzip"
            options["size"] = len(entries)
            message = [tag, gzip.compress(packed), options]
        else:
            message = [tag, entries, options]
        data: bytes = msgpack.packb(message, use_bin_type=True, default=str)
        return data, chunk_id

    async def flush(self, chunks: Sequence[Chunk]) -> Result:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 10)
        except (OSError, TimeoutError) as error:
            self.warn(f"cannot connect to {self.host}:{self.port}: {error}")
            return Result.RETRY
        try:
            for chunk in chunks:
                data, chunk_id = self._message(chunk)
                writer.write(data)
                await writer.drain()
                if chunk_id is not None:
                    unpacker = msgpack.Unpacker(raw=False)
                    while True:
                        received = await asyncio.wait_for(reader.read(4096), 30)
                        if not received:
                            return Result.RETRY
                        unpacker.feed(received)
                        answer = next(iter(unpacker), None)
                        if answer is not None:
                            break
                    if msgpack.packb(answer) != msgpack.packb(msgpack.unpackb(forward_ack(chunk_id), raw=False)):
                        return Result.RETRY
            return Result.OK
        except (OSError, TimeoutError) as error:
            self.warn(f"sending to {self.host}:{self.port} failed: {error}")
            return Result.RETRY
        finally:
            writer.close()


# -- cloudwatch_logs ------------------------------------------------------------------------------------


class CloudWatchLogsOutput(Output):
    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.group = section.get("log_group_name")
        self.stream = section.get("log_stream_name")
        self.prefix = section.get("log_stream_prefix")
        self.create = section.flag("auto_create_group")
        self.log_key = section.get("log_key")
        if not self.group:
            self.warn("log_group_name is required; records routed here are dropped")
        if not self.stream and not self.prefix:
            self.warn("log_stream_name or log_stream_prefix is required; records routed here are dropped")

    def _message(self, record: dict[str, Any]) -> str:
        if self.log_key:
            value = record.get(self.log_key)
            return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
        return orjson.dumps(record, default=str).decode()

    async def flush(self, chunks: Sequence[Chunk]) -> Result:
        if not self.group or not (self.stream or self.prefix):
            return Result.ERROR
        results = []
        for chunk in chunks:
            stream = self.stream or f"{self.prefix}{chunk.tag}"
            events = sorted([ts // 1_000_000, self._message(record)] for ts, record in chunk.records)
            status, answer = await self.engine.tap.post_json(
                "/v1/cloudwatch-logs",
                {"logGroupName": self.group, "logStreamName": stream, "events": events, "createGroup": self.create},
            )
            if status == 0:
                self.warn("ecslite's gateway is not reachable; CloudWatch Logs cannot be written")
                results.append(Result.RETRY)
            elif status != 200:
                self.warn(f"CloudWatch Logs refused the events: {answer}")
                results.append(classify(status))
            else:
                results.append(Result.OK)
        return worst(results)


# -- stdout, null ----------------------------------------------------------------------------------------


def _ruby(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_ruby(k)}=>{_ruby(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_ruby(v) for v in value) + "]"
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class StdoutOutput(Output):
    signals = (LOGS, TRACES, METRICS)

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.format = (section.get("format") or "msgpack").strip().lower()

    async def flush(self, chunks: Sequence[Chunk]) -> Result:
        lines = []
        for chunk in chunks:
            if chunk.kind != LOGS:
                lines.append(f"[{chunk.kind}] {chunk.tag}: {chunk.count} items, {len(chunk.payload)} bytes")
                continue
            for index, (ts, record) in enumerate(chunk.records):
                if self.format in ("json_lines", "json"):
                    lines.append(orjson.dumps({"date": ts / 1e9, **record}, default=str).decode())
                else:
                    stamp = f"{ts // 1_000_000_000}.{ts % 1_000_000_000:09d}"
                    lines.append(f"[{index}] {chunk.tag}: [[{stamp}, {{}}], {_ruby(record)}]")
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        return Result.OK


class NullOutput(Output):
    signals = (LOGS, TRACES, METRICS)


OUTPUTS = {
    "opentelemetry": OpenTelemetryOutput,
    "loki": LokiOutput,
    "prometheus_remote_write": PrometheusRemoteWriteOutput,
    "forward": ForwardOutput,
    "cloudwatch_logs": CloudWatchLogsOutput,
    "cloudwatch": CloudWatchLogsOutput,
    "stdout": StdoutOutput,
    "null": NullOutput,
}
