// Small helpers shared by every page: DOM building, formatting, the API client, empty states.

// h("div.panel#id", {attrs, on: {click}}, children...) → Element. Children may be strings,
// numbers, nodes, arrays, or null/false (skipped). Text is always inserted as text, never as HTML.
export function h(tag, attrs, ...children) {
  const match = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(tag);
  const name = (match && match[1]) || "div";
  const svg = ["svg", "g", "path", "rect", "text", "line", "marker", "defs", "circle", "title", "tspan"].includes(name);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", name) : document.createElement(name);
  for (const part of (match && match[2] ? match[2].match(/[.#][\w-]+/g) : [])) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "on") for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    else if (key === "class") el.setAttribute("class", (el.getAttribute("class") || "") + " " + value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && !svg && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// Empty an element, then add children as h() does (null, undefined and false are skipped).
export function clear(el, ...children) {
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, children);
  return el;
}

// Element.append writes null as the text "null"; this skips it, as h() does.
export function add(el, ...children) {
  append(el, children);
  return el;
}

// -- API -----------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export async function api(path, params, signal) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  let response;
  try {
    response = (await early(url)) || (await fetch(url, { signal, headers: { Accept: "application/json" } }));
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("ecslite is not answering. Is the server still running? (ecslite status)", 0);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(body.message || `HTTP ${response.status}`, response.status);
  return body;
}

// The shell starts the first request of the overview and of a trace before the modules load
// (index.html); the page's first api() call for that exact URL takes it, later calls fetch anew.
function early(url) {
  const started = window.ecsliteEarly && url.origin === location.origin ? window.ecsliteEarly[url.pathname + url.search] : null;
  if (!started) return null;
  delete window.ecsliteEarly[url.pathname + url.search];
  return started;
}

export function errorBox(error) {
  return h("div.error-box", { role: "alert" }, error && error.message ? error.message : String(error));
}

// -- formatting ----------------------------------------------------------------------------------

export function shortId(id) {
  return id ? String(id).slice(0, 8) : "";
}

export function taskIdOf(arn) {
  return arn ? String(arn).split("/").pop() : "";
}

export function nameOf(arn) {
  return arn ? String(arn).split("/").pop() : "";
}

export function ago(seconds, now) {
  if (!seconds) return "";
  const delta = Math.max(0, (now || Date.now() / 1000) - seconds);
  if (delta < 5) return "just now";
  if (delta < 60) return `${Math.round(delta)}s ago`;
  if (delta < 3600) return `${Math.round(delta / 60)}m ago`;
  if (delta < 86400) return `${Math.round(delta / 3600)}h ago`;
  return `${Math.round(delta / 86400)}d ago`;
}

// One formatter each, made on first use: Date.toLocale*String builds a new one per call (~0.3 ms,
// felt over hundreds of log lines), and the first one of a page costs ~15 ms (locale data).
const formatters = new Map();

function formatter(locales, options) {
  const key = JSON.stringify([locales, options]);
  if (!formatters.has(key)) formatters.set(key, new Intl.DateTimeFormat(locales, options));
  return formatters.get(key);
}

export function clock(seconds) {
  if (!seconds) return "";
  const d = new Date(seconds * 1000);
  const time = formatter([], { hour: "numeric", minute: "numeric", second: "numeric", hour12: false });
  return time.format(d) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

// The time in the user's locale, as Date.toLocaleString() writes it (for titles).
export function localDateTime(seconds) {
  if (!seconds) return "";
  const options = { year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" };
  return formatter(undefined, options).format(new Date(seconds * 1000));
}

// A title written when the pointer or focus first reaches the element, so a list of times costs
// nothing until one is looked at.
export function lazyTitle(text) {
  const fill = (event) => {
    if (!event.currentTarget.title) event.currentTarget.title = text();
  };
  return { mouseenter: fill, focus: fill };
}

export function dateTime(seconds) {
  if (!seconds) return "";
  const d = new Date(seconds * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// Durations in microseconds → "1.23 ms" style text.
export function micros(us) {
  if (us === null || us === undefined || Number.isNaN(us)) return "";
  if (us < 1) return `${(us * 1000).toFixed(0)} ns`;
  if (us < 1000) return `${trim(us)} µs`;
  if (us < 1e6) return `${trim(us / 1000)} ms`;
  if (us < 60e6) return `${trim(us / 1e6)} s`;
  return `${trim(us / 60e6)} min`;
}

export function seconds(s) {
  return s === null || s === undefined ? "–" : micros(s * 1e6);
}

function trim(value) {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function number(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  if (abs !== 0 && abs < 0.01) return value.toExponential(1);
  if (abs >= 1e9) return (value / 1e9).toFixed(1) + "G";
  if (abs >= 1e6) return (value / 1e6).toFixed(1) + "M";
  if (abs >= 1e4) return (value / 1e3).toFixed(1) + "k";
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

export function percent(ratio) {
  if (ratio === null || ratio === undefined) return "–";
  return `${(ratio * 100).toFixed(ratio > 0 && ratio < 0.01 ? 2 : 1)}%`;
}

// A rate per second; under one every ten seconds it reads better per minute (0.27/min, not 4.4e-3/s).
export function rate(perSecond) {
  if (perSecond === null || perSecond === undefined || Number.isNaN(perSecond)) return "–";
  if (perSecond === 0) return "0/s";
  if (perSecond < 0.1) return perSecond * 60 < 0.01 ? "<0.01/min" : `${number(perSecond * 60)}/min`;
  return `${number(perSecond)}/s`;
}

// A log or event time: the time of day when it is today, else the date too (full value in a title).
export function stamp(seconds) {
  if (!seconds) return "";
  const full = dateTime(seconds);
  return new Date(seconds * 1000).toDateString() === new Date().toDateString() ? full.slice(11) : full;
}

// -- status badges -------------------------------------------------------------------------------

const TONES = {
  RUNNING: "ok", HEALTHY: "ok", ACTIVE: "ok", COMPLETED: "ok", steady: "ok", SUCCESSFUL: "ok", PRIMARY: "info",
  PENDING: "warn", PROVISIONING: "warn", ACTIVATING: "warn", IN_PROGRESS: "warn", deploying: "warn", degraded: "warn",
  DEACTIVATING: "warn", STOPPING: "warn", DEPROVISIONING: "warn", DRAINING: "warn", draining: "warn", MONITORING: "info",
  UNHEALTHY: "err", FAILED: "err", failed: "err", TRIGGERED: "err", ROLLBACK_IN_PROGRESS: "warn", ROLLBACK_SUCCESSFUL: "warn",
  ROLLBACK_FAILED: "err", error: "err", ERROR: "err", fatal: "err", warn: "warn", STOPPED: "", UNKNOWN: "",
  // ELBv2 target and load balancer states (lower case, as ELBv2 writes them)
  healthy: "ok", active: "ok", initial: "warn", provisioning: "warn", unhealthy: "err", active_impaired: "warn",
};

export function badge(text, tone) {
  if (text === null || text === undefined || text === "") return null;
  const cls = tone !== undefined ? tone : TONES[text] || "";
  return h("span.badge", { class: cls }, text);
}

// A CloudFormation status's tone by its suffix, as the CloudFormation console colours them: failures
// (and rollbacks, even completed ones) red, work under way amber, a deleted stack plain.
export function stackTone(status) {
  const text = String(status || "");
  if (text.endsWith("_FAILED") || (/^(UPDATE_)?ROLLBACK/.test(text) && text.endsWith("_COMPLETE"))) return "err";
  if (text.endsWith("_IN_PROGRESS")) return "warn";
  if (text.startsWith("DELETE_")) return "";
  return text.endsWith("_COMPLETE") ? "ok" : "";
}

export function stackBadge(status) {
  return badge(status, stackTone(status));
}

// -- bits of UI ----------------------------------------------------------------------------------

export function emptyState(title, text, commands) {
  return h("div.empty", h("h2", title), h("p.muted", text), (commands || []).map((c) => copyBox(c)));
}

export function copyBox(text) {
  const button = h("button", { type: "button", title: "Copy to the clipboard" }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => (button.textContent = "Copy"), 1500);
  });
  const code = h("code", text);
  return h("div.copy", code, button);
}

export function panel(title, ...children) {
  return h("section.panel", title ? h("h2", title) : null, ...children);
}

export function kv(pairs) {
  return h(
    "dl.kv",
    pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => [h("dt", k), h("dd", v)]),
  );
}

export function table(columns, rows, empty) {
  if (!rows.length) return h("p.muted", empty || "Nothing to show.");
  return h(
    "div.scroll",
    h(
      "table",
      h("thead", h("tr", columns.map((c) => h("th", { class: c.num ? "num" : null }, c.title)))),
      h("tbody", rows.map((row) => h("tr", columns.map((c) => h("td", { class: c.cls || (c.num ? "num" : null) }, c.cell(row)))))),
    ),
  );
}

export function link(href, text, attrs) {
  return h("a", { href, ...(attrs || {}) }, text);
}

export function serviceHref(arn) {
  return `/ui/service?arn=${encodeURIComponent(arn)}`;
}

export function taskHref(arnOrId) {
  return `/ui/task?id=${encodeURIComponent(taskIdOf(arnOrId))}`;
}

export function stackHref(stack) {
  return `/ui/stack?name=${encodeURIComponent(stack.stackName)}&region=${encodeURIComponent(stack.region)}`;
}

export function targetGroupHref(arn) {
  return `/ui/target-group?arn=${encodeURIComponent(arn)}`;
}

export function traceHref(id) {
  return `/ui/traces/${encodeURIComponent(id)}`;
}

export function progress(running, pending, desired) {
  const total = Math.max(desired, running + pending, 1);
  return h(
    "div.progress",
    { title: `${running} running, ${pending} pending of ${desired} desired`, role: "img", "aria-label": `${running} of ${desired} running` },
    h("i.pending", { style: { width: `${(100 * (running + pending)) / total}%` } }),
    h("i", { style: { width: `${(100 * running) / total}%` } }),
  );
}

export const RANGES = [
  ["5m", "5 minutes"],
  ["15m", "15 minutes"],
  ["30m", "30 minutes"],
  ["1h", "1 hour"],
  ["6h", "6 hours"],
  ["24h", "24 hours"],
];

// autoLabel adds a first choice, "auto": the resource's own lifetime (see lifetimeWindow).
export function rangeSelect(value, onChange, autoLabel) {
  return h(
    "label.field",
    "Time range",
    h(
      "select",
      { name: "range", on: { change: (e) => onChange(e.target.value) } },
      autoLabel ? h("option", { value: "auto", selected: value === "auto" }, autoLabel) : null,
      RANGES.map(([v, text]) => h("option", { value: v, selected: v === value }, `Last ${text}`)),
    ),
  );
}

// The query parameters of a chart range: a fixed "last N" range, or for "auto" the lifetime of a
// task or service (from a little before it was created to a little after it stopped, at most the
// last hour and at least two minutes), so a young task's samples fill the chart instead of its edge.
export function lifetimeWindow(range, createdAt, stoppedAt, now) {
  if (range !== "auto") return { range };
  const end = stoppedAt ? Math.min(now, stoppedAt + 15) : now;
  const start = Math.min(Math.max((createdAt || end) - 15, end - 3600), end - 120);
  return stoppedAt ? { start: Math.round(start * 1000), end: Math.round(end * 1000) } : { start: Math.round(start * 1000) };
}

export function throttle(fn, ms) {
  let timer = null;
  let last = 0;
  return (...args) => {
    const wait = Math.max(0, last + ms - Date.now());
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      fn(...args);
    }, wait);
  };
}

export const palette = () => {
  const style = getComputedStyle(document.documentElement);
  return [1, 2, 3, 4, 5, 6, 7, 8].map((i) => style.getPropertyValue(`--c${i}`).trim() || "#888");
};
