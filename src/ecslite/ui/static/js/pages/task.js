// Task page: containers (status, health, exit codes, reasons), dependsOn order, the start/stop
// timeline, resource charts, each container's logs with live tail, the metadata, and the
// `ecslite exec` command. Requests: the task (live), its charts, and the logs of the open container.

import {
  h, clear, add, api, errorBox, badge, table, link, ago, nameOf, serviceHref, panel, kv, copyBox, dateTime, number, rangeSelect, stamp, micros, lifetimeWindow,
} from "../util.js";
import { LineChart, fromQuery } from "../plot.js";
import { scheduleAnchor } from "./cluster.js";

export async function render(main, query) {
  const id = query.get("id") || "";
  let range = query.get("range") || "auto";
  const root = h("div");
  const stateBox = h("div.stack");
  const chartBox = h("div.stack");
  const logsBox = h("div.stack");
  add(root, stateBox, chartBox, logsBox);
  add(main, root);
  let state = null;
  let charts = [];
  let controller = null;
  let logs = null;
  let timer = null;

  async function loadState() {
    if (controller) controller.abort();
    controller = new AbortController();
    try {
      state = await api("/ui/api/task", { id }, controller.signal);
    } catch (error) {
      if (error.name !== "AbortError") clear(stateBox, errorBox(error));
      return;
    }
    drawState();
    if (!logs) logs = new Logs(logsBox, state);
    else logs.update(state);
  }

  async function loadCharts() {
    let answer;
    try {
      const t = state && state.task;
      const chosen = t ? lifetimeWindow(range, t.createdAt, t.stoppedAt, state.now) : { range: "30m" };
      answer = await api("/ui/api/task/telemetry", { id, ...chosen });
    } catch (error) {
      clear(chartBox, errorBox(error));
      return;
    }
    for (const chart of charts) chart.dispose();
    charts = [];
    const box = (title, key, options) => {
      const host = h("div");
      charts.push(new LineChart(host, { start: answer.start, end: answer.end, series: fromQuery(answer.charts[key], (l) => l.container || "task"), height: 180, ...options }));
      return panel(title, host);
    };
    clear(chartBox, 
      h("div.head", h("h2", "Resources"), rangeSelect(range, (value) => { range = value; loadCharts(); }, "While the task ran")),
      h(
        "div.grid.three",
        box("CPU (units, 1024 = one vCPU)", "cpu", { format: (v) => number(v), yMin: 0, label: "CPU units per container" }),
        box("Memory (MiB)", "memory", { format: (v) => number(v), yMin: 0, label: "Memory per container" }),
        box("Network received (bytes/s)", "network", { format: (v) => number(v), yMin: 0, label: "Network received" }),
      ),
    );
  }

  function drawState() {
    const t = state.task;
    const b = state.brief;
    const now = state.now;
    clear(stateBox, 
      h(
        "div.head",
        h(
          "div",
          h("div.crumbs", link("/ui", "Overview"), " / ", state.cluster, b.service ? [" / ", link(serviceHref(serviceArn(t, b.service)), b.service)] : ` / ${b.group || ""}`),
          h("h1", h("span.mono", b.taskId), " ", badge(t.lastStatus), " ", t.healthStatus && t.healthStatus !== "UNKNOWN" ? badge(t.healthStatus) : null),
          h("div.muted.small", `${nameOf(t.taskDefinitionArn)} · desired ${t.desiredStatus} · ${t.launchType || ""} · created ${ago(t.createdAt, now)}`),
          t.stoppedReason ? h("div", { style: { marginTop: "6px" } }, badge(t.stopCode, "err"), " ", t.stoppedReason) : null,
        ),
        h("div.row", link(`/ui/logs?task=${encodeURIComponent(b.taskId)}`, "Telemetry logs"), link(`/ui/traces?attributes=${encodeURIComponent(`aws.ecs.task.id=${b.taskId}`)}`, "Traces")),
      ),
      panel("Containers", containersTable(state.containers), h("h3", "Start order (dependsOn)"), startOrder(state)),
      state.sink && Object.keys(state.sink).length ? panel("Export sink", sinkTable(state.sink)) : null,
      panel("Exec into a container", execBox(state)),
      panel("Timeline", timelineView(state)),
    );
  }

  await loadState();
  await loadCharts();
  timer = setInterval(() => {
    loadCharts();
    // The sink's counters change without a store change; a router task's page refetches them.
    if (state && state.sink && Object.keys(state.sink).length) loadState();
  }, 15000);
  return {
    onChange: (change) => {
      if (change.kinds.includes("*") || (state && change.keys.includes(state.task.taskArn)) || (change.kinds.includes("task") && !change.keys.length)) loadState();
    },
    dispose: () => {
      clearInterval(timer);
      if (controller) controller.abort();
      if (logs) logs.dispose();
      for (const chart of charts) chart.dispose();
    },
  };
}

