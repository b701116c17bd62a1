"""Web UI benchmark (issue 9): the overview under load, a 5,000-span waterfall, live update latency.

    .venv/bin/python benchmarks/ui.py [--runs 10] [--services 100] [--history 10000] [--spans 5000]

Drives Debian's ``/usr/bin/chromium`` through Playwright with the flags of the UI tests
(``tests/ui/conftest.py``) against ``ecslite server --runtime fake`` on a fresh data directory:

1. **Overview, time to interactive.** 100 Fargate services (one task each) and 10,000 historical
   (STOPPED) tasks. Seeding: everything goes through the API first (CreateService, StopTask of each
   service's task, which the scheduler replaces, and standalone tasks that exit 1); then, server
   stopped, the bulk path fills the history up to ``--history`` by copying those STOPPED task rows as
   the API wrote them (``tasks`` and the scheduler's settled ``service_tasks`` row) under fresh task
   and container ids, their times spread over the last 50 minutes (STOPPED tasks are kept an hour,
   §3.1), and the server is started again on the same directory. The API alone stops about ten tasks
   a second on the fake runtime, so 10,000 would take a quarter of an hour.
   *Interactive* = navigation start (``performance.now()`` 0 of the new document) → a real mouse
   click (CDP input, as a user's) on the page heading is handled by a capture listener, sent as soon
   as the services table's last row is in the DOM (a MutationObserver from an init script). It
   includes the driver's round trip between seeing the row and sending the click. *Rendered* = the
   last row in the DOM.
2. **Trace waterfall.** One trace of 5,000 spans over ten services (a tree four wide, events on
   every tenth span, an error every 97th) sent as one raw OTLP/HTTP protobuf request. *Rendered* =
   navigation start → the waterfall's rows are laid out (its scroll area as tall as every row, the
   rows in view drawn, the first span's details shown; a forced layout), then a click as above.
3. **Live update latency.** With the overview open, UpdateService moves one service's desiredCount
   (1 → 2, then back once its row is steady); latency = the wall time a MutationObserver sees the
   row's new text (``performance.timeOrigin + performance.now()``) − the wall time the API call
   returned (one machine, one clock). Beside it, the moment the server's ``change`` event reached an
   ``EventSource`` in the same page (the transport floor).

Peer in the same run, loaded by the same browser from a plain HTTP server in this process: a static
HTML page of the same overview rows (the overview's JSON rendered into plain tables) and of the same
waterfall rows (every span a positioned div, nothing virtualised). Each measurement runs
``--runs`` times after one warm-up, ecslite and the peer alternating; p50/p95 and the ratio are
printed. Goals: overview interactive ≤ 500 ms, waterfall rendered ≤ 1 s, live update ≤ 1 s; the
script exits non-zero when a goal is missed. The server it starts is stopped by pid.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
from botocore.config import Config

from common import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [  # as tests/ui/conftest.py
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 860}
CLUSTER = "bench"
HISTORY_WINDOW_S = 50 * 60  # inside the hour ECS keeps STOPPED tasks (§3.1): nothing is purged mid-run
FAILING_JOBS = 20
TRACE_SERVICES = 10
WATERFALL_ROW_PX = 24  # trace.js ROW
GOAL_OVERVIEW_MS = 500.0
GOAL_WATERFALL_MS = 1000.0
GOAL_LIVE_MS = 1000.0
VERBOSE = False

# Installed before any page script: click timestamps, and `until(test)` resolving with
# performance.now() once test() holds (checked on every DOM mutation).
INIT_SCRIPT = """
window.__bench = { clicks: [], events: [] };
document.addEventListener("click", () => window.__bench.clicks.push(performance.now()), true);
window.__bench.until = (test, timeoutMs = 30000) => new Promise((resolve, reject) => {
  setTimeout(() => reject(new Error("the page never got ready: " + test)), timeoutMs);
  const check = () => {
    if (!test()) return false;
    document.documentElement.getBoundingClientRect();
    void document.body.offsetHeight;
    resolve(performance.now());
    return true;
  };
  if (document.documentElement && check()) return;
  const observer = new MutationObserver(() => { if (check()) observer.disconnect(); });
  observer.observe(document, { childList: true, subtree: true, attributes: true, characterData: true });
});
"""

SERVICES_ROWS_JS = """() => {
  const panel = [...document.querySelectorAll("section.panel, section#services")]
    .find((s) => (s.querySelector("h2") || {}).textContent === "Services");
  return panel ? panel.querySelectorAll("tbody tr").length : 0;
}"""


# -- the server ---------------------------------------------------------------------------------


@dataclass
class Server:
    data_dir: Path
    otlp_port: int
    process: subprocess.Popen[bytes] | None = None
    endpoint: str = ""

    def start(self) -> None:
        info = self.data_dir / "server.json"
        info.unlink(missing_ok=True)
        args = [sys.executable, "-m", "ecslite", "server", "--runtime", "fake", "--port", "0"]
        args += ["--data-dir", str(self.data_dir), "--otlp-http-port", str(self.otlp_port)]
        args += ["--otlp-grpc-port", "0", "--forward-port", "0"]
        with open(self.data_dir / "bench.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"ecslite exited: {(self.data_dir / 'bench.log').read_text()[-3000:]}")
            try:
                found = json.loads(info.read_text())
                if found["pid"] == self.process.pid:
                    self.endpoint = found["endpoint"]
                    httpx.get(f"{self.endpoint}/_ecslite/health", timeout=5).raise_for_status()
                    return
            except (FileNotFoundError, json.JSONDecodeError, KeyError, httpx.HTTPError):
                pass
            time.sleep(0.1)
        raise SystemExit("ecslite did not start in 60 s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}, read_timeout=120),
        )


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not reached in {timeout:.0f} s")
        time.sleep(interval)


# -- seeding -------------------------------------------------------------------------------------


def seed_api(server: Server, services: int) -> None:
    """Services with one task each, one replaced task per service, and failed standalone tasks."""
    ecs = server.client("ecs")
    subnets = [s["SubnetId"] for s in server.client("ec2").describe_subnets()["Subnets"]][:2]
    network = {"awsvpcConfiguration": {"subnets": subnets}}
    ecs.create_cluster(clusterName=CLUSTER)
    common = {"networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512"}
    ecs.register_task_definition(
        family="web",
        containerDefinitions=[{"name": "app", "image": "example/web:1", "portMappings": [{"containerPort": 8080}]}],
        **common,
    )
    ecs.register_task_definition(
        family="nightly-report",
        containerDefinitions=[
            {"name": "job", "image": "example/report:1", "dockerLabels": {"ecslite.fake.exit-code": "1"}}
        ],
        **common,
    )
    for n in range(services):
        ecs.create_service(
            cluster=CLUSTER,
            serviceName=f"svc-{n:03d}",
            taskDefinition="web",
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=network,
        )
    for _ in range(FAILING_JOBS // 10):
        ecs.run_task(
            cluster=CLUSTER,
            taskDefinition="nightly-report",
            count=10,
            launchType="FARGATE",
            networkConfiguration=network,
        )

    def running_tasks() -> list[str]:
        arns: list[str] = []
        for page in ecs.get_paginator("list_tasks").paginate(cluster=CLUSTER, desiredStatus="RUNNING"):
            arns += page["taskArns"]
        return arns

    def all_running() -> list[str] | None:
        arns = running_tasks()
        if len(arns) < services:
            return None
        statuses = [
            t["lastStatus"]
            for i in range(0, len(arns), 100)
            for t in ecs.describe_tasks(cluster=CLUSTER, tasks=arns[i : i + 100])["tasks"]
        ]
        return arns if all(s == "RUNNING" for s in statuses) else None

    first = wait_for(all_running, 300, f"{services} service tasks RUNNING")
    for arn in first:
        ecs.stop_task(cluster=CLUSTER, task=arn, reason="Replaced for the UI benchmark's history")
    wait_for(lambda: (found := all_running()) and not set(found) & set(first), 300, "replacements RUNNING")

    def stopped() -> int:
        count = 0
        for page in ecs.get_paginator("list_tasks").paginate(cluster=CLUSTER, desiredStatus="STOPPED"):
            count += len(page["taskArns"])
        return count

    wait_for(lambda: stopped() >= services + FAILING_JOBS, 300, "history STOPPED")


def settled(server: Server, services: int) -> bool:
    """Every service steady with its one task, and nothing else live: the fake runtime's containers
    end with the server, so after the restart the scheduler replaces every service's task first."""
    found = httpx.get(f"{server.endpoint}/ui/api/overview", timeout=60).json()
    steady = [s for s in found["services"] if s["health"] == "steady" and s["runningCount"] == s["desiredCount"]]
    return len(steady) == services and found["liveTasks"] == services


