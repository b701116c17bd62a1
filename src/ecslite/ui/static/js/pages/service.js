// Service page: deployments with rollout progress and the circuit breaker, the health of its tasks
// in its target groups (each target's last check), tasks, events, CPU/memory from the runtime
// metrics, RED per operation from the span metrics.
// Two requests: the ECS state (live; every 5 s too behind target groups, whose health checks the
// live stream does not announce) and the telemetry of the chosen range (refreshed every 15 s).

import {
  h, clear, add, api, errorBox, badge, table, link, ago, nameOf, taskHref, progress, panel, shortId, rate, percent,
  seconds, rangeSelect, dateTime, number, lifetimeWindow,
} from "../util.js";
import { LineChart, fromQuery } from "../plot.js";
import { healthCounts, healthCheckText, groupLink, targetsTable, pollable } from "../elb.js";

const TARGET_POLL_MS = 5000;

export async function render(main, query) {
  const arn = query.get("arn") || "";
  let range = query.get("range") || "auto";
  const root = h("div");
  const stateBox = h("div.stack");
  const telemetryBox = h("div.stack");
  add(root, stateBox, telemetryBox);
  add(main, root);
  let charts = [];
  let state = null;
  let spanServices = []; // the span services of this ECS service, once the telemetry answered
  let controller = null;
  let timer = null;
  let targetTimer = null;

  async function loadState() {
    if (controller) controller.abort();
    controller = new AbortController();
    try {
      state = await api("/ui/api/service", { arn }, controller.signal);
    } catch (error) {
      if (error.name !== "AbortError") clear(stateBox, errorBox(error));
      return;
    }
    drawState();
    if (state.targetGroups.length && !targetTimer) {
      targetTimer = setInterval(() => pollable(stateBox) && loadState(), TARGET_POLL_MS);
    }
  }

  async function loadTelemetry() {
    let answer;
    try {
      const chosen = state ? lifetimeWindow(range, state.service.createdAt, null, state.now) : { range: "30m" };
      answer = await api("/ui/api/service/telemetry", { arn, ...chosen });
    } catch (error) {
      clear(telemetryBox, errorBox(error));
      return;
    }
    drawTelemetry(answer);
  }

  function drawState() {
    const s = state.service;
    const now = state.now;
    const family = state.family;
    const primary = s.deployments[0];
    clear(stateBox, 
      h(
        "div.head",
        h(
          "div",
          h("div.crumbs", link("/ui", "Overview"), ` / ${state.cluster} · ${state.region} · ${state.account}`),
          h("h1", s.serviceName, " ", badge(s.health), " ", s.status !== "ACTIVE" ? badge(s.status) : null),
          h("div.muted.small", `${s.runningCount} running / ${s.desiredCount} desired`, s.pendingCount ? ` · ${s.pendingCount} pending` : "", ` · ${nameOf(s.taskDefinition)} · ${s.launchType || "capacity provider"}`),
        ),
        h(
          "div.row",
          // By span service when known (spans sent from outside a task carry no task family).
          spanServices.length === 1
            ? link(`/ui/traces?service=${encodeURIComponent(spanServices[0])}`, "Traces", { "data-link": "traces" })
            : link(`/ui/traces?attributes=${encodeURIComponent(`aws.ecs.task.family=${family}`)}`, "Traces", { "data-link": "traces" }),
          spanServices.length === 1
            ? link(`/ui/logs?service=${encodeURIComponent(spanServices[0])}`, "Logs", { "data-link": "logs" })
            : link(`/ui/logs?family=${encodeURIComponent(family)}`, "Logs", { "data-link": "logs" }),
          link(`/ui/metrics?query=${encodeURIComponent(`ecs_task_cpu_utilization_percent{cluster="${state.cluster}", service="${s.serviceName}"}`)}`, "Metrics"),
          link(`/ui/map`, "Service map"),
        ),
      ),
      panel(
        ["Deployments ", primary && primary.rolloutState ? badge(primary.rolloutState) : null],
        deploymentsTable(s.deployments, now),
        breakerView(state),
      ),
      state.targetGroups.length ? panel("Target groups", targetGroupsView(state.targetGroups, now)) : null,
      h(
        "div.grid.two",
        panel("Tasks", tasksTable(state.tasks, now, "No task of this service is running or starting.")),
        panel("Events", eventsList(s.events, now)),
      ),
      state.stoppedTasks.length ? panel("Recently stopped tasks", tasksTable(state.stoppedTasks, now)) : null,
      state.serviceDeployments.length ? panel("Deployment history", historyTable(state.serviceDeployments)) : null,
    );
  }

  function drawTelemetry(answer) {
    for (const chart of charts) chart.dispose();
    charts = [];
    const byTask = (labels) => `task ${String(labels.task_id || "").slice(0, 8)}`;
    const box = (title, key, options) => {
      const host = h("div");
      const data = answer.charts[key];
      const series = fromQuery(data, key === "cpu" || key === "memory" ? byTask : null);
      charts.push(new LineChart(host, { start: answer.start, end: answer.end, series, ...options }));
      return panel(title, host);
    };
    const hasSpans = answer.spanServices.length > 0;
    if (answer.spanServices.join() !== spanServices.join()) {
      spanServices = answer.spanServices;
      if (state) drawState();
    }
    clear(telemetryBox, 
      h("div.head", h("h2", "Telemetry"), rangeSelect(range, (value) => { range = value; loadTelemetry(); }, "Since it was created")),
      h(
        "div.grid.two",
        box("CPU utilisation (% of the task's reservation)", "cpu", { format: (v) => `${number(v, 1)}%`, yMin: 0, label: "CPU utilisation", empty: "No CPU samples yet: the runtime samples running tasks every 10 s." }),
        box("Memory utilisation (% of the task's reservation)", "memory", { format: (v) => `${number(v, 1)}%`, yMin: 0, label: "Memory utilisation", empty: "No memory samples yet." }),
      ),
      hasSpans
        ? h(
            "div.grid.two",
            box("Requests served", "rate", { format: (v) => `${number(v)}/s`, yMin: 0, label: "Request rate" }),
            box("Errors", "errors", { format: (v) => `${number(v)}/s`, yMin: 0, label: "Error rate", empty: "No errors in this range." }),
          )
        : null,
      panel(
        "RED per operation",
        hasSpans
          ? redTable(answer.operations, answer.end - answer.start)
          : h("p.muted", `No spans from this service's tasks yet. Spans whose resource carries aws.ecs.task.family="${answer.family}" (ecslite adds it to everything sent from the task) or whose service.name is the service's name show up here.`),
      ),
    );
  }

  await loadState();
  await loadTelemetry();
  timer = setInterval(loadTelemetry, 15000);
  return {
    onChange: (change) => {
      if (change.kinds.some((k) => k === "*" || k === "task" || k === "elb-target") || change.keys.includes(arn)) loadState();
    },
    dispose: () => {
      clearInterval(timer);
      clearInterval(targetTimer);
      if (controller) controller.abort();
      for (const chart of charts) chart.dispose();
    },
  };
}

