// Metrics: a PromQL box over the telemetry store (the same engine as /prometheus), drawn as a
// time-series chart with a table of the series' last, minimum and maximum values, and saved views
// for the built-in metrics. The query and range live in the URL, so a view can be shared or bookmarked.
// Two requests: the metric names (for completion) and the range query.

import { h, clear, add, api, errorBox, table, number, rangeSelect, copyBox } from "../util.js";
import { LineChart, fromQuery, seriesName } from "../plot.js";
import { navigate } from "../nav.js";

const CALLEE = 'span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"';

// [group, title, query, unit]: the built-in series of spec/telemetry.md §9.1–§9.3.
export const VIEWS = [
  ["RED per service", "Requests per second", `sum by (service) (rate(traces_spanmetrics_calls_total{${CALLEE}}[1m]))`, "rate"],
  ["RED per service", "Error ratio", `sum by (service) (rate(traces_spanmetrics_calls_total{${CALLEE}, status_code="STATUS_CODE_ERROR"}[1m])) / sum by (service) (rate(traces_spanmetrics_calls_total{${CALLEE}}[1m]))`, "ratio"],
  ["RED per service", "Latency p95", `histogram_quantile(0.95, sum by (service, le) (rate(traces_spanmetrics_latency_bucket{${CALLEE}}[1m])))`, "seconds"],
  ["RED per service", "Calls between services", "sum by (client, server) (rate(traces_service_graph_request_total[1m]))", "rate"],
  ["Containers", "Container CPU (units)", "sum by (task_id, container) (ecs_container_cpu_utilized)", ""],
  ["Containers", "Container memory (MiB)", "sum by (task_id, container) (ecs_container_memory_utilized_mebibytes)", ""],
  ["Containers", "Task CPU % of reservation", "ecs_task_cpu_utilization_percent", "percent"],
  ["Containers", "Task memory % of reservation", "ecs_task_memory_utilization_percent", "percent"],
  ["Containers", "Running tasks per service", "ecs_service_running_tasks", ""],
  ["AWS/ECS", "CPUUtilization per service", 'ecslite_cloudwatch_sample{namespace="AWS/ECS", metric_name="CPUUtilization", ServiceName!=""}', "percent"],
  ["AWS/ECS", "MemoryUtilization per service", 'ecslite_cloudwatch_sample{namespace="AWS/ECS", metric_name="MemoryUtilization", ServiceName!=""}', "percent"],
  ["AWS/ECS", "CPUUtilization per cluster", 'ecslite_cloudwatch_sample{namespace="AWS/ECS", metric_name="CPUUtilization", ServiceName=""}', "percent"],
  ["Scheduled tasks", "Schedule target errors per group (15 min)", 'sum by (ScheduleGroup) (sum_over_time(ecslite_cloudwatch_sample{namespace="AWS/Scheduler", metric_name="TargetErrorCount", ScheduleGroup!=""}[15m]))', ""],
  ["Scheduled tasks", "Rule invocations and failures (15 min)", 'sum by (RuleName, metric_name) (sum_over_time(ecslite_cloudwatch_sample{namespace="AWS/Events", metric_name=~"Invocations|FailedInvocations", RuleName!=""}[15m]))', ""],
];

const FORMATS = {
  rate: (v) => `${number(v)}/s`,
  ratio: (v) => `${number(v * 100, 1)}%`,
  seconds: (v) => `${number(v * 1000, 1)} ms`,
  percent: (v) => `${number(v, 1)}%`,
};

