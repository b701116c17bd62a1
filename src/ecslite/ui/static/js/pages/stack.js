// Stack: a CloudFormation stack's status and reason, parameters, outputs, resources (each linked to
// ecslite's page of what it made, where there is one), and its events newest first. A resource that
// failed in the latest operation shows, beside CloudFormation's reason, what ecslite knows more: for
// an ECS service, its rollout's reason, its last failed tasks with their stopped reason, the exit
// code and reason of each failing container, its last lines of output (the runtime's copy: a
// rolled-back create deletes the stack's log group) and a link to the task's page, where its logs are.
// One request (/_ecslite/stacks/detail); refetched when the stack, a service or a task changes.

import { h, clear, add, api, errorBox, table, link, ago, panel, kv, dateTime, stamp, shortId, localDateTime, lazyTitle, stackBadge, stackTone } from "../util.js";

const WATCHED = new Set(["*", "stack", "service", "task"]);

export async function render(main, query) {
  const name = query.get("name") || query.get("id") || "";
  const region = query.get("region") || "";
  const root = h("div");
  add(main, root);
  let controller = null;

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    let data;
    try {
      data = await api("/_ecslite/stacks/detail", { stack: name, region }, controller.signal);
    } catch (error) {
      if (error.name !== "AbortError") clear(root, crumbs(name), errorBox(error));
      return;
    }
    draw(data);
  }

  function draw(data) {
    const s = data.stack;
    clear(
      root,
      h(
        "div.head",
        h(
          "div",
          crumbs(s.stackName),
          h("h1", s.stackName, " ", stackBadge(s.status)),
          h("div.muted.small", `${s.region} · ${s.account}`, s.description ? ` · ${s.description}` : ""),
          h("div.muted.small.mono", s.stackId),
        ),
      ),
      s.reason ? h(s.failed ? "div.error-box" : "p.small", { "data-stack-reason": "" }, s.reason) : null,
      data.failures.length ? panel("What failed", data.failures.map((f) => failureView(f, data.now))) : null,
      h(
        "div.grid.two",
        panel("Parameters", s.parameters.length ? kv(s.parameters.map((p) => [p.ParameterKey, p.ResolvedValue || p.ParameterValue])) : h("p.muted", "No parameters.")),
        panel("Outputs", outputsTable(data.outputs)),
      ),
      panel("Resources", resourcesTable(data.resources, data.now)),
      panel("Events", eventsTable(data.events)),
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

function crumbs(name) {
  return h("div.crumbs", link("/ui/stacks", "Stacks"), ` / ${name}`);
}

function statusCell(status, reason) {
  const failed = String(status || "").endsWith("_FAILED");
  return h("div", stackBadge(status), reason ? h(failed ? "div.small.wrap.stack-failure" : "div.small.muted.wrap", reason) : null);
}

function resourcesTable(resources, now) {
  return table(
    [
      { title: "Logical id", cell: (r) => h("b", { "data-stack-resource": r.logicalId }, r.logicalId) },
      { title: "Type", cell: (r) => h("span.small.mono", r.type) },
      { title: "Physical id", cls: "wrap", cell: (r) => (r.href ? link(r.href, r.physicalId, { class: "mono small" }) : h("span.mono.small", r.physicalId || "–")) },
      { title: "Status", cls: "wrap", cell: (r) => statusCell(r.status, r.reason) },
      { title: "Updated", cell: (r) => h("time.small.muted", { on: lazyTitle(() => localDateTime(r.updatedAt)) }, ago(r.updatedAt, now)) },
    ],
    resources,
    "No resources.",
  );
}

function outputsTable(outputs) {
  return table(
    [
      { title: "Key", cell: (o) => h("b", o.OutputKey) },
      { title: "Value", cls: "wrap", cell: (o) => h("span.mono.small", { "data-output": o.OutputKey }, o.OutputValue || "") },
      { title: "Export", cell: (o) => h("span.mono.small", o.ExportName || "") },
      { title: "Description", cls: "wrap", cell: (o) => h("span.small.muted", o.Description || "") },
    ],
    outputs,
    "No outputs.",
  );
}

function eventsTable(events) {
  if (!events.length) return h("p.muted", "No events.");
  return h(
    "div.scroll.stack-events",
    h(
      "table",
      h("thead", h("tr", ["Time", "Logical id", "Type", "Status", "Reason"].map((t) => h("th", t)))),
      h(
        "tbody",
        events.map((e) =>
          h(
            "tr",
            { class: e.failed ? "failed" : null, "data-stack-event": e.status },
            h("td", h("time.small", { title: dateTime(e.timestamp) }, stamp(e.timestamp))),
            h("td", h("b", e.logicalId)),
            h("td", h("span.small.mono", e.type)),
            h("td", h("span.badge", { class: stackTone(e.status) }, e.status)),
            h("td.wrap", h("span.small", e.reason || "")),
          ),
        ),
      ),
    ),
  );
}

function failureView(failure, now) {
  const service = failure.service;
  return h(
    "div.stack-failure-block",
    { "data-failure": failure.logicalId },
    h("h3", failure.logicalId, h("span.muted.small", ` ${failure.type} `), stackBadge(failure.status)),
    h("div.stack-failure.wrap", failure.reason || ""),
    service ? serviceFailure(service, now) : null,
  );
}

function serviceFailure(service, now) {
  return h(
    "div.small",
    h(
      "p",
      "ECS service ",
      link(service.href, `${service.cluster}/${service.serviceName}`),
      service.status !== "ACTIVE" ? h("span.muted", ` (${service.status})`) : null,
      service.rolloutReason ? [": ", h("span.stack-failure", service.rolloutReason)] : null,
    ),
    service.stoppedTasks.length
      ? table(
          [
            { title: "Stopped task", cell: (t) => h("div", { "data-failed-task": t.taskId }, link(t.href, shortId(t.taskId), { class: "mono" }), h("div.muted", ago(t.stoppedAt, now))) },
            { title: "Stopped reason", cls: "wrap", cell: (t) => h("div", h("span.mono", t.stopCode || ""), " ", h("span.stack-failure", t.stoppedReason || "")) },
            { title: "Containers", cls: "wrap", cell: (t) => t.containers.map((c) => containerLine(t, c)) },
          ],
          service.stoppedTasks,
        )
      : h("p.muted", "No stopped task of this service is left."),
    service.events.length
      ? [
          h("h4", "Service events"),
          h("ul.events", service.events.map((e) => h("li", h("time", { title: dateTime(e.createdAt) }, ago(e.createdAt, now)), h("div.wrap", e.message)))),
        ]
      : null,
  );
}

function containerLine(task, c) {
  const logs = c.logs || {};
  const output = c.lastOutput || [];
  return h(
    "div",
    { "data-failed-container": c.name },
    h("b", c.name),
    c.exitCode !== null && c.exitCode !== undefined ? h("span.stack-failure", ` exit ${c.exitCode}`) : null,
    c.reason ? h("span.stack-failure", ` ${c.reason}`) : null,
    " · ",
    // The task's page reads an awslogs stream while its group exists; a rolled-back create deleted it.
    logs.groupDeleted
      ? h("span.muted", `log group ${logs.group} was deleted with the stack`)
      : link(task.href, "logs", { title: logs.kind === "awslogs" ? `awslogs ${logs.group} / ${logs.stream}` : "output", "data-logs-link": c.name }),
    output.length
      ? h(
          "pre.stack-output",
          { "data-last-output": c.name, title: "The container's last lines of output, as the runtime kept them" },
          output.map((r) => h(r.source === "stderr" ? "span.stack-failure" : "span", `${r.message}\n`)),
        )
      : null,
  );
}
