// Service map: nodes are span services (and ECS services without spans), edges are calls with rate,
// error ratio and p95 from the service-graph metrics; nodes are grouped by task family. Clicking an
// edge opens the traces holding that call. One request (/ui/api/map).

import {
  h, clear, add, api, errorBox, emptyState, rangeSelect, table, link, rate, percent, seconds, serviceHref } from "../util.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 178;
const NODE_H = 60;
const COL = 330;
const ROW = 92;
const MARGIN = 36;

export async function render(main, query) {
  let range = query.get("range") || "15m";
  const root = h("div");
  add(main, root);
  let timer = null;

  async function load() {
    let data;
    try {
      data = await api("/ui/api/map", { range });
    } catch (error) {
      clear(root, errorBox(error));
      return;
    }
    draw(data);
  }

  function draw(data) {
    const head = h(
      "div.head",
      h("div", h("h1", "Service map"), h("div.muted.small", "Calls between services in the range, from traces, with their rate, error ratio and p95 latency. Click an edge for its traces, a node for its ECS service.")),
      rangeSelect(range, (value) => { range = value; load(); }),
    );
    clear(root, head);
    if (!data.edges.length && !data.nodes.some((n) => n.kind !== "ecs")) {
      add(root, 
        emptyState(
          "No calls seen yet",
          "Edges appear when services send spans: a CLIENT span in one service and the SERVER span it called in another, or a client span naming db.system or peer.service. ecslite adds the ECS task's attributes to everything a task sends to its OTLP listener.",
          ["ecslite up examples/otel-demo", `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_SERVICE_NAME=my-app python app.py`],
        ),
      );
      if (data.nodes.length) add(root, h("section.panel", h("h2", "ECS services"), h("p.muted", data.nodes.map((n) => n.ecsService).join(", "))));
      return;
    }
    add(root, h("div.map-wrap", mapSvg(data)), h("section.panel", h("h2", "Edges"), edgesTable(data)));
  }

  await load();
  timer = setInterval(load, 15000);
  return { dispose: () => clearInterval(timer) };
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function edgeHref(edge) {
  return `/ui/traces?edge=${encodeURIComponent(`${edge.client}>${edge.server}`)}`;
}

// Longest-path layers from the sources; cycles are cut by visiting each node at most n times.
function layers(nodes, edges) {
  const layer = new Map(nodes.map((n) => [n.id, 0]));
  const incoming = new Map(nodes.map((n) => [n.id, 0]));
  for (const e of edges) incoming.set(e.server, (incoming.get(e.server) || 0) + 1);
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const e of edges) {
      if (e.client === e.server) continue;
      const want = layer.get(e.client) + 1;
      if (want > layer.get(e.server) && want < nodes.length) {
        layer.set(e.server, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return layer;
}

// Columns by call depth (callers left of callees); in a column, nodes of one task family together.
// Columns are centred on the tallest, so a chain of calls reads as a straight line.
function layout(data) {
  const nodes = data.nodes;
  const layer = layers(nodes, data.edges);
  const columns = new Map();
  for (const n of nodes) {
    const l = layer.get(n.id);
    if (!columns.has(l)) columns.set(l, []);
    columns.get(l).push(n);
  }
  const tallest = Math.max(1, ...[...columns.values()].map((list) => list.length));
  const place = new Map();
  for (const [l, list] of columns) {
    list.sort((a, b) => (a.family || "~").localeCompare(b.family || "~") || a.id.localeCompare(b.id));
    const top = MARGIN + ((tallest - list.length) * ROW) / 2;
    list.forEach((n, i) => place.set(n.id, { x: MARGIN + l * COL, y: top + i * ROW }));
  }
  const maxLayer = Math.max(0, ...layer.values());
  return { place, width: MARGIN * 2 + maxLayer * COL + NODE_W, height: MARGIN * 2 + (tallest - 1) * ROW + NODE_H + 40 };
}

function mapSvg(data) {
  const { place, width, height } = layout(data);
  const root = svg("svg", { class: "map", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Service map" });
  add(root, 
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M 0 0 L 10 5 L 0 10 z" }))),
  );
  for (const e of data.edges) {
    const a = place.get(e.client);
    const b = place.get(e.server);
    if (!a || !b) continue;
    let d;
    let lx;
    let ly;
    if (b.x > a.x) {
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x - 2;
      const y2 = b.y + NODE_H / 2;
      const c = (x2 - x1) / 2;
      d = `M ${x1} ${y1} C ${x1 + c} ${y1}, ${x2 - c} ${y2}, ${x2} ${y2}`;
      lx = (x1 + x2) / 2;
      ly = (y1 + y2) / 2 - 6;
    } else {
      // A call back to an earlier or the same column goes around below the nodes.
      const x1 = a.x + NODE_W / 2;
      const y1 = a.y + NODE_H;
      const x2 = b.x + NODE_W / 2 + 10;
      const y2 = b.y + NODE_H + 2;
      d = `M ${x1} ${y1} C ${x1} ${y1 + 50}, ${x2} ${y2 + 50}, ${x2} ${y2}`;
      lx = (x1 + x2) / 2;
      ly = Math.max(y1, y2) + 40;
    }
    const label = `${rate(e.rate)} · ${percent(e.errorRatio)} err · p95 ${seconds(e.p95)}`;
    const anchor = svg(
      "a",
      { href: edgeHref(e), class: `edge${e.errorRatio > 0 ? " err" : ""}`, "data-edge": `${e.client}>${e.server}`, "aria-label": `${e.client} calls ${e.server}: ${label}` },
      svg("title", {}, `${e.client} → ${e.server}${e.connectionType ? ` (${e.connectionType})` : ""}\n${label}\n${e.requests} requests, ${e.failed} failed`),
      svg("path", { d, class: "hit" }),
      svg("path", { d, "marker-end": "url(#arrow)" }),
      svg("text", { x: lx, y: ly - 13, "text-anchor": "middle" }, `${rate(e.rate)} · ${percent(e.errorRatio)} err`),
      svg("text", { x: lx, y: ly, "text-anchor": "middle" }, `p95 ${seconds(e.p95)}`),
    );
    add(root, anchor);
  }
  for (const n of data.nodes) {
    const p = place.get(n.id);
    const hot = n.errorRatio > 0.05;
    const href = n.serviceArn ? serviceHref(n.serviceArn) : n.kind === "service" ? `/ui/traces?service=${encodeURIComponent(n.id)}` : null;
    const label = n.kind === "ecs" ? n.ecsService : n.id;
    const owner = n.ecsService ? `ECS ${n.cluster}/${n.ecsService}` : n.kind === "service" ? "not an ECS service" : n.kind;
    const sub = n.kind === "service" ? `${rate(n.rate)} · ${percent(n.errorRatio)} errors` : n.kind === "ecs" ? "no spans yet" : "";
    const body = [
      svg("title", {}, `${n.id}${n.ecsService ? `\nECS service ${n.cluster}/${n.ecsService}` : ""}${n.family ? `\ntask family ${n.family}` : ""}`),
      svg("rect", { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: n.kind === "user" ? 24 : 7 }),
      svg("text", { x: p.x + 10, y: p.y + 19 }, label.length > 24 ? label.slice(0, 23) + "…" : label),
      svg("text", { x: p.x + 10, y: p.y + 35, class: "sub" }, owner.length > 30 ? owner.slice(0, 29) + "…" : owner),
      svg("text", { x: p.x + 10, y: p.y + 50, class: "sub" }, sub),
    ];
    const cls = `node ${n.kind}${hot ? " hot" : ""}`;
    add(root, href ? svg("a", { href, class: cls, "data-node": n.id }, body) : svg("g", { class: cls, "data-node": n.id }, body));
  }
  return root;
}

function edgesTable(data) {
  return table(
    [
      { title: "Client", cell: (e) => e.client },
      { title: "Server", cell: (e) => h("span", e.server, e.connectionType ? h("span.small.muted", ` ${e.connectionType}`) : null) },
      { title: "Requests", num: true, cell: (e) => String(Math.round(e.requests)) },
      { title: "Rate", num: true, cell: (e) => rate(e.rate) },
      { title: "Errors", num: true, cell: (e) => h("span", { style: e.failed ? { color: "var(--err)", fontWeight: 600 } : null }, percent(e.errorRatio)) },
      { title: "p50", num: true, cell: (e) => seconds(e.p50) },
      { title: "p95", num: true, cell: (e) => seconds(e.p95) },
      { title: "p99", num: true, cell: (e) => seconds(e.p99) },
      { title: "", cell: (e) => link(edgeHref(e), "traces") },
    ],
    data.edges,
  );
}