def bulk_history(state_db: Path, total: int) -> int:
    """Copy STOPPED task rows (server stopped) until there are ``total``; returns how many were added.

    Each copy is the row the API wrote with a fresh task id (in its ARN, the containers' ``taskArn``
    and every other mention) and fresh container and attachment ids, shifted back in time."""
    db = sqlite3.connect(state_db)
    try:
        columns = [row[1] for row in db.execute("PRAGMA table_info(tasks)") if row[1] != "rid"]
        templates = db.execute(f"SELECT {', '.join(columns)} FROM tasks WHERE last_status='STOPPED'").fetchall()
        if not templates:
            raise SystemExit("no STOPPED task to copy")
        bookkeeping = {
            row[0]: row
            for row in db.execute(
                "SELECT task_arn, service_arn, deployment_id, created_at, healthy_at, for_health, settled "
                "FROM service_tasks"
            )
        }
        missing = total - len(templates)
        now = time.time()
        rng = random.Random(9)
        index = {name: i for i, name in enumerate(columns)}
        # Oldest first, so rowids grow with time as they do when tasks stop one after another.
        ages = sorted((rng.uniform(60, HISTORY_WINDOW_S) for _ in range(missing)), reverse=True)
        with db:
            for n, age in enumerate(ages):
                row = list(templates[n % len(templates)])
                doc = json.loads(row[index["doc"]])
                old_id = row[index["id"]]
                new_id = uuid.uuid4().hex
                text = row[index["doc"]].replace(old_id, new_id)
                for container in doc.get("containers") or ():
                    old = str(container.get("containerArn", "")).rsplit("/", 1)[-1]
                    if old:
                        text = text.replace(old, str(uuid.uuid4()))
                for attachment in doc.get("attachments") or ():
                    text = text.replace(attachment["id"], str(uuid.uuid4()))
                copy = json.loads(text)
                shift = (now - age) - float(copy.get("stoppedAt") or now)
                for key in (
                    "createdAt",
                    "pullStartedAt",
                    "pullStoppedAt",
                    "startedAt",
                    "connectivityAt",
                    "stoppingAt",
                    "executionStoppedAt",
                    "stoppedAt",
                ):
                    if copy.get(key):
                        copy[key] = float(copy[key]) + shift
                row[index["doc"]] = json.dumps(copy, separators=(",", ":"))
                row[index["id"]] = new_id
                row[index["arn"]] = row[index["arn"]].replace(old_id, new_id)
                row[index["stopped_at"]] = copy.get("stoppedAt")
                db.execute(f"INSERT INTO tasks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", row)
                kept = bookkeeping.get(templates[n % len(templates)][index["arn"]])
                if kept is not None:
                    db.execute(
                        "INSERT INTO service_tasks (task_arn, service_arn, deployment_id, created_at, healthy_at, "
                        "for_health, settled) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (row[index["arn"]], kept[1], kept[2], float(copy.get("createdAt") or now), kept[4], kept[5], 1),
                    )
        return max(missing, 0)
    finally:
        db.close()


