// One trace: a waterfall of its spans with the trace's logs interleaved under their spans, errors
// highlighted, and the selected span's details (attributes, events, links, resource). The waterfall
// renders only the rows in view, so traces of thousands of spans scroll smoothly. One request.

import {
  h, clear, add, api, errorBox, badge, kv, micros, dateTime, traceHref, palette, link, table } from "../util.js";

const ROW = 24;
const OVERSCAN = 12;

export async function render(main, query, [id]) {
  let trace;
  try {
    trace = await api(`/ui/api/traces/${encodeURIComponent(id)}`);
  } catch (error) {
    add(main, 
      h("div.head", h("div", h("div.crumbs", link("/ui/traces", "Traces")), h("h1.mono", id))),
      errorBox(error),
    );
    return {};
  }
  const view = new Waterfall(trace);
  add(main, view.root);
  view.start();
  return { dispose: () => view.dispose() };
}

// Rows in display order: each span after its parent (children by start time), the span's logs
// right after it, and logs that name no span of this trace at the end.
export function buildRows(trace, collapsed) {
  const byId = new Map(trace.spans.map((s) => [s.spanId, s]));
  const children = new Map();
  const roots = [];
  for (const span of trace.spans) {
    if (span.parentId && byId.has(span.parentId) && span.parentId !== span.spanId) {
      if (!children.has(span.parentId)) children.set(span.parentId, []);
      children.get(span.parentId).push(span);
    } else roots.push(span);
  }
  const logsBySpan = new Map();
  const orphanLogs = [];
  for (const line of trace.logs) {
    if (line.spanId && byId.has(line.spanId)) {
      if (!logsBySpan.has(line.spanId)) logsBySpan.set(line.spanId, []);
      logsBySpan.get(line.spanId).push(line);
    } else orphanLogs.push(line);
  }
  const byStart = (a, b) => a.start - b.start;
  roots.sort(byStart);
  const rows = [];
  const stack = roots.slice().reverse().map((span) => [span, 0]);
  while (stack.length) {
    const [span, depth] = stack.pop();
    const kids = (children.get(span.spanId) || []).sort(byStart);
    rows.push({ span, depth, kids: kids.length });
    if (collapsed.has(span.spanId)) continue;
    for (const line of logsBySpan.get(span.spanId) || []) rows.push({ log: line, depth: depth + 1 });
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], depth + 1]);
  }
  for (const line of orphanLogs) rows.push({ log: line, depth: 0 });
  return rows;
}

// The duration label goes after the bar, before it when the bar ends near the right edge, or
// inside it when the bar is too wide for either.
function durationInside(left, width) {
  return left + width > 80 && left < 12;
}

function durationPlace(left, width) {
  if (left + width <= 80) return { left: `calc(${left + width}% + 4px)` };
  if (durationInside(left, width)) return { left: `calc(${left}% + 6px)` };
  return { right: `calc(${100 - left}% + 4px)` };
}

