// Cluster: its "Scheduled tasks", as the ECS console's tab shows them — the EventBridge schedules and
// rules whose ECS targets start tasks here, with expression, next run, task definition and the last
// invocation — and, beyond the console, each one's recent invocations with the tasks they started
// or the error that stopped them. One request (/_ecslite/schedules); refetched on live changes.

import { h, clear, add, api, errorBox, badge, table, link, ago, nameOf, taskHref, panel, shortId, taskIdOf, localDateTime, lazyTitle } from "../util.js";

const OUTCOME_TONES = { STARTED: "ok", RETRYING: "warn", FAILED: "err" };
const WATCHED = new Set(["*", "schedule", "event-rule", "target-invocation"]);

// The anchor a task's startedBy (chronos-schedule/<name>, events-rule/<name>) links to.
export function scheduleAnchor(kind, name) {
  return `${kind}-${String(name).replace(/[^A-Za-z0-9_-]/g, "-")}`;
}

export async function render(main, query) {
  const arn = query.get("arn") || "";
  const root = h("div");
  add(main, root);
  let controller = null;

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    let data;
    try {
      data = await api("/_ecslite/schedules", { cluster: arn, history: "1" }, controller.signal);
    } catch (error) {
      if (error.name !== "AbortError") clear(root, errorBox(error));
      return;
    }
    draw(data);
    if (location.hash) {
      const target = document.getElementById(location.hash.slice(1));
      if (target) target.scrollIntoView({ block: "center" });
    }
  }

  function draw(data) {
    const entries = data.scheduledTasks;
    const failing = entries.filter((e) => e.last && e.last.outcome !== "STARTED");
    clear(
      root,
      h(
        "div.head",
        h(
          "div",
          h("div.crumbs", link("/ui", "Overview"), " / cluster"),
          h("h1", nameOf(arn) || "Cluster", " ", failing.length ? badge(`${failing.length} failing`, "err") : null),
          h("div.muted.small.mono", arn),
        ),
      ),
      panel(
        "Scheduled tasks",
        h("p.muted.small", "EventBridge Scheduler schedules and EventBridge rules whose ECS targets run tasks in this cluster."),
        scheduledTable(entries, data.now),
      ),
      entries.length ? panel("Recent invocations", entries.map((e) => historyBlock(e, data.now))) : null,
    );
  }

  await load();
  return {
    onChange: (change) => {
      if (change.kinds.some((k) => WATCHED.has(k))) load();
    },
    dispose: () => controller && controller.abort(),
  };
}

function when(seconds, now) {
  if (seconds === null || seconds === undefined) return h("span.muted", "–");
  const delta = seconds - now;
  const text = delta >= 0 ? until(delta) : ago(seconds, now);
  return h("time", { datetime: new Date(seconds * 1000).toISOString(), on: lazyTitle(() => localDateTime(seconds)) }, text);
}

function until(delta) {
  if (delta < 60) return `in ${Math.round(delta)}s`;
  if (delta < 3600) return `in ${Math.round(delta / 60)}m`;
  if (delta < 86400) return `in ${Math.round(delta / 3600)}h`;
  return `in ${Math.round(delta / 86400)}d`;
}

function lastCell(entry, now) {
  const last = entry.last;
  if (!last) return h("span.muted", "not invoked yet");
  return h(
    "div",
    badge(last.outcome, OUTCOME_TONES[last.outcome]),
    " ",
    h("span.muted.small", `${ago(last.time, now)} · attempt ${last.attempt}`),
    last.error ? h("div.invocation-error.wrap", last.error) : tasksLine(last.taskArns),
  );
}

function tasksLine(arns) {
  if (!arns || !arns.length) return null;
  return h(
    "div.small",
    arns.map((arn, i) => [i ? " " : "", link(taskHref(arn), shortId(taskIdOf(arn)), { class: "mono" })]),
  );
}

function scheduledTable(entries, now) {
  return table(
    [
      {
        title: "Name",
        cell: (e) =>
          h(
            "div",
            { id: scheduleAnchor(e.kind, e.name) },
            h("b", e.name),
            e.targetId ? h("span.muted", ` / ${e.targetId}`) : null,
            h("div.small.muted", e.kind === "schedule" ? `schedule · group ${e.group}` : "EventBridge rule"),
          ),
      },
      { title: "Expression", cls: "wrap", cell: (e) => h("span.mono.small", e.expression || "–", e.timezone && e.timezone !== "UTC" ? ` (${e.timezone})` : "") },
      { title: "State", cell: (e) => badge(e.state, e.state === "ENABLED" ? "ok" : "") },
      { title: "Next run", cell: (e) => when(e.nextRun, now) },
      { title: "Task definition", cell: (e) => h("span.mono.small", nameOf(e.taskDefinition), e.taskCount > 1 ? ` × ${e.taskCount}` : "") },
      { title: "Last invocation", cls: "wrap", cell: (e) => lastCell(e, now) },
    ],
    entries,
    "No schedule or rule starts tasks in this cluster. aws scheduler create-schedule --target with EcsParameters makes one.",
  );
}

function historyBlock(entry, now) {
  const items = entry.history || [];
  return h(
    "div.invocations",
    h("h3", entry.name, entry.targetId ? ` / ${entry.targetId}` : "", h("span.muted.small", ` · startedBy ${entry.startedBy}`)),
    items.length
      ? h(
          "ul.events",
          items.map((item) =>
            h(
              "li",
              h("time", { datetime: new Date(item.time * 1000).toISOString(), on: lazyTitle(() => localDateTime(item.time)) }, ago(item.time, now)),
              h(
                "div.wrap",
                badge(item.outcome, OUTCOME_TONES[item.outcome]),
                h("span.muted.small", ` attempt ${item.attempt}`),
                item.retryAt ? h("span.muted.small", ` · retry ${localDateTime(item.retryAt)}`) : null,
                item.error ? h("div.invocation-error", item.error) : tasksLine(item.taskArns),
              ),
            ),
          ),
        )
      : h("p.muted.small", "Not invoked yet."),
  );
}
