"""``ecslite traces`` (recent traces) and ``ecslite trace ID`` (one trace as a waterfall), read from
ecslite's Tempo and Jaeger APIs (spec/telemetry.md §7.3, §7.4).

``traces`` searches Tempo with TraceQL built from the options (``{ resource.service.name = "S" }``,
``{ status = error }``, joined with ``&&``: a trace qualifies when it has a span of the service and
an error span), over ``--since`` back from now, then reads each trace found through Jaeger's trace
by id for what a search summary lacks: the exact duration, the span count and the error spans.

``trace`` accepts a W3C id (32 hex digits) or an X-Ray id (``1-5759e988-bd862e3fe1be46a994272793``),
as the server does. Spans are laid out depth first under their parents (a span whose parent never
arrived is shown as a root), children in start order; each row has the service, the operation, the
duration and a bar placed on the trace's time line, scaled to the terminal's width. Error spans
are red; key attributes (HTTP, RPC, database, messaging, faults, exceptions) follow on a dim line.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from ecslite.cli import render
from ecslite.cli.client import (
    DEFAULT,
    Client,
    CliError,
    EndpointOpt,
    JsonOpt,
    error_text,
    parse_duration,
    reporting,
    usage_error,
)

TRACE_ID = re.compile(r"^(?:[0-9a-fA-F]{1,32}|1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24})$")
KEY_ATTRIBUTES = (
    "http.request.method",
    "http.method",
    "http.route",
    "url.full",
    "url.path",
    "http.url",
    "http.target",
    "http.response.status_code",
    "http.status_code",
    "rpc.system",
    "rpc.method",
    "db.system",
    "db.name",
    "db.statement",
    "db.query.text",
    "messaging.system",
    "messaging.destination.name",
    "peer.service",
    "server.address",
    "error.type",
    "demo.fault",
    "otel.status_description",
)
ATTRIBUTE_TEXT_LIMIT = 80
FETCH_WORKERS = 8


# -- the trace model --------------------------------------------------------------------------------


@dataclass
class Span:
    span_id: str
    parent_id: str | None
    service: str
    name: str
    start_us: int
    duration_us: int
    tags: dict[str, Any]
    events: list[dict[str, Any]]
    children: list[Span] = field(default_factory=list)

    @property
    def error(self) -> bool:
        return self.tags.get("error") is True or self.tags.get("otel.status_code") == "ERROR"

    @property
    def kind(self) -> str | None:
        value = self.tags.get("span.kind")
        return str(value) if value is not None else None


@dataclass
class Trace:
    trace_id: str
    spans: list[Span]

    @property
    def start_us(self) -> int:
        return min(s.start_us for s in self.spans)

    @property
    def duration_us(self) -> int:
        return max(s.start_us + s.duration_us for s in self.spans) - self.start_us

    @property
    def services(self) -> list[str]:
        return sorted({s.service for s in self.spans})

    @property
    def error_count(self) -> int:
        return sum(1 for s in self.spans if s.error)

    def roots(self) -> list[Span]:
        """Spans without a parent in the trace, in start order, each with its children linked."""
        by_id = {s.span_id: s for s in self.spans}
        for span in self.spans:
            span.children = []
        roots = []
        for span in sorted(self.spans, key=lambda s: (s.start_us, s.span_id)):
            parent = by_id.get(span.parent_id) if span.parent_id else None
            if parent is None or parent is span:
                roots.append(span)
            else:
                parent.children.append(span)
        return roots

    def root(self) -> Span:
        return self.roots()[0]


def trace_of(data: dict[str, Any]) -> Trace:
    """A Trace from one element of a Jaeger ``/api/traces`` answer."""
    processes = data.get("processes") or {}
    spans = []
    for raw in data.get("spans") or ():
        parent = next((r["spanID"] for r in raw.get("references") or () if r.get("refType") == "CHILD_OF"), None)
        process = processes.get(raw.get("processID")) or {}
        spans.append(
            Span(
                span_id=raw["spanID"],
                parent_id=parent,
                service=str(process.get("serviceName") or "?"),
                name=str(raw.get("operationName") or ""),
                start_us=int(raw.get("startTime") or 0),
                duration_us=int(raw.get("duration") or 0),
                tags={t["key"]: t.get("value") for t in raw.get("tags") or ()},
                events=[
                    {
                        "timestamp": log.get("timestamp"),
                        "fields": {f["key"]: f.get("value") for f in log.get("fields") or ()},
                    }
                    for log in raw.get("logs") or ()
                ],
            )
        )
    if not spans:
        raise CliError(f"Trace {data.get('traceID')} has no spans.")
    return Trace(str(data.get("traceID")), spans)


def key_attributes(span: Span) -> list[tuple[str, str]]:
    """The attributes worth a glance, in a fixed order, and the exceptions the span recorded."""
    out = []
    for key in KEY_ATTRIBUTES:
        if key in span.tags and span.tags[key] not in (None, ""):
            out.append((key, render.first_line(str(span.tags[key]), ATTRIBUTE_TEXT_LIMIT)))
    for event in span.events:
        fields = event["fields"]
        if fields.get("event") == "exception":
            what = " ".join(str(fields[k]) for k in ("exception.type", "exception.message") if fields.get(k))
            out.append(("exception", render.first_line(what or "exception", ATTRIBUTE_TEXT_LIMIT)))
    return out


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the waterfall."""

    prefix: str
    span: Span
    depth: int