class Waterfall {
  constructor(trace) {
    this.trace = trace;
    this.collapsed = new Set();
    this.total = Math.max(trace.durationUs, 1);
    const services = [...new Set(trace.spans.map((s) => s.service))];
    const colors = palette();
    this.colors = new Map(services.map((s, i) => [s, colors[i % colors.length]]));
    this.selected = null;
    this.rows = buildRows(trace, this.collapsed);
    const root = trace.spans.find((s) => !s.parentId) || trace.spans[0];
    const errors = trace.spans.filter((s) => s.status === "error").length;
    this.scroller = h("div.wf", { tabindex: "0", role: "tree", "aria-label": "Spans of the trace" });
    this.inner = h("div.wf-rows");
    this.scroller.append(this.inner);
    this.detail = h("div.detail");
    this.root = h(
      "div",
      h(
        "div.head",
        h(
          "div",
          h("div.crumbs", link("/ui/traces", "Traces")),
          h("h1", `${root.service}: ${root.name}`, " ", errors ? badge(`${errors} error${errors > 1 ? "s" : ""}`, "err") : null),
          h("div.small.muted.mono", `trace ${trace.traceId} · ${dateTime(trace.startMs / 1000)} · ${micros(trace.durationUs)} · ${trace.spans.length} spans · ${trace.logs.length} log lines`),
        ),
        h("div.row", link(`/ui/logs?traceId=${trace.traceId}&range=24h`, "Logs of this trace")),
      ),
      h("div.legend", [...this.colors].map(([service, color]) => h("span", h("i", { style: { background: color, height: "8px" } }), service))),
      h(
        "section.panel",
        h("div.wf-head", h("span", "Span"), h("div.wf-ticks", [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", { style: f === 1 ? { right: "0", transform: "none" } : { left: `${f * 100}%`, transform: f ? "translateX(-50%)" : "none" } }, micros(this.total * f))))),
        this.scroller,
        this.detail,
      ),
      trace.logs.length ? h("section.panel", h("h2", "Logs of this trace"), this.logList(trace.logs)) : null,
    );
  }

  start() {
    this.scroller.addEventListener("scroll", () => this.schedule());
    this.scroller.addEventListener("keydown", (e) => this.key(e));
    this.inner.addEventListener("click", (e) => {
      const row = e.target.closest(".wf-row");
      if (!row || row.dataset.index === undefined) return;
      const item = this.rows[Number(row.dataset.index)];
      if (!item.span) return;
      if (e.target.classList.contains("tw") && item.kids) this.toggle(item.span.spanId);
      else this.select(Number(row.dataset.index));
    });
    this.resize = new ResizeObserver(() => this.schedule());
    this.resize.observe(this.scroller);
    const firstError = this.rows.findIndex((r) => r.span && r.span.status === "error");
    this.paint();
    this.select(firstError >= 0 ? firstError : 0, true);
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.paint();
    });
  }

  paint() {
    // As tall as the rows up to 560 px; the rows beyond scroll (and are drawn only when in view).
    this.scroller.style.height = `${Math.min(560, this.rows.length * ROW + 2)}px`;
    const height = this.scroller.clientHeight || 560;
    this.inner.style.height = `${this.rows.length * ROW}px`;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((this.scroller.scrollTop + height) / ROW) + OVERSCAN);
    const fragment = document.createDocumentFragment();
    for (let i = first; i < last; i++) fragment.append(this.row(i));
    clear(this.inner, fragment);
  }

  row(index) {
    const item = this.rows[index];
    const top = `${index * ROW}px`;
    const indent = `${item.depth * 14}px`;
    if (item.log) {
      const line = item.log;
      return h(
        "div.wf-row.log",
        { style: { top }, dataset: { index: String(index) }, title: line.body },
        h("div.wf-name", h("span", { style: { paddingLeft: indent } }, "↳ "), h("span", { class: `lvl-${line.level}` }, (line.level || "log").toUpperCase()), ` ${line.body}`),
        h("div.wf-bar-cell", h("span.wf-evt", { style: { left: `${(100 * line.offset) / this.total}%`, background: "var(--muted)" } })),
      );
    }
    const span = item.span;
    const left = (100 * span.start) / this.total;
    const width = Math.max((100 * span.duration) / this.total, 0.15);
    const error = span.status === "error";
    return h(
      "div.wf-row",
      {
        class: `${error ? "err" : ""}${this.selected === index ? " sel" : ""}`,
        style: { top },
        dataset: { index: String(index), span: span.spanId },
        role: "treeitem",
        "aria-selected": String(this.selected === index),
        "aria-expanded": item.kids ? String(!this.collapsed.has(span.spanId)) : null,
      },
      h(
        "div.wf-name",
        { style: { paddingLeft: indent } },
        h("span.tw", item.kids ? (this.collapsed.has(span.spanId) ? "▸" : "▾") : ""),
        h("span.svc", { style: { color: this.colors.get(span.service) } }, span.service),
        " ",
        span.name,
        error ? " ⚠" : "",
      ),
      h(
        "div.wf-bar-cell",
        h("div.wf-bar", { class: error ? "err" : null, style: { left: `${left}%`, width: `${width}%`, background: this.colors.get(span.service) } }),
        span.events.map((e) =>
          h("span.wf-evt", { class: e.name === "exception" ? "exc" : null, style: { left: `${(100 * e.time) / this.total}%` }, title: e.name }),
        ),
        h("span.wf-dur", { class: durationInside(left, width) ? "in" : null, style: durationPlace(left, width) }, micros(span.duration)),
      ),
    );
  }

  toggle(spanId) {
    const selectedSpan = this.selected !== null && this.rows[this.selected] ? this.rows[this.selected].span : null;
    if (this.collapsed.has(spanId)) this.collapsed.delete(spanId);
    else this.collapsed.add(spanId);
    this.rows = buildRows(this.trace, this.collapsed);
    if (selectedSpan) this.selected = this.rows.findIndex((r) => r.span === selectedSpan);
    this.paint();
  }