def build_trace(spans: int, seed: int = 5) -> tuple[str, bytes]:
    """(trace id, OTLP/HTTP protobuf body) of one trace: a tree four wide over ten services."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    rng = random.Random(seed)
    trace_id = rng.getrandbits(128).to_bytes(16, "big")
    request = trace_service_pb2.ExportTraceServiceRequest()
    scopes = []
    for s in range(TRACE_SERVICES):
        rs = request.resource_spans.add()
        for key, value in (("service.name", f"svc-{s:03d}"), ("service.namespace", "bench")):
            rs.resource.attributes.add(key=key).value.string_value = value
        scope = rs.scope_spans.add()
        scope.scope.name = "opentelemetry.instrumentation.requests"
        scopes.append(scope)
    origin = time.time_ns() - 5 * 10**9
    bounds = [(origin, origin + 2 * 10**9)]  # (start, end) of each span, by index
    for i in range(spans):
        parent = (i - 1) // 4 if i else -1
        if i:
            p_start, p_end = bounds[parent]
            width = (p_end - p_start) // 4
            slot = (i - 1) % 4
            start = p_start + slot * width + rng.randint(0, width // 10)
            end = start + max(1000, int(width * rng.uniform(0.3, 0.9)))
            bounds.append((start, end))
        start, end = bounds[i]
        span = scopes[i % TRACE_SERVICES].spans.add(
            trace_id=trace_id,
            span_id=(i + 1).to_bytes(8, "big"),
            parent_span_id=(parent + 1).to_bytes(8, "big") if i else b"",
            name=f"GET /api/item/{i % 37}",
            kind=2 if i % 2 == 0 else 3,
            start_time_unix_nano=start,
            end_time_unix_nano=end,
        )
        span.attributes.add(key="http.route").value.string_value = f"/api/item/{i % 37}"
        span.attributes.add(key="http.response.status_code").value.int_value = 500 if i % 97 == 0 else 200
        if i % 10 == 0:
            event = span.events.add(name="cache.miss", time_unix_nano=start + (end - start) // 2)
            event.attributes.add(key="key").value.string_value = f"item:{i}"
        if i % 97 == 0:
            span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
            span.status.message = "upstream failed"
    return trace_id.hex(), request.SerializeToString()


# -- the peer: the same rows as static HTML ----------------------------------------------------------


PEER_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:0 24px}table{border-collapse:collapse;width:100%}"
    "td,th{padding:6px 8px;border-bottom:1px solid #ddd;text-align:left}"
    ".wf{position:relative}.r{position:absolute;left:0;right:0;height:24px;display:flex}"
    ".n{width:35%;overflow:hidden;white-space:nowrap}.c{position:relative;flex:1}.b{position:absolute;top:6px;height:12px;background:#4a7}"
)


def peer_overview(data: dict[str, Any]) -> bytes:
    """The overview's JSON rendered into plain tables (services, events, failing tasks, clusters)."""
    e = html.escape
    rows = "".join(
        f"<tr><td><a href='#'>{e(s['serviceName'])}</a><div>{e(s['cluster'])} · {e(s['region'])}</div></td>"
        f"<td>{s['runningCount']} running / {s['desiredCount']} desired</td><td>{e(s['health'])}</td>"
        f"<td>{e(str(s['taskDefinition']).rsplit('/', 1)[-1])}</td>"
        f"<td>{e((s.get('lastEvent') or {}).get('message', ''))}</td></tr>"
        for s in data["services"]
    )
    events = "".join(f"<li>{e(ev['serviceName'])} {e(ev['message'])}</li>" for ev in data["events"])
    failing = "".join(
        f"<li>{e(t['taskId'][:8])} {e(str(t.get('stopCode')))} {e(str(t.get('stoppedReason')))}</li>"
        for t in data["failingTasks"]
    )
    clusters = "".join(
        f"<tr><td>{e(c['clusterName'])}</td><td>{c['runningTasksCount']}</td><td>{c['activeServicesCount']}</td></tr>"
        for c in data["clusters"]
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>peer</title><style>{PEER_STYLE}</style></head>"
        f"<body><h1>Overview</h1><section id='services'><h2>Services</h2><table><thead><tr><th>Service</th>"
        f"<th>Tasks</th><th>Health</th><th>Task definition</th><th>Last event</th></tr></thead><tbody>{rows}"
        f"</tbody></table></section><section><h2>Recent service events</h2><ul>{events}</ul></section>"
        f"<section><h2>Failing tasks</h2><ul>{failing}</ul></section><section><h2>Clusters</h2><table>"
        f"<tbody>{clusters}</tbody></table></section></body></html>"
    )
    return page.encode()