def waterfall_rows(trace: Trace) -> list[Row]:
    """Depth-first rows with tree glyphs (``├─``, ``└─``, ``│``) for the labels."""
    rows: list[Row] = []

    def walk(span: Span, lead: str, tail: str, depth: int) -> None:
        rows.append(Row(lead, span, depth))
        for index, child in enumerate(span.children):
            last = index == len(span.children) - 1
            walk(child, tail + ("└─ " if last else "├─ "), tail + ("   " if last else "│  "), depth + 1)

    for root in trace.roots():
        walk(root, "", "", 0)
    return rows


def xray_id(trace_id: str) -> str:
    """The X-Ray form of a W3C trace id."""
    padded = trace_id.rjust(32, "0").lower()
    return f"1-{padded[:8]}-{padded[8:]}"


# -- reading ----------------------------------------------------------------------------------------


def fetch_trace(client: Client, trace_id: str) -> Trace | None:
    """The trace through Jaeger's trace by id; None when the server has no such trace."""
    response = client.get(f"/jaeger/api/traces/{trace_id}")
    if response.status_code == 404:
        return None
    if response.status_code >= 400:
        raise CliError(error_text(response))
    data = response.json().get("data") or []
    return trace_of(data[0]) if data else None


def search_query(service: str | None, errors: bool) -> str:
    parts = []
    if service:
        escaped = service.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{{ resource.service.name = "{escaped}" }}')
    if errors:
        parts.append("{ status = error }")
    return " && ".join(parts) or "{ }"


def trace_summary(trace_id: str, found: dict[str, Any], trace: Trace | None) -> dict[str, Any]:
    """The ``traces --json`` object of one trace."""
    start = int(found.get("startTimeUnixNano") or 0) / 1e9
    row: dict[str, Any] = {
        "traceId": trace_id,
        "rootService": found.get("rootServiceName"),
        "rootOperation": found.get("rootTraceName"),
        "startTime": render.iso(start),
        "durationMs": float(found.get("durationMs") or 0),
        "spanCount": None,
        "errorCount": None,
        "error": None,
        "services": [],
    }
    if trace is not None:
        row["durationMs"] = trace.duration_us / 1000
        row["spanCount"] = len(trace.spans)
        row["errorCount"] = trace.error_count
        row["error"] = trace.error_count > 0
        row["services"] = trace.services
    return row


