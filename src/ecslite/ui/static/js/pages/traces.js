// Trace search: by service, operation, duration, status, attributes and time; lookup by a W3C or
// X-Ray id; the edge filter the service map links to. Two requests: the pickers' values and the search.

import {
  h, clear, add, api, errorBox, emptyState, badge, table, link, micros, dateTime, traceHref, RANGES } from "../util.js";
import { navigate } from "../nav.js";

const FIELDS = ["service", "operation", "minDuration", "maxDuration", "status", "attributes", "range", "edge"];
const TRACE_ID = /^(?:[0-9a-fA-F]{32}|1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24})$/;

export async function render(main, query) {
  const values = Object.fromEntries(FIELDS.map((f) => [f, query.get(f) || ""]));
  if (!values.range) values.range = "1h";
  const results = h("div");
  const catalog = await api("/ui/api/catalog").catch(() => ({ spanServices: [], operations: [] }));
  const form = searchForm(values, catalog);
  const lookup = lookupForm();
  add(main, 
    h("div.head", h("div", h("h1", "Traces"), h("div.muted.small", "Newest first. Every filter must hold for one span of the trace.")), lookup),
    values.edge ? h("p", "Calls from ", h("strong", values.edge.split(">")[0]), " to ", h("strong", values.edge.split(">")[1] || ""), " ", link("/ui/traces", "clear")) : null,
    form,
    results,
  );
  await search(values, results);
  return {};
}

function searchForm(values, catalog) {
  const field = (label, control) => h("label.field", label, control);
  const input = (name, attrs) => h("input", { name, value: values[name], ...attrs });
  const form = h(
    "form.filters",
    { role: "search" },
    field("Service", h("select", { name: "service" }, h("option", { value: "" }, "any"), catalog.spanServices.map((s) => h("option", { value: s, selected: s === values.service }, s)))),
    field("Operation", input("operation", { list: "operations", placeholder: "span name", size: 18 })),
    h("datalist#operations", catalog.operations.map((o) => h("option", { value: o }))),
    field("Min duration (ms)", input("minDuration", { type: "number", min: 0, step: "any", size: 6 })),
    field("Max duration (ms)", input("maxDuration", { type: "number", min: 0, step: "any", size: 6 })),
    field("Status", h("select", { name: "status" }, ["", "error", "ok", "unset"].map((s) => h("option", { value: s, selected: s === values.status }, s || "any")))),
    field("Attributes", input("attributes", { placeholder: "http.route=/orders key=value", size: 26, "data-search": "" })),
    field("Time", h("select", { name: "range" }, RANGES.map(([v, t]) => h("option", { value: v, selected: v === values.range }, `Last ${t}`)))),
    values.edge ? h("input", { type: "hidden", name: "edge", value: values.edge }) : null,
    h("button.primary", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
    navigate(`/ui/traces?${params}`);
  });
  return form;
}

function lookupForm() {
  const input = h("input", { name: "traceId", placeholder: "Trace id: 32 hex digits or 1-…-…", size: 38, "aria-label": "Trace id" });
  const note = h("div.small", { style: { color: "var(--err)" } });
  const form = h("form.row", input, h("button", { type: "submit" }, "Open"), note);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = input.value.trim();
    if (!TRACE_ID.test(id)) {
      note.textContent = "Give a W3C trace id (32 hex digits) or an X-Ray id (1-5759e988-bd862e3fe1be46a994272793).";
      return;
    }
    navigate(traceHref(id));
  });
  return form;
}

async function search(values, results) {
  clear(results, h("p.muted", "Searching…"));
  let answer;
  try {
    answer = await api("/ui/api/traces", { ...values, limit: 100 });
  } catch (error) {
    clear(results, errorBox(error));
    return;
  }
  const traces = answer.traces;
  clear(results);
  if (!traces.length) {
    const filtered = FIELDS.some((f) => f !== "range" && values[f]);
    add(results, 
      filtered
        ? h("p.muted", "No trace matches these filters in this time range.")
        : emptyState(
            "No traces yet",
            "Send spans over OTLP: tasks reach ecslite at localhost:4317/4318 inside their network, programs on this machine at the --otlp-http-port / --otlp-grpc-port of the server (4318 and 4317 by default).",
            ["ecslite up examples/otel-demo", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_SERVICE_NAME=my-app opentelemetry-instrument python app.py"],
          ),
    );
    return;
  }
  const longest = Math.max(...traces.map((t) => t.durationMs), 0.001);
  add(results, 
    h("section.panel",
      h("h2", `${traces.length} traces`),
      table(
        [
          { title: "Started", cell: (t) => h("span.small.nowrap", dateTime(t.startMs / 1000)) },
          {
            title: "Trace",
            cell: (t) => h("div", link(traceHref(t.traceId), `${t.rootService}: ${t.rootName}`, { "data-trace": t.traceId }), h("div.small.muted.mono", t.traceId)),
          },
          {
            title: "Duration",
            cell: (t) => h("div", { style: { minWidth: "160px" } }, h("div.small", micros(t.durationMs * 1000)), h("div.progress", h("i", { style: { width: `${(100 * t.durationMs) / longest}%`, background: t.errors ? "var(--err)" : "var(--c1)" } }))),
          },
          { title: "Spans", num: true, cell: (t) => String(t.spans) },
          { title: "Errors", cell: (t) => (t.errors ? badge(`${t.errors} error${t.errors > 1 ? "s" : ""}`, "err") : h("span.muted", "–")) },
          { title: "Services", cls: "wrap", cell: (t) => h("span.small", t.services.join(", ")) },
        ],
        traces,
      ),
    ),
  );
}