function serviceArn(task, service) {
  return task.taskArn.replace(":task/", ":service/").replace(/\/[^/]+$/, `/${service}`);
}

function execBox(state) {
  const t = state.task;
  const running = state.containers.filter((c) => c.lastStatus === "RUNNING");
  const target = (running[0] || state.containers[0] || {}).name || "app";
  const command = `ecslite exec ${state.brief.taskId} --cluster ${state.cluster} --container ${target} --region ${state.region} --endpoint ${state.endpoint} -- /bin/sh`;
  return h(
    "div",
    copyBox(command),
    h(
      "p.small.muted",
      t.enableExecuteCommand
        ? "ECS Exec is enabled for this task; the AWS CLI's aws ecs execute-command works too."
        : "This task was started without enableExecuteCommand, so ECS Exec refuses it as ECS would: set it on run-task or update-service --enable-execute-command --force-new-deployment.",
    ),
  );
}

function containersTable(containers) {
  return table(
    [
      { title: "Container", cell: (c) => h("div", h("strong", c.name), c.essential ? null : h("span.small.muted", " (not essential)"), h("div.small.muted.mono", c.image)) },
      { title: "Status", cell: (c) => h("div", badge(c.lastStatus), " ", c.healthStatus && c.healthStatus !== "UNKNOWN" ? badge(c.healthStatus) : null) },
      { title: "Exit code", num: true, cell: (c) => (c.exitCode === null || c.exitCode === undefined ? "–" : h("span", { style: c.exitCode ? { color: "var(--err)", fontWeight: 600 } : null }, String(c.exitCode))) },
      { title: "Reason", cls: "wrap", cell: (c) => h("span.small", c.reason || "") },
      { title: "Depends on", cell: (c) => h("span.small", (c.dependsOn || []).map((d) => `${d.containerName} ${d.condition}`).join(", ") || "–") },
      { title: "Health check", cls: "wrap", cell: (c) => h("span.small.mono", c.healthCheckCommand ? c.healthCheckCommand.join(" ") : "–") },
      { title: "Logs", cell: (c) => h("span.small", c.logs.driver || "none") },
    ],
    containers,
  );
}

// What this task's router sent to ecslite's export sink, the stand-in for its Loki, Tempo and Thanos
// (spec/otel-demo.md §4.2): every output listed, so one that received nothing shows 0.
const SINK_OUTPUTS = [
  ["loki", "Loki push (:3100)"],
  ["otlp/traces", "Tempo, OTLP traces (:4318)"],
  ["otlp/metrics", "OTLP metrics (:4318)"],
  ["otlp/logs", "OTLP logs (:4318)"],
  ["remote_write", "Thanos remote write (:19291)"],
];

function sinkTable(sink) {
  const rows = SINK_OUTPUTS.map(([key, title]) => ({ key, title, ...(sink[key] || { requests: 0, records: 0, rejected: 0, bytes: 0, errors: 0 }) }));
  return h(
    "div",
    table(
      [
        { title: "Output", cell: (r) => h("span", r.title) },
        { title: "Requests", num: true, cell: (r) => number(r.requests, 0) },
        { title: "Records", num: true, cell: (r) => number(r.records, 0) },
        { title: "Rejected", num: true, cell: (r) => number(r.rejected, 0) },
        { title: "Bytes", num: true, cell: (r) => number(r.bytes, 0) },
        { title: "Errors", num: true, cell: (r) => (r.errors ? h("span", { style: { color: "var(--err)", fontWeight: 600 } }, String(r.errors)) : "0") },
        { title: "Last error", cls: "wrap", cell: (r) => h("span.small.mono", r.lastError || "") },
      ],
      rows,
    ),
    h("p.small.muted", "Checked and answered as the backend would, then dropped: every record was already stored from the router's inputs."),
  );
}

function startOrder(state) {
  const layers = state.startOrder;
  const parts = [];
  layers.forEach((layer, i) => {
    if (i) parts.push(h("span.arrow", "→"));
    parts.push(h("div.layer", layer.map((name) => h("span.node", name))));
  });
  return h("div.deps", parts);
}

