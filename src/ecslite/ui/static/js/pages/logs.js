// Logs: search by service, task family, task, container, level, text and trace; live tail; every
// line with a trace id links to its waterfall. Two requests (the pickers and the search), then one
// small request a second while tailing.

import {
  h, clear, add, api, errorBox, emptyState, dateTime, stamp, traceHref, link, RANGES, shortId, taskHref } from "../util.js";
import { navigate } from "../nav.js";

const FIELDS = ["service", "family", "container", "level", "task", "text", "traceId", "range"];
const MAX_LINES = 3000;
const TAIL_OVERLAP_NS = 30_000_000_000n;

export async function render(main, query) {
  const values = Object.fromEntries(FIELDS.map((f) => [f, query.get(f) || ""]));
  if (!values.range) values.range = "1h";
  const catalog = await api("/ui/api/catalog").catch(() => ({ logServices: [], logContainers: [], logFamilies: [], levels: [] }));
  const list = h("div.loglines", { role: "log", tabindex: "0", "aria-label": "Log lines, newest first" });
  const status = h("span.small.muted");
  let tail = query.get("tail") !== "0";
  // The tail asks for the lines of the last TAIL_OVERLAP_NS before the newest it has (records can
  // arrive seconds after the time they carry) and keeps the ones it has not shown yet.
  let newest = 0n;
  const seen = new Map();
  const key = (record) => `${record.time}|${record.service}|${record.container}|${record.taskId}|${record.body}`;
  const remember = (record) => {
    const time = BigInt(record.time);
    seen.set(key(record), time);
    if (time > newest) newest = time;
  };
  let timer = null;
  let stopped = false;
  const tailBox = h("label.small", h("input", { type: "checkbox", checked: tail, on: { change: (e) => { tail = e.target.checked; schedule(); } } }), " Live tail");
  const form = filterForm(values, catalog);
  add(main, 
    h("div.head", h("div", h("h1", "Logs"), h("div.muted.small", "FireLens, Fluent Forward and OTLP records, newest first. awslogs output is on each task's page.")), h("div.row", tailBox, status)),
    form,
    list,
  );

  function line(record) {
    return h(
      "div.line",
      { class: record.source === "stderr" ? "stderr" : null, dataset: { time: record.time } },
      h("span.src", { title: `${dateTime(record.ms / 1000)} (${record.time} ns)` }, stamp(record.ms / 1000)),
      h("span", { class: `lvl-${record.level}` }, (record.level || "").toUpperCase()),
      h("span.src", { title: `${record.service} ${record.container} ${record.taskId}` }, record.container ? `${record.service}/${record.container}` : record.service),
      h("span.body", record.body),
      h(
        "span.small",
        record.traceId ? link(traceHref(record.traceId), `trace ${record.traceId.slice(0, 8)}`, { class: "trace-link", "data-trace": record.traceId }) : null,
        record.taskId ? [" ", link(taskHref(record.taskId), `task ${shortId(record.taskId)}`, { class: "muted" })] : null,
      ),
    );
  }

  async function search() {
    let answer;
    try {
      answer = await api("/ui/api/logs", { ...values, limit: 500 });
    } catch (error) {
      clear(list, errorBox(error));
      return;
    }
    clear(list);
    const rows = answer.logs;
    newest = rows.length ? BigInt(rows[0].time) : BigInt(Math.round(answer.now * 1000)) * 1_000_000n;
    seen.clear();
    for (const record of rows) remember(record);
    if (!rows.length) {
      const filtered = FIELDS.some((f) => f !== "range" && values[f]);
      list.append(
        filtered
          ? h("p.muted.pad", "No log line matches these filters in this time range. Live tail shows new ones as they arrive.")
          : emptyState(
              "No log lines yet",
              "Containers that log through FireLens (awsfirelens) or an OpenTelemetry SDK send their lines here; a Fluent Bit or Fluentd on this machine can forward to the server's Forward port (24224).",
              ["ecslite up examples/otel-demo", "ecslite logs -f SERVICE"],
            ),
      );
    } else list.append(...rows.map(line));
    status.textContent = `${rows.length} lines`;
    schedule();
  }

  async function poll() {
    timer = null;
    if (!tail || stopped) return;
    try {
      const after = String(newest - TAIL_OVERLAP_NS);
      const answer = await api("/ui/api/logs", { ...values, range: undefined, after, limit: 1000 });
      if (stopped) return;
      const fresh = answer.logs.filter((record) => !seen.has(key(record)));
      if (fresh.length) {
        const empty = list.querySelector(".empty, p.muted");
        if (empty) empty.remove();
        const fragment = document.createDocumentFragment();
        for (const record of fresh) {
          remember(record);
          fragment.append(line(record));
        }
        list.prepend(fragment);
        for (const [k, time] of seen) if (time < newest - 2n * TAIL_OVERLAP_NS) seen.delete(k);
        while (list.childElementCount > MAX_LINES) list.lastElementChild.remove();
        status.textContent = `${list.childElementCount} lines · tailing`;
      }
    } catch (error) {
      status.textContent = error.message;
    }
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    timer = tail && !stopped ? setTimeout(poll, 1000) : null;
    if (!tail) status.textContent = `${list.querySelectorAll(".line").length} lines`;
  }

  await search();
  return {
    dispose: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function filterForm(values, catalog) {
  const field = (label, control) => h("label.field", label, control);
  const select = (name, options) =>
    h("select", { name }, h("option", { value: "" }, "any"), options.map((o) => h("option", { value: o, selected: o === values[name] }, o)));
  const form = h(
    "form.filters",
    { role: "search" },
    field("Service", select("service", catalog.logServices)),
    field("Task family", select("family", catalog.logFamilies)),
    field("Container", select("container", catalog.logContainers)),
    field("Level", select("level", catalog.levels)),
    field("Task", h("input", { name: "task", value: values.task, placeholder: "task id", size: 12 })),
    field("Text", h("input", { name: "text", value: values.text, placeholder: "contains…", size: 22, "data-search": "" })),
    field("Trace id", h("input", { name: "traceId", value: values.traceId, placeholder: "32 hex or 1-…", size: 20 })),
    field("Time", h("select", { name: "range" }, RANGES.map(([v, t]) => h("option", { value: v, selected: v === values.range }, `Last ${t}`)))),
    h("button.primary", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
    navigate(`/ui/logs?${params}`);
  });
  return form;
}