def peer_waterfall(trace: dict[str, Any]) -> bytes:
    """Every span of the trace as one positioned row (depth-first, children by start), none virtualised."""
    spans = trace["spans"]
    children: dict[str, list[dict[str, Any]]] = {}
    ids = {s["spanId"] for s in spans}
    roots = []
    for span in spans:
        if span.get("parentId") in ids:
            children.setdefault(span["parentId"], []).append(span)
        else:
            roots.append(span)
    order: list[tuple[dict[str, Any], int]] = []
    stack = [(s, 0) for s in sorted(roots, key=lambda s: s["start"], reverse=True)]
    while stack:
        span, depth = stack.pop()
        order.append((span, depth))
        stack += [
            (k, depth + 1) for k in sorted(children.get(span["spanId"], []), key=lambda s: s["start"], reverse=True)
        ]
    total = max(trace["durationUs"], 1)
    rows = "".join(
        f"<div class='r' style='top:{i * WATERFALL_ROW_PX}px'><div class='n' style='padding-left:{d * 14}px'>"
        f"{html.escape(s['service'])} {html.escape(s['name'])}</div><div class='c'><div class='b' style='left:"
        f"{100 * s['start'] / total:.3f}%;width:{max(100 * s['duration'] / total, 0.15):.3f}%'></div></div></div>"
        for i, (s, d) in enumerate(order)
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>peer</title><style>{PEER_STYLE}</style></head>"
        f"<body><h1>trace {trace['traceId']}</h1><div class='wf' style='height:{len(order) * WATERFALL_ROW_PX}px'>"
        f"{rows}</div></body></html>"
    )
    return page.encode()