function timelineView(state) {
  const t = state.task;
  const marks = state.timeline;
  const end = t.stoppedAt || state.now;
  const start = t.createdAt || (marks[0] && marks[0].at) || end - 1;
  const span = Math.max(end - start, 0.001);
  const pos = (at) => `${(100 * (at - start)) / span}%`;
  const lanes = state.containers.map((c) => {
    const from = c.startedAt;
    const to = c.finishedAt || (c.lastStatus === "STOPPED" ? end : state.now);
    const failed = c.exitCode !== null && c.exitCode !== undefined && c.exitCode !== 0;
    return h(
      "div.lane",
      h("span.mono", c.name),
      h(
        "div.track",
        from
          ? h("div.bar", { class: failed ? "failed" : c.lastStatus === "STOPPED" ? "stopped" : null, style: { left: pos(from), width: `calc(${pos(Math.max(to, from))} - ${pos(from)})` }, title: `${c.name}: ${dateTime(from)} → ${c.finishedAt ? dateTime(c.finishedAt) : "running"}` })
          : h("span.small.muted", { style: { paddingLeft: "6px" } }, "never started"),
      ),
    );
  });
  const taskMarks = marks.filter((m) => !m.container);
  return h(
    "div",
    h("div.timeline", h("div.lane", h("span", "task"), h("div.track", taskMarks.map((m) => h("div.tick", { style: { left: pos(m.at) }, title: `${m.what} ${dateTime(m.at)}` })))), lanes),
    h("div.small.muted", `${dateTime(start)} → ${t.stoppedAt ? dateTime(t.stoppedAt) : "now"} (${micros(span * 1e6)})`),
    h(
      "div.grid.two",
      h("div", h("h3", "Timestamps"), kv(marks.map((m) => [m.container ? `${m.container} ${m.what}` : m.what, `${stamp(m.at)}  (+${micros((m.at - start) * 1e6)})`]))),
      h("div", h("h3", "Metadata"), metadata(t)),
    ),
  );
}

// Tasks a schedule or rule started link back to it on their cluster's page (startedBy
// chronos-schedule/<name> or events-rule/<name>, control/ecs_run_target.py).
function startedByCell(t) {
  const found = /^(chronos-schedule|events-rule)\/(.+)$/.exec(t.startedBy || "");
  if (!found) return t.startedBy;
  const kind = found[1] === "chronos-schedule" ? "schedule" : "rule";
  const href = `/ui/cluster?arn=${encodeURIComponent(t.clusterArn)}#${scheduleAnchor(kind, found[2])}`;
  return link(href, t.startedBy, { class: "scheduled-by" });
}

function metadata(t) {
  return kv([
      ["taskArn", t.taskArn],
      ["clusterArn", t.clusterArn],
      ["taskDefinitionArn", t.taskDefinitionArn],
      ["group", t.group],
      ["startedBy", startedByCell(t)],
      ["launchType", t.launchType],
      ["platformVersion", t.platformVersion],
      ["cpu / memory", `${t.cpu || "–"} / ${t.memory || "–"}`],
      ["availabilityZone", t.availabilityZone],
      ["connectivity", t.connectivity],
      ["privateIPv4Address", eniDetail(t, "privateIPv4Address")],
      ["privateDnsName", eniDetail(t, "privateDnsName")],
      ["enableExecuteCommand", String(!!t.enableExecuteCommand)],
      ["version", String(t.version ?? "")],
      ["tags", (t.tags || []).map((tag) => `${tag.key}=${tag.value}`).join(", ")],
  ]);
}

function eniDetail(task, name) {
  for (const attachment of task.attachments || []) {
    for (const d of attachment.details || []) if (d.name === name) return d.value;
  }
  return "";
}

// The logs of one container at a time: awslogs through GetLogEvents (polled with its forward token),
// anything else through the runtime's output record, followed as NDJSON while the container runs.
class Logs {
  constructor(host, state) {
    this.host = host;
    this.state = state;
    this.selected = (state.containers.find((c) => c.logs.kind === "awslogs") || state.containers[0] || {}).name;
    this.tail = true;
    this.draw();
  }

  update(state) {
    const was = this.state;
    this.state = state;
    const before = was.containers.find((c) => c.name === this.selected);
    const after = state.containers.find((c) => c.name === this.selected);
    if (!this.reader && after && before && before.logs.kind !== after.logs.kind) this.open();
  }

