"""``POST /loki/api/v1/push`` on the main port: Loki's push API into the telemetry store (spec §6.2).

So that Promtail, Grafana Alloy, Fluent Bit's ``loki`` output, or another ecslite's exporter can
use ecslite as their Loki. Bodies are JSON (optionally gzip) or protobuf in a snappy block;
success is ``204 No Content``, a bad body ``400`` with Loki's plain-text error, a full pipeline
``429`` with ``Retry-After`` (Loki's "rate limited", which senders retry).

Each stream's labels become the record's resource (§2.3 names map back: ``service_name`` →
``service.name``, ``container`` → ``container.name``, ``task_family`` → ``aws.ecs.task.family``,
``cluster`` → ``aws.ecs.cluster.arn``), ``source`` and ``level`` become the record's source and
severity, and structured metadata ``trace_id``/``span_id`` its trace context. Other labels and
metadata are kept as log attributes (``loki.labels.<name>``, ``loki.metadata.<name>``): the store
keys streams by the §2.3 label set only.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ecslite.clock import Clock
from ecslite.telemetry.export.loki import BadPush, LokiEntry, decode_push
from ecslite.telemetry.log_records import LogBatch, LogRecord, log_from_python
from ecslite.telemetry.model import Resource, Scope, Signal
from ecslite.telemetry.pipeline import Outcome, Pipeline

log = logging.getLogger(__name__)

PATH = "/loki/api/v1/push"
MAX_BODY = 64 * 1024 * 1024
RESOURCE_LABELS = {
    "service_name": "service.name",
    "container": "container.name",
    "task_family": "aws.ecs.task.family",
    "cluster": "aws.ecs.cluster.arn",
}
LEVELS = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "warning": 13, "error": 17, "fatal": 21, "critical": 21}
SOURCES = ("stdout", "stderr", "otlp")
STREAM_FIELDS = ("source", "level")


def batches_of(entries: Sequence[LokiEntry], now_ns: int) -> list[LogBatch]:
    """Log batches, one per stream label set."""
    by_stream: dict[tuple[tuple[str, str], ...], list[LogRecord]] = {}
    for entry in entries:
        labels = dict(entry.labels)
        level = labels.get("level", "")
        attributes: dict[str, str] = {
            f"loki.labels.{k}": v for k, v in labels.items() if k not in RESOURCE_LABELS and k not in STREAM_FIELDS
        }
        trace_id = span_id = b""
        for name, value in entry.metadata:
            if name == "trace_id" and len(value) == 32:
                trace_id = _unhex(value)
            elif name == "span_id" and len(value) == 16:
                span_id = _unhex(value)
            else:
                attributes[f"loki.metadata.{name}"] = value
        source = labels.get("source", "")
        record = log_from_python(
            time_ns=entry.ts_ns,
            observed_ns=now_ns,
            body=entry.line,
            severity_number=LEVELS.get(level.lower(), 0),
            severity_text=level.upper() if level else "",
            trace_id=trace_id,
            span_id=span_id,
            source=source if source in SOURCES else "stdout",
            attributes=attributes,
        )
        by_stream.setdefault(entry.labels, []).append(record)
    out = []
    for stream, records in by_stream.items():
        attrs = {RESOURCE_LABELS[k]: v for k, v in stream if k in RESOURCE_LABELS}
        out.append(LogBatch(Resource(attrs), Scope("loki-push"), records))
    return out


def _unhex(value: str) -> bytes:
    try:
        return binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        return b""


def loki_push_route(pipeline: Pipeline, clock: Clock) -> Route:
    async def push(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("request body too large", status_code=413)
        try:
            entries = await asyncio.to_thread(
                decode_push,
                body,
                request.headers.get("content-type", "application/json"),
                request.headers.get("content-encoding", ""),
            )
        except BadPush as error:
            return PlainTextResponse(str(error), status_code=400)
        if not entries:
            return Response(status_code=204)
        batches = batches_of(entries, int(clock.now() * 1e9))
        future = pipeline.submit_batches(Signal.LOGS, batches, None, "loki")
        if future is None:
            retry = str(pipeline.settings.retry_after_seconds)
            return PlainTextResponse("ingestion rate limit exceeded", status_code=429, headers={"Retry-After": retry})
        result = await asyncio.wrap_future(future)
        if result.outcome is not Outcome.OK:
            return PlainTextResponse(result.message or "push failed", status_code=400)
        return Response(status_code=204)

    return Route(PATH, push, methods=["POST"])