@contextmanager
def peer_server(pages: dict[str, bytes]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class Samples:
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    def p(self, q: float) -> float:
        ordered = sorted(self.values)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    def text(self) -> str:
        found = f"p50 {self.p(0.5):7.1f} ms  p95 {self.p(0.95):7.1f} ms  (n={len(self.values)})"
        if VERBOSE:
            found += "  [" + " ".join(f"{v:.0f}" for v in self.values) + "]"
        return found


def load_page(context: Any, url: str, ready_js: str) -> tuple[float, float]:
    """(rendered ms, interactive ms) from navigation start of a new tab."""
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit")
        rendered, x, y = page.evaluate(
            f"""async () => {{
                const at = await window.__bench.until({ready_js});
                const box = document.querySelector("h1").getBoundingClientRect();
                return [at, box.left + 4, box.top + box.height / 2];
            }}"""
        )
        page.mouse.click(x, y)
        clicked = page.wait_for_function("() => window.__bench.clicks.length > 0 && window.__bench.clicks[0]")
        return float(rendered), float(clicked.json_value())
    finally:
        page.close()


def overview_ready(rows: int) -> str:
    return f"() => ({SERVICES_ROWS_JS})() >= {rows}"


def waterfall_ready(rows: int) -> str:
    height = f"{rows * WATERFALL_ROW_PX}px"
    return (
        "() => { const inner = document.querySelector('.wf-rows'); "
        f"return !!inner && inner.style.height === '{height}' && inner.querySelector('.wf-row') !== null "
        "&& document.querySelector('.detail h2') !== null; }"
    )


def peer_waterfall_ready(rows: int) -> str:
    return f"() => document.querySelectorAll('.wf .r').length >= {rows}"


def live_latency(context: Any, server: Server, services: int, runs: int) -> tuple[Samples, Samples]:
    """(visible, change event) latencies of desiredCount changes, in ms after the API call returned."""
    ecs = server.client("ecs")
    page = context.new_page()
    visible, event = Samples(), Samples()
    try:
        page.goto(f"{server.endpoint}/ui", wait_until="commit")
        page.evaluate(f"() => window.__bench.until({overview_ready(services)})")
        page.wait_for_function("() => document.getElementById('live').textContent === 'live'")
        page.evaluate(
            """() => {
                const source = new EventSource("/ui/api/live");
                const stamp = () => window.__bench.events.push(performance.timeOrigin + performance.now());
                source.addEventListener("change", stamp);
            }"""
        )
        for n in range(runs + 1):
            name = f"svc-{(n * 7) % services:03d}"
            for desired in (2, 1):
                text = f"running / {desired} desired"
                page.evaluate(
                    """([name, text]) => {
                        window.__bench.seen = null;
                        window.__bench.events.length = 0;
                        const rowText = () => {
                          for (const a of document.querySelectorAll("section.panel tbody tr td:first-child a")) {
                            if (a.textContent === name) return a.closest("tr").children[1].textContent;
                          }
                          return "";
                        };
                        window.__bench.until(() => rowText().includes(text)).then(() => {
                          window.__bench.seen = performance.timeOrigin + performance.now();
                        });
                    }""",
                    [name, text],
                )
                time.sleep(0.3)  # the previous change's events are over
                page.evaluate("() => { window.__bench.events.length = 0; }")
                ecs.update_service(cluster=CLUSTER, service=name, desiredCount=desired)
                returned = time.time() * 1000
                seen = page.wait_for_function("() => window.__bench.seen", timeout=15_000).json_value()
                first_event = page.evaluate("() => window.__bench.events[0] || null")
                if n:  # the first round warms up
                    visible.add(float(seen) - returned)
                    if first_event is not None:
                        event.add(float(first_event) - returned)

                def steady(name: str = name, desired: int = desired) -> bool:
                    found = ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]
                    return bool(found["runningCount"] == desired and found["pendingCount"] == 0)

                wait_for(steady, 60, f"{name} at {desired}", interval=0.2)
    finally:
        page.close()
    return visible, event