def search(client: Client, query: str, since_seconds: float, limit: int) -> list[dict[str, Any]]:
    end = time.time()
    params = {"q": query, "start": int(end - since_seconds), "end": int(end) + 1, "limit": limit, "spss": 1}
    found = client.get_json("/tempo/api/search", params).get("traces") or []
    with concurrent.futures.ThreadPoolExecutor(FETCH_WORKERS) as pool:
        traces = list(pool.map(lambda t: fetch_trace(client, t["traceID"]), found))
    rows = [trace_summary(t["traceID"], t, trace) for t, trace in zip(found, traces, strict=True)]
    return sorted(rows, key=lambda r: r["startTime"] or "", reverse=True)


# -- printing ---------------------------------------------------------------------------------------


def render_traces(rows: list[dict[str, Any]], since: str) -> None:
    console = render.stdout_console()
    if not rows:
        console.print(f"No traces in the last {since}.")
        return
    columns = ("!TRACE ID", "!ROOT SERVICE", "ROOT OPERATION", ">DURATION", ">SPANS", "!ERROR", "!START")
    now = time.time()
    cells: list[list[Text | str]] = []
    for row in rows:
        error = Text("error", style="bold red") if row["error"] else Text("")
        if row["error"] and row["errorCount"]:
            error.append(f" ×{row['errorCount']}", style="red")
        started = _epoch(row["startTime"])
        cells.append(
            [
                row["traceId"],
                row["rootService"] or "-",
                row["rootOperation"] or "-",
                render.duration(row["durationMs"] / 1000),
                "-" if row["spanCount"] is None else str(row["spanCount"]),
                error,
                f"{render.clock_time(started)} ({render.ago(now - started)} ago)",
            ]
        )
    render.print_table(console, render.fitted_table(console, columns, cells, optional=("START", "SPANS")))


def _epoch(iso_text: str | None) -> float:
    if not iso_text:
        return 0.0
    return dt.datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()


def trace_json(trace: Trace) -> dict[str, Any]:
    start = trace.start_us
    root = trace.root()
    spans = []
    for row in waterfall_rows(trace):
        span = row.span
        spans.append(
            {
                "spanId": span.span_id,
                "parentSpanId": span.parent_id,
                "depth": row.depth,
                "service": span.service,
                "name": span.name,
                "kind": span.kind,
                "startOffsetMs": (span.start_us - start) / 1000,
                "durationMs": span.duration_us / 1000,
                "error": span.error,
                "statusMessage": span.tags.get("otel.status_description"),
                "attributes": span.tags,
                "events": [
                    {
                        "name": e["fields"].get("event"),
                        "offsetMs": (int(e["timestamp"] or start) - start) / 1000,
                        "attributes": {k: v for k, v in e["fields"].items() if k != "event"},
                    }
                    for e in span.events
                ],
            }
        )
    return {
        "traceId": trace.trace_id,
        "xrayTraceId": xray_id(trace.trace_id),
        "rootService": root.service,
        "rootOperation": root.name,
        "startTime": render.iso(start / 1e6),
        "durationMs": trace.duration_us / 1000,
        "spanCount": len(trace.spans),
        "errorCount": trace.error_count,
        "services": trace.services,
        "spans": spans,
    }


def waterfall_lines(trace: Trace, width: int, *, attributes: bool = True) -> Iterator[Text]:
    """The waterfall, one Text per terminal line, ``width`` cells wide at most."""
    rows = waterfall_rows(trace)
    labels = [f"{row.prefix}{row.span.service} {row.span.name}" for row in rows]
    label_width, bar_width = render.column_widths(labels, width)
    total, start = trace.duration_us, trace.start_us
    header = Text(" " * label_width + " " + "".rjust(9) + " ")
    header.append(f"0{' ' * max(0, bar_width - 1 - len(render.duration(total / 1e6)))}", style="dim")
    header.append(render.duration(total / 1e6), style="dim")
    yield header
    for row in rows:
        span = row.span
        style = "red" if span.error else _service_style(span.service, trace.services)
        label = Text(row.prefix, style="dim")
        label.append(span.service, style="bold " + style)
        label.append(" " + span.name, style="red" if span.error else "")
        label.truncate(label_width, overflow="ellipsis", pad=True)
        line = Text()
        line.append(label)
        line.append(" " + render.duration(span.duration_us / 1e6).rjust(9) + " ")
        line.append(render.bar(span.start_us - start, span.duration_us, total, bar_width, style))
        yield line
        if attributes:
            pairs = key_attributes(span)
            if pairs:
                indent = row.prefix.replace("├─ ", "│  ").replace("└─ ", "   ")
                extra = Text(indent + ("│  " if span.children else "   "), style="dim")
                for index, (key, value) in enumerate(pairs):
                    extra.append(("  " if index else "") + f"{key}=", style="dim")
                    extra.append(value, style="red" if key in ("exception", "error.type") else "dim")
                extra.truncate(width, overflow="ellipsis")
                yield extra


