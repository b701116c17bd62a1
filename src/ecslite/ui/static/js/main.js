// The UI's entry point: client-side routing under /ui, the live-update stream, theme and keys.
//
// Every page module exports render(main, query, path) → {onChange?(change), dispose?()}. Links to
// /ui/... are followed without reloading; the back button works through the History API.

import { h, clear, errorBox, throttle } from "./util.js";
import { navigate, setRouter } from "./nav.js";

const PAGES = [
  [/^\/ui\/?$/, "overview", () => import("./pages/overview.js")],
  [/^\/ui\/service\/?$/, "overview", () => import("./pages/service.js")],
  [/^\/ui\/task\/?$/, "overview", () => import("./pages/task.js")],
  [/^\/ui\/cluster\/?$/, "overview", () => import("./pages/cluster.js")],
  [/^\/ui\/map\/?$/, "map", () => import("./pages/map.js")],
  [/^\/ui\/load-balancers\/?$/, "elb", () => import("./pages/load-balancers.js")],
  [/^\/ui\/target-group\/?$/, "elb", () => import("./pages/target-group.js")],
  [/^\/ui\/stacks\/?$/, "stacks", () => import("./pages/stacks.js")],
  [/^\/ui\/stack\/?$/, "stacks", () => import("./pages/stack.js")],
  [/^\/ui\/traces\/?$/, "traces", () => import("./pages/traces.js")],
  [/^\/ui\/traces\/([^/]+)$/, "traces", () => import("./pages/trace.js")],
  [/^\/ui\/logs\/?$/, "logs", () => import("./pages/logs.js")],
  [/^\/ui\/metrics\/?$/, "metrics", () => import("./pages/metrics.js")],
];

const main = document.getElementById("main");
let current = null;
let generation = 0;

async function route() {
  const mine = ++generation;
  if (current && current.dispose) current.dispose();
  current = null;
  const path = location.pathname;
  const found = PAGES.find(([pattern]) => pattern.test(path));
  for (const a of document.querySelectorAll("header nav a")) {
    a.toggleAttribute("aria-current", false);
    if (found && a.dataset.nav === found[1]) a.setAttribute("aria-current", "page");
  }
  clear(main);
  if (!found) {
    main.append(h("div.empty", h("h2", "No such page"), h("p", "Go back to the ", h("a", { href: "/ui" }, "overview"), ".")));
    return;
  }
  const match = found[0].exec(path);
  try {
    const module = await found[2]();
    if (mine !== generation) return;
    const page = await module.render(main, new URLSearchParams(location.search), match.slice(1).map(decodeURIComponent));
    if (mine !== generation) {
      if (page && page.dispose) page.dispose();
      return;
    }
    current = page || {};
    // Changes that arrived while the page was rendering may postdate its first fetch.
    if (pending.kinds.size) flush();
  } catch (error) {
    if (mine === generation) main.append(errorBox(error));
  }
}

setRouter((fresh) =>
  route().then(() => {
    if (fresh) {
      window.scrollTo(0, 0);
      main.focus({ preventScroll: true });
    }
  }),
);

document.addEventListener("click", (event) => {
  const a = event.target.closest && event.target.closest("a[href]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (a.getAttribute("target") || a.hasAttribute("download")) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith("/ui") || href.startsWith("/ui/static") || href.startsWith("/ui/api")) return;
  event.preventDefault();
  navigate(href);
});
window.addEventListener("popstate", () => route());

// -- live updates: the server says what changed; the page decides what to fetch again -------------

const live = document.getElementById("live");
let source = null;

function connect() {
  source = new EventSource("/ui/api/live");
  source.addEventListener("hello", () => {
    live.textContent = "live";
    live.className = "live on";
    live.title = "Live: pages update as ECS state changes";
    // Anything may have changed while we were away.
    deliver({ kinds: ["*"], keys: [] });
  });
  source.addEventListener("change", (event) => {
    let change = { kinds: ["*"], keys: [] };
    try {
      change = JSON.parse(event.data);
    } catch {
      /* a malformed event still means something changed */
    }
    deliver(change);
  });
  source.onerror = () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
    live.title = "The live stream is down; it reconnects by itself";
  };
}

const pending = { kinds: new Set(), keys: new Set() };
// While a page renders (no current page yet) changes wait here, and reach it once it is ready.
const flush = throttle(() => {
  if (!current || !current.onChange) return;
  const change = { kinds: [...pending.kinds], keys: [...pending.keys] };
  pending.kinds.clear();
  pending.keys.clear();
  if (current && current.onChange) current.onChange(change);
}, 250);

function deliver(change) {
  for (const k of change.kinds || []) pending.kinds.add(k);
  for (const k of change.keys || []) pending.keys.add(k);
  flush();
}

window.addEventListener("pagehide", () => source && source.close());

// -- theme -----------------------------------------------------------------------------------------

function toggleTheme() {
  const root = document.documentElement;
  const dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  root.dataset.theme = dark ? "light" : "dark";
  try {
    localStorage.setItem("ecslite.theme", root.dataset.theme);
  } catch {
    /* storage disabled: the choice lasts for this page */
  }
  document.getElementById("theme-toggle").textContent = dark ? "Dark" : "Light";
  window.dispatchEvent(new Event("ecslite-theme"));
}

function themeLabel() {
  const root = document.documentElement;
  const dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  document.getElementById("theme-toggle").textContent = dark ? "Light" : "Dark";
}

// -- keys ------------------------------------------------------------------------------------------

const GO = { o: "/ui", m: "/ui/map", b: "/ui/load-balancers", s: "/ui/stacks", t: "/ui/traces", l: "/ui/logs", x: "/ui/metrics" };
let prefix = null;

function showHelp() {
  if (document.querySelector(".help")) return;
  const close = () => box.remove();
  const row = (keys, what) => h("tr", h("td", keys.map((k) => h("span.kbd", k))), h("td", what));
  const box = h(
    "div.help",
    { role: "dialog", "aria-label": "Keyboard shortcuts", on: { click: (e) => e.target === box && close() } },
    h(
      "div",
      h("h2", "Keyboard"),
      h(
        "table",
        row(["g", "o"], "Overview"),
        row(["g", "m"], "Service map"),
        row(["g", "b"], "Load balancers"),
        row(["g", "s"], "Stacks"),
        row(["g", "t"], "Traces"),
        row(["g", "l"], "Logs"),
        row(["g", "x"], "Metrics"),
        row(["/"], "Focus the search box"),
        row(["t"], "Light / dark theme"),
        row(["↑", "↓"], "Move in the trace waterfall"),
        row(["Esc"], "Close"),
      ),
      h("button", { type: "button", on: { click: close } }, "Close"),
    ),
  );
  document.body.append(box);
  box.querySelector("button").focus();
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") document.querySelector(".help")?.remove();
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) || event.target.isContentEditable;
  if (typing || event.metaKey || event.ctrlKey || event.altKey) return;
  if (prefix === "g" && GO[event.key]) {
    prefix = null;
    event.preventDefault();
    navigate(GO[event.key]);
    return;
  }
  prefix = event.key === "g" ? "g" : null;
  if (event.key === "/") {
    const search = main.querySelector("[data-search]");
    if (search) {
      event.preventDefault();
      search.focus();
    }
  } else if (event.key === "t") toggleTheme();
  else if (event.key === "?") showHelp();
});

document.getElementById("theme-toggle").addEventListener("click", toggleTheme);
themeLabel();
connect();
route();