export async function render(main, query) {
  const text = query.get("query") || "";
  const range = query.get("range") || "1h";
  const catalog = await api("/ui/api/catalog").catch(() => ({ metricNames: [] }));
  const box = h("textarea", {
    name: "query",
    rows: 3,
    spellcheck: "false",
    "aria-label": "PromQL query",
    placeholder: "PromQL, for example: sum by (service) (rate(traces_spanmetrics_calls_total[1m]))",
    "data-search": "",
  });
  box.value = text;
  let chosenRange = range;
  const run = () => navigate(`/ui/metrics?${new URLSearchParams({ query: box.value.trim(), range: chosenRange })}`);
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey || !event.shiftKey)) {
      event.preventDefault();
      run();
    }
  });
  const names = h(
    "select",
    { "aria-label": "Insert a metric name", on: { change: (e) => { insert(box, e.target.value); e.target.value = ""; } } },
    h("option", { value: "" }, `Insert a metric (${catalog.metricNames.length})`),
    catalog.metricNames.map((name) => h("option", { value: name }, name)),
  );
  const result = h("div");
  add(
    main,
    h("div.head", h("div", h("h1", "Metrics"), h("div.muted.small", "PromQL over everything ecslite stores: span metrics, container metrics, CloudWatch samples and what your tasks send over OTLP. The same series answer at /prometheus for Grafana."))),
    h(
      "div.metrics-layout",
      h("nav.views.panel", { "aria-label": "Saved views" }, h("h2", "Saved views"), savedViews(text, range)),
      h(
        "div",
        h(
          "form.panel.query",
          { role: "search", on: { submit: (e) => { e.preventDefault(); run(); } } },
          box,
          h(
            "div.row",
            h("button.primary", { type: "submit" }, "Run"),
            h("span.small.muted", "Enter runs, Shift+Enter adds a line"),
            h("span.spacer"),
            names,
            rangeSelect(range, (value) => { chosenRange = value; if (box.value.trim()) run(); }),
          ),
        ),
        result,
      ),
    ),
  );
  if (!text) {
    add(result, h("div.empty", h("h2", "Pick a saved view or type a query"), h("p.muted", "Span metrics appear once services send spans, container metrics once tasks run. Start something to look at:"), copyBox("ecslite up examples/otel-demo")));
    return {};
  }
  const view = VIEWS.find((v) => v[2] === text);
  let chart = null;
  async function load() {
    let answer;
    try {
      answer = await api("/ui/api/metrics", { query: text, range });
    } catch (error) {
      clear(result, errorBox(error));
      return;
    }
    if (chart) chart.dispose();
    const format = (view && FORMATS[view[3]]) || ((v) => number(v));
    const host = h("div");
    const series = fromQuery(answer);
    clear(
      result,
      h("section.panel", h("h2", view ? view[1] : "Result", h("span.small.muted", ` ${series.length} series · step ${answer.step / 1000} s`)), host),
      h("section.panel", h("h2", "Series"), seriesTable(answer.series, format)),
    );
    chart = new LineChart(host, { start: answer.start, end: answer.end, series, format, height: 300, label: view ? view[1] : "Query result", empty: "The query returned no samples in this range." });
  }
  await load();
  const timer = setInterval(load, 15000);
  return { dispose: () => { clearInterval(timer); if (chart) chart.dispose(); } };
}

function insert(box, name) {
  if (!name) return;
  const at = box.selectionStart ?? box.value.length;
  box.value = box.value.slice(0, at) + name + box.value.slice(box.selectionEnd ?? at);
  box.focus();
  box.selectionStart = box.selectionEnd = at + name.length;
}

function savedViews(current, range) {
  const groups = [...new Set(VIEWS.map((v) => v[0]))];
  return groups.map((group) =>
    h(
      "div",
      h("h3", group),
      h(
        "ul",
        VIEWS.filter((v) => v[0] === group).map(([, title, q]) =>
          h("li", h("a", { href: `/ui/metrics?${new URLSearchParams({ query: q, range })}`, "aria-current": q === current ? "page" : null, title: q }, title)),
        ),
      ),
    ),
  );
}

function seriesTable(series, format) {
  const rows = series.map((s) => {
    const values = s.points.map((p) => p[1]).filter((v) => v !== null);
    return {
      name: seriesName(s.labels),
      last: values.length ? values[values.length - 1] : null,
      min: values.length ? Math.min(...values) : null,
      max: values.length ? Math.max(...values) : null,
    };
  });
  rows.sort((a, b) => (b.last ?? -Infinity) - (a.last ?? -Infinity));
  const cell = (v) => (v === null ? "–" : format(v));
  return table(
    [
      { title: "Series", cls: "wrap mono small", cell: (r) => r.name },
      { title: "Last", num: true, cell: (r) => cell(r.last) },
      { title: "Min", num: true, cell: (r) => cell(r.min) },
      { title: "Max", num: true, cell: (r) => cell(r.max) },
    ],
    rows,
    "No series.",
  );
}
