// Pieces shared by the load balancer, target group and service pages: a target group's targets with
// their state and last health check (spec §7.5 "Beyond ECS"), health counts, health check settings.

import { h, badge, table, link, ago, shortId, taskHref, targetGroupHref, localDateTime, lazyTitle } from "./util.js";

const ORDER = ["healthy", "initial", "unhealthy", "draining", "unused", "unavailable"];

// "2 healthy · 1 unhealthy" as badges; "no targets" when the group has none.
export function healthCounts(counts) {
  const states = ORDER.filter((s) => counts && counts[s]);
  if (!states.length) return h("span.muted.small", "no targets");
  return h("span", { style: { display: "inline-flex", gap: "6px", verticalAlign: "middle" } }, states.map((s) => badge(`${counts[s]} ${s}`, toneOf(s))));
}

function toneOf(state) {
  return { healthy: "ok", initial: "warn", unhealthy: "err", draining: "warn" }[state] || "";
}

// The last check: the HTTP status (green when it matched) or the error, its latency, and when.
export function lastCheck(target, now) {
  const check = target.lastCheck;
  if (!check) return h("span.muted.small", target.state === "unused" ? "not checked (no load balancer uses the group)" : "not checked yet");
  const failed = target.state === "unhealthy" || (target.state === "initial" && target.reason === "Elb.InitialHealthChecking");
  const what = check.status !== null && check.status !== undefined ? `HTTP ${check.status}` : check.error || "failed";
  return h(
    "div.small",
    { "data-last-check": "" },
    badge(what, check.status !== null && check.status !== undefined && !failed ? "ok" : "err"),
    " ",
    h("span", `${Number(check.latencyMs || 0).toFixed(0)} ms`),
    " ",
    h("time.muted", { datetime: new Date(check.at * 1000).toISOString(), on: lazyTitle(() => localDateTime(check.at)) }, ago(check.at, now) || "just now"),
  );
}

export function taskCell(target) {
  const task = target.task;
  if (!task) return h("span.muted.small", "not a task");
  return h(
    "div",
    link(taskHref(task.taskArn), shortId(task.taskId), { class: "mono" }),
    " ",
    badge(task.lastStatus),
    task.service ? h("div.small.muted", `service:${task.service} · ${task.cluster}`) : h("div.small.muted", task.cluster),
  );
}

export function targetsTable(targets, now, empty) {
  return table(
    [
      { title: "Target", cell: (t) => h("div", h("span.mono", `${t.id}:${t.port}`), t.zone ? h("div.small.muted", t.zone) : null) },
      { title: "State", cell: (t) => badge(t.state) },
      { title: "Reason", cls: "wrap", cell: (t) => (t.reason ? h("div.small", h("span.mono", t.reason), h("div.muted", t.description || "")) : h("span.muted.small", "–")) },
      { title: "Last check", cell: (t) => lastCheck(t, now) },
      { title: "Task", cell: taskCell },
    ],
    targets,
    empty || "No targets are registered.",
  );
}

// "HTTP GET /health on traffic-port every 30 s (timeout 5 s), healthy after 5, unhealthy after 2, codes 200".
export function healthCheckText(group) {
  const c = group.health;
  if (c.HealthCheckEnabled === false) return "Health checks are off.";
  return `${c.HealthCheckProtocol || "HTTP"} GET ${c.HealthCheckPath || "/"} on ${c.HealthCheckPort} every ${c.HealthCheckIntervalSeconds} s (timeout ${c.HealthCheckTimeoutSeconds} s); healthy after ${c.HealthyThresholdCount} passes, unhealthy after ${c.UnhealthyThresholdCount} failures; success codes ${group.matcher || "200"}`;
}

export function groupLink(group) {
  return link(targetGroupHref(group.targetGroupArn), group.name, { "data-target-group": group.name });
}

// A timed refetch (health checks are not announced live) is skipped while the keyboard focus is in
// the page's content, so a redraw never takes it away (a mouse click's focus does not hold it).
export function pollable(root) {
  const focused = document.activeElement;
  return document.visibilityState === "visible" && !(focused && root.contains(focused) && focused.matches(":focus-visible"));
}