function deploymentsTable(deployments, now) {
  return table(
    [
      { title: "Deployment", cell: (d) => h("div", h("span.mono.small", d.id), " ", badge(d.status)) },
      { title: "Rollout", cell: (d) => h("div", badge(d.rolloutState), d.rolloutStateReason ? h("div.small.muted.wrap", d.rolloutStateReason) : null) },
      { title: "Task definition", cell: (d) => h("span.mono.small", nameOf(d.taskDefinition)) },
      { title: "Progress", cell: (d) => h("div", progress(d.runningCount, d.pendingCount, d.desiredCount), h("div.small.muted", `${d.runningCount} running · ${d.pendingCount} pending · ${d.desiredCount} desired`)) },
      { title: "Failed tasks", num: true, cell: (d) => (d.failedTasks ? h("span", { style: { color: "var(--err)", fontWeight: 600 } }, String(d.failedTasks)) : "0") },
      { title: "Updated", cell: (d) => h("span.small.muted", ago(d.updatedAt, now)) },
    ],
    deployments,
    "No deployment.",
  );
}

function targetGroupsView(groups, now) {
  return groups.map((g) =>
    h(
      "div",
      { "data-service-target-group": g.name },
      h("div.row", h("strong", g.missing ? g.name : groupLink(g)), g.missing ? badge("deleted", "err") : healthCounts(g.counts)),
      g.missing
        ? h("p.small.muted", "This target group no longer exists.")
        : [
            h("p.small.muted", `${g.containers.join(", ")} · ${healthCheckText(g)}`),
            targetsTable(g.targets, now, "No target yet: tasks become targets while they activate."),
          ],
    ),
  );
}

function breakerView(state) {
  const breaker = state.circuitBreaker;
  const current = state.serviceDeployments.find((d) => d.status === "IN_PROGRESS" || d.status === "ROLLBACK_IN_PROGRESS") || state.serviceDeployments[0];
  const live = current && current.deploymentCircuitBreaker;
  if (!breaker.enable) return h("p.small.muted", "Deployment circuit breaker: off. Turn it on with deploymentConfiguration.deploymentCircuitBreaker {enable: true, rollback: true}.");
  return h(
    "div.row.small",
    h("strong", "Circuit breaker"),
    badge(live ? live.status : "MONITORING"),
    h("span", `${live ? live.failureCount : 0} of ${live ? live.threshold : breaker.threshold} failed tasks trip it`),
    h("span.muted", breaker.rollback ? "rolls back to the last completed deployment" : "no rollback"),
  );
}