SERVICE_STYLES = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta", "bright_green")


def _service_style(service: str, services: list[str]) -> str:
    return SERVICE_STYLES[services.index(service) % len(SERVICE_STYLES)] if service in services else ""


def render_trace(trace: Trace, console: Console, *, attributes: bool) -> None:
    root = trace.root()
    head = Text("trace ", style="bold")
    head.append(trace.trace_id, style="bold")
    head.append(f"  ({xray_id(trace.trace_id)})", style="dim")
    console.print(head)
    summary = Text(f"{root.service} {root.name}  ")
    summary.append(render.duration(trace.duration_us / 1e6), style="bold")
    summary.append(f"  {len(trace.spans)} spans  {len(trace.services)} services  ")
    if trace.error_count:
        summary.append(f"{trace.error_count} error{'s' if trace.error_count > 1 else ''}", style="bold red")
    summary.append(f"  started {render.clock_time(trace.start_us / 1e6)}", style="dim")
    console.print(summary)
    console.print()
    for line in waterfall_lines(trace, console.width, attributes=attributes):
        console.print(line, no_wrap=True, overflow="ellipsis")


# -- the commands -----------------------------------------------------------------------------------


def traces_command(
    service: Annotated[
        str | None, typer.Option("--service", "-s", help="Only traces with spans of this service.")
    ] = None,
    errors: Annotated[bool, typer.Option("--errors", help="Only traces with an error span.")] = False,
    since: Annotated[str, typer.Option("--since", help="How far back to look (30s, 15m, 1h, 2d).")] = "15m",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="At most this many traces.")] = 20,
    json_output: JsonOpt = False,
    endpoint: EndpointOpt = DEFAULT,
) -> None:
    """List recent traces: id, root service and operation, duration, spans, errors and start."""
    with reporting():
        since_seconds = parse_duration(since, "--since")
        with Client(endpoint) as client:
            rows = search(client, search_query(service, errors), since_seconds, limit)
        if json_output:
            render.print_json(rows)
        else:
            render_traces(rows, since)


def trace_command(
    trace_id: Annotated[str, typer.Argument(metavar="ID", help="Trace id: 32 hex digits, or an X-Ray id 1-….")],
    compact: Annotated[bool, typer.Option("--compact", help="Leave out the attribute lines.")] = False,
    json_output: JsonOpt = False,
    endpoint: EndpointOpt = DEFAULT,
) -> None:
    """Show one trace as a waterfall: spans by service, durations, errors and key attributes."""
    with reporting():
        if not TRACE_ID.match(trace_id):
            raise usage_error(
                f"Invalid trace id '{trace_id}': give 32 hex digits (W3C) or an X-Ray id such as "
                "1-5759e988-bd862e3fe1be46a994272793."
            )
        with Client(endpoint) as client:
            trace = fetch_trace(client, trace_id)
        if trace is None:
            raise CliError(f"Trace {trace_id} was not found: it has not arrived yet, or retention removed it.")
        if json_output:
            render.print_json(trace_json(trace))
        else:
            render_trace(trace, render.terminal_console(), attributes=not compact)


def register(app: typer.Typer) -> None:
    app.command("traces")(traces_command)
    app.command("trace")(trace_command)