  select(index, scroll) {
    if (index < 0 || index >= this.rows.length || !this.rows[index].span) return;
    this.selected = index;
    if (scroll || index * ROW < this.scroller.scrollTop || (index + 1) * ROW > this.scroller.scrollTop + this.scroller.clientHeight) {
      this.scroller.scrollTop = Math.max(0, index * ROW - this.scroller.clientHeight / 3);
    }
    this.paint();
    this.showDetail(this.rows[index].span);
  }

  key(event) {
    const move = (step) => {
      let i = this.selected === null ? 0 : this.selected + step;
      while (i >= 0 && i < this.rows.length && !this.rows[i].span) i += step;
      if (i >= 0 && i < this.rows.length) this.select(i);
    };
    if (event.key === "ArrowDown" || event.key === "j") move(1);
    else if (event.key === "ArrowUp" || event.key === "k") move(-1);
    else if ((event.key === "Enter" || event.key === " ") && this.selected !== null && this.rows[this.selected].kids) this.toggle(this.rows[this.selected].span.spanId);
    else if (event.key === "Home") this.select(0);
    else return;
    event.preventDefault();
  }

  showDetail(span) {
    const resource = this.trace.resources[span.resource] || {};
    const logs = this.trace.logs.filter((l) => l.spanId === span.spanId);
    clear(this.detail, 
      h("h2", span.name, " ", badge(span.kind, "info"), " ", badge(span.status, span.status === "error" ? "err" : span.status === "ok" ? "ok" : "")),
      span.statusMessage ? h("div.error-box", span.statusMessage) : null,
      kv([
        ["service", span.service],
        ["span id", span.spanId],
        ["parent span id", span.parentId || "(root)"],
        ["start", `+${micros(span.start)} (${dateTime((this.trace.startMs + span.start / 1000) / 1000)})`],
        ["duration", micros(span.duration)],
        ["scope", `${span.scope.name}${span.scope.version ? ` ${span.scope.version}` : ""}`],
      ]),
      h("div.grid.two", h("div", h("h3", "Attributes"), attributes(span.attributes)), h("div", h("h3", "Resource"), attributes(resource))),
      h("h3", `Events (${span.events.length})`),
      span.events.length
        ? span.events.map((e) =>
            h("div", { style: { marginBottom: "8px" } }, h("strong", { style: e.name === "exception" ? { color: "var(--err)" } : null }, e.name), h("span.muted.small", ` +${micros(e.time)}`), e.attributes["exception.stacktrace"] ? h("pre", e.attributes["exception.stacktrace"]) : null, attributes(Object.fromEntries(Object.entries(e.attributes).filter(([k]) => k !== "exception.stacktrace")))),
          )
        : h("p.muted.small", "No events."),
      h("h3", `Links (${span.links.length})`),
      span.links.length
        ? h("ul", span.links.map((l) => h("li", link(traceHref(l.traceId), `trace ${l.traceId}`), ` span ${l.spanId}`, Object.keys(l.attributes).length ? attributes(l.attributes) : null)))
        : h("p.muted.small", "No links."),
      h("h3", `Logs of this span (${logs.length})`),
      logs.length ? this.logList(logs) : h("p.muted.small", "No log record names this span."),
    );
  }

  logList(lines) {
    return h(
      "div.loglines",
      lines.map((l) =>
        h(
          "div.line",
          h("span.src", `+${micros(l.offset)}`),
          h("span", { class: `lvl-${l.level}` }, (l.level || "").toUpperCase()),
          h("span.src", l.service + (l.container ? `/${l.container}` : "")),
          h("span.body", l.body),
          h("span.src", l.spanId ? l.spanId.slice(0, 8) : ""),
        ),
      ),
    );
  }

  dispose() {
    if (this.resize) this.resize.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}

function attributes(values) {
  const entries = Object.entries(values || {});
  if (!entries.length) return h("p.muted.small", "None.");
  return table(
    [
      { title: "Key", cls: "mono small", cell: ([k]) => k },
      { title: "Value", cls: "mono small wrap", cell: ([, v]) => (typeof v === "object" ? JSON.stringify(v) : String(v)) },
    ],
    entries.sort(([a], [b]) => a.localeCompare(b)),
  );
}