  draw() {
    const containers = this.state.containers;
    this.list = h("div.loglines.compact", { role: "log", "aria-live": "off", tabindex: "0" });
    this.note = h("div.small.muted");
    const tabs = h(
      "div.tabs",
      { role: "tablist" },
      containers.map((c) =>
        h("button", { type: "button", role: "tab", "aria-selected": String(c.name === this.selected), on: { click: () => { this.selected = c.name; this.draw(); } } }, c.name),
      ),
    );
    const tail = h("label.small", h("input", { type: "checkbox", checked: this.tail, on: { change: (e) => { this.tail = e.target.checked; this.open(); } } }), " Live tail");
    clear(this.host, panel("Logs", h("div.row", tabs, tail), this.note, this.list));
    this.open();
  }

  stop() {
    if (this.abort) this.abort.abort();
    this.abort = null;
    clearTimeout(this.poll);
    this.reader = null;
  }

  open() {
    this.stop();
    clear(this.list);
    const container = this.state.containers.find((c) => c.name === this.selected);
    if (!container) return;
    this.abort = new AbortController();
    if (container.logs.kind === "awslogs") {
      this.note.textContent = `awslogs: ${container.logs.group} / ${container.logs.stream} (${container.logs.region}) — aws logs tail ${container.logs.group} --follow`;
      this.pollAwslogs(null, this.abort.signal);
    } else if (!this.state.outputKept) {
      this.note.textContent = `The ${container.logs.driver || "default"} log driver sends this container's output elsewhere, and this runtime keeps no copy. FireLens and OTLP records are under Telemetry logs.`;
    } else {
      this.note.textContent = `${container.logs.driver ? `${container.logs.driver} log driver; ` : ""}the container's output as the runtime recorded it.`;
      this.follow(container, this.abort.signal);
    }
  }

  add(lines) {
    const atBottom = this.list.scrollTop + this.list.clientHeight >= this.list.scrollHeight - 8;
    const fragment = document.createDocumentFragment();
    for (const line of lines) {
      fragment.append(
        h("div.line", { class: line.source === "stderr" ? "stderr" : null }, h("span.src", { title: dateTime(line.timestamp / 1000) }, stamp(line.timestamp / 1000)), h("span.src", line.source || ""), h("span.body", line.message)),
      );
    }
    this.list.append(fragment);
    while (this.list.childElementCount > 5000) this.list.firstElementChild.remove();
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  async pollAwslogs(token, signal) {
    try {
      const answer = await api("/ui/api/task/logs", { id: this.state.brief.taskId, container: this.selected, token }, signal);
      if (signal.aborted) return;
      if (answer.gone) {
        // The group was deleted (by hand or by a rollback) after the container started: its output as the runtime kept it.
        clear(this.list);
        this.note.textContent = `log group ${answer.group} is gone; showing ecslite's own copy of the container's output`;
        const container = this.state.containers.find((c) => c.name === this.selected);
        if (container) this.follow(container, signal);
        return;
      }
      this.add(answer.events.map((e) => ({ timestamp: e.timestamp, source: "", message: e.message })));
      if (!this.list.childElementCount && !token) this.list.append(h("div.muted.pad", "No output yet."));
      if (this.tail) this.poll = setTimeout(() => this.pollAwslogs(answer.next, signal), 1000);
    } catch (error) {
      if (error.name !== "AbortError") this.note.textContent = error.message;
    }
  }

  async follow(container, signal) {
    const url = `/_ecslite/tasks/${encodeURIComponent(this.state.brief.taskId)}/containers/${encodeURIComponent(container.name)}/output${this.tail ? "?follow=1" : ""}`;
    try {
      const response = await fetch(url, { signal });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        this.note.textContent = body.message || `HTTP ${response.status}`;
        return;
      }
      this.reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let seen = false;
      for (;;) {
        const { value, done } = await this.reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        const parts = buffer.split("\n");
        buffer = parts.pop();
        const records = parts.filter(Boolean).map((p) => JSON.parse(p));
        if (records.length) {
          seen = true;
          this.add(records);
        }
      }
      if (!seen) this.list.append(h("div.muted.pad", "No output."));
    } catch (error) {
      if (error.name !== "AbortError") this.note.textContent = error.message;
    }
  }

  dispose() {
    this.stop();
  }
}
