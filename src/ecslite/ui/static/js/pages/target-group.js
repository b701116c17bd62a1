// Target group: its settings (health check path, interval, thresholds, matcher), attributes, the
// load balancers using it, and every target with its state, reason, last health check and task.
// One request; refetched on ELBv2 and task changes, and every health check interval (checks are
// not announced on the live stream).

import { h, clear, add, api, errorBox, panel, kv, link } from "../util.js";
import { healthCounts, healthCheckText, targetsTable, pollable } from "../elb.js";

export async function render(main, query) {
  const arn = query.get("arn") || "";
  const root = h("div");
  add(main, root);
  let controller = null;
  let timer = null;
  let interval = 0;

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    let data;
    try {
      data = await api("/ui/api/target-group", { arn }, controller.signal);
    } catch (error) {
      if (error.name !== "AbortError") clear(root, errorBox(error));
      return;
    }
    draw(data);
    const every = Math.max(5, Number(data.targetGroup.health.HealthCheckIntervalSeconds) || 30) * 1000;
    if (every !== interval) {
      clearInterval(timer);
      interval = every;
      timer = setInterval(() => pollable(root) && load(), every);
    }
  }

  function draw(data) {
    const g = data.targetGroup;
    clear(
      root,
      h(
        "div.head",
        h(
          "div",
          h("div.crumbs", link("/ui/load-balancers", "Load balancers"), ` / ${data.account} · ${data.region}`),
          h("h1", g.name, " ", healthCounts(g.counts)),
          h("div.muted.small", `${g.protocol}:${g.port} · target type ${g.targetType} · ${g.vpcId}`),
        ),
      ),
      panel("Targets", targetsTable(g.targets, data.now, "No targets are registered. A service with loadBalancers registers its tasks here; or aws elbv2 register-targets.")),
      h(
        "div.grid.two",
        panel(
          "Health check",
          h("p", { "data-health-check": "" }, healthCheckText(g)),
          kv([
            ["Path", h("span.mono", g.health.HealthCheckPath)],
            ["Port", g.health.HealthCheckPort],
            ["Interval", `${g.health.HealthCheckIntervalSeconds} s`],
            ["Timeout", `${g.health.HealthCheckTimeoutSeconds} s`],
            ["Healthy threshold", g.health.HealthyThresholdCount],
            ["Unhealthy threshold", g.health.UnhealthyThresholdCount],
            ["Success codes", h("span.mono", g.matcher)],
          ]),
        ),
        panel(
          "Used by",
          data.loadBalancers.length
            ? h("ul", data.loadBalancers.map((lb) => h("li", link("/ui/load-balancers", lb.name), " ", h("span.mono.small.muted", lb.dnsName))))
            : h("p.muted", "No load balancer forwards to this group: its targets are unused and not checked."),
        ),
      ),
      panel("Attributes", kv(Object.entries(data.attributes).sort().map(([key, value]) => [key, value || "(empty)"]))),
    );
  }

  await load();
  return {
    onChange: (change) => {
      if (change.kinds.some((k) => k === "*" || k === "task" || k.startsWith("elb-"))) load();
    },
    dispose: () => {
      clearInterval(timer);
      if (controller) controller.abort();
    },
  };
}