// The lifecycle stage, and what a paused deployment waits for: ECS shows a hook id only through
// DescribeServiceDeployments, here it comes with the command that lets the deployment go on.
function stageCell(d) {
  const waiting = (d.lifecycleHookDetails || []).filter((hook) => hook.status === "AWAITING_ACTION");
  return h(
    "div",
    h("span.small", d.lifecycleStage || ""),
    ...waiting.map((hook) =>
      h(
        "div.small.wrap.paused",
        `Paused by a PAUSE hook until ${dateTime(hook.expiresAt)} (then ${hook.timeoutAction || "ROLLBACK"}): `,
        h("span.mono", `aws ecs continue-service-deployment --service-deployment-arn ${d.serviceDeploymentArn} --hook-id ${hook.hookId}`),
      ),
    ),
  );
}

function historyTable(history) {
  return table(
    [
      { title: "Service deployment", cell: (d) => h("span.mono.small", nameOf(d.serviceDeploymentArn)) },
      { title: "Status", cell: (d) => h("div", badge(d.status), d.statusReason ? h("div.small.muted.wrap", d.statusReason) : null) },
      { title: "Stage", cell: stageCell },
      { title: "Breaker", cell: (d) => (d.deploymentCircuitBreaker ? h("span.small", `${d.deploymentCircuitBreaker.status} ${d.deploymentCircuitBreaker.failureCount}/${d.deploymentCircuitBreaker.threshold}`) : "") },
      { title: "Created", cell: (d) => h("span.small", dateTime(d.createdAt)) },
      { title: "Finished", cell: (d) => h("span.small", dateTime(d.finishedAt)) },
    ],
    history,
  );
}

export function tasksTable(tasks, now, empty) {
  return table(
    [
      { title: "Task", cell: (t) => link(taskHref(t.taskArn), shortId(t.taskId), { class: "mono" }) },
      { title: "Status", cell: (t) => h("div", badge(t.lastStatus), " ", t.healthStatus && t.healthStatus !== "UNKNOWN" ? badge(t.healthStatus) : null) },
      { title: "Containers", cls: "wrap", cell: (t) => h("div.small", t.containers.map((c) => h("div", `${c.name} `, badge(c.lastStatus), c.exitCode !== null && c.exitCode !== undefined ? ` exit ${c.exitCode}` : "", c.reason ? h("span.muted", ` ${c.reason}`) : null))) },
      { title: "Started", cell: (t) => h("span.small.muted", t.startedAt ? ago(t.startedAt, now) : t.stoppedAt ? "never" : "starting") },
      { title: "Stopped", cls: "wrap", cell: (t) => (t.stoppedAt ? h("div.small", h("span.muted", ago(t.stoppedAt, now) + " "), t.stoppedReason || "") : "") },
    ],
    tasks,
    empty,
  );
}

function eventsList(events, now) {
  if (!events.length) return h("p.muted", "No events yet.");
  return h("ul.events", events.map((e) => h("li", h("time", { title: dateTime(e.createdAt) }, ago(e.createdAt, now)), h("div.wrap", e.message))));
}

function redTable(rows, windowMs) {
  const href = (r) => `/ui/traces?service=${encodeURIComponent(r.service)}&operation=${encodeURIComponent(r.operation)}`;
  return table(
    [
      { title: "Operation", cell: (r) => h("div", link(href(r), r.operation), h("div.small.muted", `${r.service} · ${r.kind}`)) },
      { title: "Rate", num: true, cell: (r) => rate(r.rate) },
      { title: "Calls", num: true, cell: (r) => number(r.calls) },
      { title: "Errors", num: true, cell: (r) => h("span", { style: r.errors ? { color: "var(--err)", fontWeight: 600 } : null }, `${number(r.errors)} (${percent(r.errorRatio)})`) },
      { title: "p50", num: true, cell: (r) => seconds(r.p50) },
      { title: "p95", num: true, cell: (r) => seconds(r.p95) },
      { title: "p99", num: true, cell: (r) => seconds(r.p99) },
      { title: "", cell: (r) => link(`${href(r)}&status=error`, "errors", { class: "small" }) },
    ],
    rows,
    `No calls in the last ${Math.round(windowMs / 60000)} minutes.`,
  );
}