def api_timing(url: str, runs: int) -> tuple[Samples, int]:
    times = Samples()
    size = 0
    with httpx.Client(timeout=60) as client:
        for _ in range(runs):
            start = time.perf_counter()
            answer = client.get(url)
            times.add((time.perf_counter() - start) * 1000)
            answer.raise_for_status()
            size = len(answer.content)
    return times, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--history", type=int, default=10_000, help="STOPPED tasks in the store")
    parser.add_argument("--spans", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="keep the data directory (its path is printed)")
    parser.add_argument("--verbose", action="store_true", help="print every sample")
    options = parser.parse_args()
    global VERBOSE
    VERBOSE = options.verbose
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")

    data_dir = Path(tempfile.mkdtemp(prefix="ecslite-ui-bench-"))
    server = Server(data_dir, free_port())
    missed = []
    try:
        started = time.perf_counter()
        server.start()
        seed_api(server, options.services)
        server.stop()
        added = bulk_history(data_dir / "state.db", options.history)
        server.start()
        wait_for(lambda: settled(server, options.services), 300, "services steady after the restart", interval=1)
        trace_id, body = build_trace(options.spans)
        httpx.post(
            f"http://127.0.0.1:{server.otlp_port}/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
            timeout=60,
        ).raise_for_status()

        def trace_stored() -> dict[str, Any] | None:
            answer = httpx.get(f"{server.endpoint}/ui/api/traces/{trace_id}", timeout=60)
            found = answer.json() if answer.status_code == 200 else None
            return found if found and len(found["spans"]) == options.spans else None

        trace = wait_for(trace_stored, 60, f"trace {trace_id} readable")
        overview = httpx.get(f"{server.endpoint}/ui/api/overview", timeout=60).json()
        stopped = (
            sqlite3.connect(data_dir / "state.db")
            .execute("SELECT COUNT(*) FROM tasks WHERE last_status='STOPPED'")
            .fetchone()[0]
        )
        print(
            f"seeded in {time.perf_counter() - started:.1f} s: {len(overview['services'])} services, "
            f"{overview['liveTasks']} live tasks, {stopped:,} STOPPED tasks ({added:,} by the bulk path), "
            f"{len(overview['failingTasks'])} failing tasks listed; a trace of {len(trace['spans']):,} spans"
        )
        overview_api, overview_bytes = api_timing(f"{server.endpoint}/ui/api/overview", options.runs)
        trace_api, trace_bytes = api_timing(f"{server.endpoint}/ui/api/traces/{trace_id}", options.runs)

        from playwright.sync_api import sync_playwright

        profile = Path(tempfile.mkdtemp(prefix="ecslite-ui-bench-chromium-"))
        pages = {"/overview": peer_overview(overview), "/trace": peer_waterfall(trace)}
        with peer_server(pages) as peer, sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                viewport=VIEWPORT,  # type: ignore[arg-type]
            )
            context.set_default_timeout(30_000)
            context.add_init_script(INIT_SCRIPT)
            targets = {
                "overview": (
                    f"{server.endpoint}/ui",
                    overview_ready(options.services),
                    f"{peer}/overview",
                    overview_ready(options.services),
                ),
                "waterfall": (
                    f"{server.endpoint}/ui/traces/{trace_id}",
                    waterfall_ready(options.spans),
                    f"{peer}/trace",
                    peer_waterfall_ready(options.spans),
                ),
            }
            results: dict[str, dict[str, Samples]] = {}
            for name, (url, ready, peer_url, peer_ready) in targets.items():
                found = {key: Samples() for key in ("rendered", "interactive", "peer rendered", "peer interactive")}
                for n in range(options.runs + 1):
                    rendered, interactive = load_page(context, url, ready)
                    peer_rendered, peer_interactive = load_page(context, peer_url, peer_ready)
                    if n:  # the first round warms the browser's cache and the server's
                        found["rendered"].add(rendered)
                        found["interactive"].add(interactive)
                        found["peer rendered"].add(peer_rendered)
                        found["peer interactive"].add(peer_interactive)
                results[name] = found
            visible, event = live_latency(context, server, options.services, options.runs)
            context.close()
        shutil.rmtree(profile, ignore_errors=True)

        print(f"GET /ui/api/overview        {overview_api.text()}  {overview_bytes / 1024:,.0f} KiB")
        print(f"GET /ui/api/traces/<id>     {trace_api.text()}  {trace_bytes / 1024:,.0f} KiB")
        for name, goal, measure in (
            ("overview", GOAL_OVERVIEW_MS, "interactive"),
            ("waterfall", GOAL_WATERFALL_MS, "rendered"),
        ):
            found = results[name]
            for key in ("rendered", "interactive"):
                ratio = found[key].p(0.5) / found[f"peer {key}"].p(0.5)
                print(f"{name:9} {key:11} ecslite {found[key].text()}")
                print(f"{'':9} {'':11} peer    {found[f'peer {key}'].text()}  ecslite/peer p50 {ratio:.2f}")
            met = found[measure].p(0.95) <= goal
            print(f"{name:9} goal {measure} <= {goal:.0f} ms (p95): {'met' if met else 'MISSED'}")
            if not met:
                missed.append(name)
        print(f"live update visible         {visible.text()}")
        print(f"live change event arrived   {event.text()}")
        met = visible.p(0.95) <= GOAL_LIVE_MS
        print(f"live      goal visible <= {GOAL_LIVE_MS:.0f} ms (p95): {'met' if met else 'MISSED'}")
        if not met:
            missed.append("live")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        server.stop()
        if options.keep:
            print(f"data directory kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
