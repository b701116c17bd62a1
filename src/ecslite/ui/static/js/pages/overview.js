// Overview: clusters, services with their health and rollout, recent events, failing tasks.
// One request (/ui/api/overview); the live stream makes it fetch again, never a reload.

import {
  h, clear, add, api, errorBox, badge, table, link, ago, nameOf, serviceHref, taskHref, progress, emptyState, panel, shortId, localDateTime, lazyTitle,
} from "../util.js";

export async function render(main) {
  const root = h("div");
  add(main, root);
  let controller = null;
  let data = null;

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    try {
      data = await api("/ui/api/overview", {}, controller.signal);
    } catch (error) {
      if (error.name === "AbortError") return;
      clear(root, errorBox(error));
      return;
    }
    draw();
  }

  function draw() {
    const now = data.now;
    const services = data.services;
    const failing = data.failingTasks;
    clear(root, 
      h("div.head", h("div", h("h1", "Overview"), h("div.muted.small", "Clusters, services, deployments and tasks of every account and region. Updates live."))),
      h(
        "div.stats",
        stat(data.clusters.length, "clusters"),
        stat(services.length, "services"),
        stat(data.liveTasks, "tasks not yet stopped"),
        stat(services.filter((s) => s.health === "deploying").length, "deployments in progress"),
        stat(failing.length, "recently failed tasks", failing.length ? "err" : null),
      ),
    );
    if (!services.length && !data.liveTasks && !failing.length) add(root, gettingStarted());
    if (services.length) add(root, panel("Services", servicesTable(services, now)));
    add(root, 
      h(
        "div.grid.two",
        panel("Recent service events", eventsList(data.events, now)),
        panel(["Failing tasks ", failing.length ? badge(String(failing.length), "err") : null], failingList(failing, now)),
      ),
      panel("Clusters", clustersTable(data.clusters)),
    );
  }

  await load();
  return {
    onChange: (change) => {
      if (change.kinds.some((k) => k === "*" || k === "service" || k === "task" || k === "cluster")) load();
    },
    dispose: () => controller && controller.abort(),
  };
}

function stat(value, label, tone) {
  return h("div.stat", h("b", { class: tone || null, style: tone ? { color: "var(--err)" } : null }, String(value)), h("span", label));
}

function gettingStarted() {
  const endpoint = location.origin;
  return emptyState(
    "Nothing is running yet",
    "Start the OpenTelemetry demo — a service, its tasks, traces, logs and metrics appear here within seconds — or run a task of your own with the AWS CLI.",
    [
      "ecslite up examples/otel-demo",
      `aws --endpoint-url ${endpoint} ecs register-task-definition --family hello --requires-compatibilities FARGATE --network-mode awsvpc --cpu 256 --memory 512 --container-definitions '[{"name":"hello","image":"public.ecr.aws/docker/library/busybox:latest","command":["sh","-c","echo hello; sleep 600"]}]'`,
      `aws --endpoint-url ${endpoint} ecs run-task --cluster default --launch-type FARGATE --task-definition hello --network-configuration "awsvpcConfiguration={subnets=[$(aws --endpoint-url ${endpoint} ec2 describe-subnets --query 'Subnets[0].SubnetId' --output text)]}"`,
    ],
  );
}

function rolloutCell(service) {
  const primary = service.deployments[0];
  if (!primary) return badge(service.health);
  return h(
    "div",
    badge(service.health),
    " ",
    primary.rolloutState ? badge(primary.rolloutState) : null,
    service.deployments.length > 1 ? h("span.muted.small", ` ${service.deployments.length} deployments`) : null,
    primary.rolloutStateReason ? h("div.small.muted.wrap", primary.rolloutStateReason) : null,
  );
}

function servicesTable(services, now) {
  return table(
    [
      { title: "Service", cell: (s) => h("div", link(serviceHref(s.serviceArn), s.serviceName), h("div.small.muted", `${s.cluster} · ${s.region}`)) },
      { title: "Tasks", cell: (s) => h("div.nowrap", `${s.runningCount} running / ${s.desiredCount} desired`, s.pendingCount ? h("span.muted", ` · ${s.pendingCount} pending`) : null) },
      { title: "", cell: (s) => progress(s.runningCount, s.pendingCount, s.desiredCount) },
      { title: "Rollout", cell: rolloutCell },
      { title: "Task definition", cell: (s) => h("span.mono.small", nameOf(s.taskDefinition)) },
      {
        title: "Last event",
        cls: "wrap",
        cell: (s) => (s.lastEvent ? h("div.small", h("span.muted", ago(s.lastEvent.createdAt, now) + " "), s.lastEvent.message) : ""),
      },
    ],
    services,
  );
}

function eventsList(events, now) {
  if (!events.length) return h("p.muted", "No service events yet. Services report launches, steady states and failures here.");
  return h(
    "ul.events",
    events.map((e) =>
      h(
        "li",
        h("time", { datetime: new Date(e.createdAt * 1000).toISOString(), on: lazyTitle(() => localDateTime(e.createdAt)) }, ago(e.createdAt, now)),
        h("div.wrap", link(serviceHref(e.serviceArn), e.serviceName), " ", h("span", e.message)),
      ),
    ),
  );
}

function failingList(tasks, now) {
  if (!tasks.length) return h("p.muted", "No task has failed recently.");
  return h(
    "ul.events.failing",
    tasks.map((t) =>
      h(
        "li",
        h("time", ago(t.stoppedAt, now)),
        h(
          "div.wrap",
          link(taskHref(t.taskArn), shortId(t.taskId), { class: "mono" }),
          " ",
          h("span.muted", t.service ? `service:${t.service}` : t.group || ""),
          " ",
          badge(t.stopCode, "err"),
          h("div", t.stoppedReason || ""),
          h(
            "div.small.muted",
            t.containers.filter((c) => c.exitCode !== null && c.exitCode !== undefined || c.reason).map((c) => `${c.name}: exit ${c.exitCode ?? "–"}${c.reason ? ` (${c.reason})` : ""}`).join(" · "),
          ),
        ),
      ),
    ),
  );
}

function clustersTable(clusters) {
  return table(
    [
      { title: "Cluster", cell: (c) => link(`/ui/cluster?arn=${encodeURIComponent(c.clusterArn)}`, c.clusterName) },
      { title: "Account / region", cell: (c) => h("span.small.muted", `${c.account} · ${c.region}`) },
      { title: "Status", cell: (c) => badge(c.status) },
      { title: "Running", num: true, cell: (c) => String(c.runningTasksCount) },
      { title: "Pending", num: true, cell: (c) => String(c.pendingTasksCount) },
      { title: "Services", num: true, cell: (c) => String(c.activeServicesCount) },
      { title: "Instances", num: true, cell: (c) => String(c.registeredContainerInstancesCount) },
    ],
    clusters,
    "No clusters yet: aws ecs create-cluster --cluster-name demo",
  );
}
