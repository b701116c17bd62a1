// Load balancers (ELBv2, spec §7): each one with its state, DNSName and the local URLs where ecslite
// serves its listeners, every listener's rules in evaluation order in words, and the target groups
// they forward to with their health. Two requests: the ELBv2 state and where the local ALB serves
// each listener (/_ecslite/elb/listeners). The live stream refetches on ELBv2 and task changes;
// health checks are not announced, so the page also refetches every 5 s (the shortest interval).
// HTTPS listeners show their security policy and certificates; each target group its last 15
// minutes of AWS/ApplicationELB metrics (read by the UI API from the CloudWatch store).

import { h, clear, add, api, errorBox, badge, table, panel, kv, emptyState, link, number, seconds, dateTime } from "../util.js";
import { healthCounts, groupLink, targetsTable, pollable } from "../elb.js";

const POLL_MS = 5000;

export async function render(main) {
  const root = h("div");
  add(main, root);
  let controller = null;

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    let data, served;
    try {
      [data, served] = await Promise.all([
        api("/ui/api/load-balancers", {}, controller.signal),
        api("/_ecslite/elb/listeners", {}, controller.signal).catch((error) => {
          if (error.name === "AbortError") throw error;
          return {};
        }),
      ]);
    } catch (error) {
      if (error.name !== "AbortError") clear(root, errorBox(error));
      return;
    }
    draw(data, served);
  }

  function draw(data, served) {
    const lbs = data.loadBalancers;
    // Target lists the user opened stay open across redraws.
    const open = new Set([...root.querySelectorAll("details[open][data-targets-of]")].map((d) => d.dataset.targetsOf));
    clear(
      root,
      h("div.head", h("div", h("h1", "Load balancers"), h("div.muted.small", "ELBv2 load balancers, their listeners and rules, and the health of every target. ecslite serves each HTTP and HTTPS listener on this host, and shows each target group's traffic of the last 15 minutes."))),
    );
    if (!lbs.length && !data.unusedTargetGroups.length) {
      add(root, gettingStarted());
      return;
    }
    if (!lbs.length) add(root, h("p.muted", "No load balancer yet: target groups without one are not health-checked."));
    for (const lb of lbs) add(root, loadBalancerPanel(lb, served, data.now));
    if (data.unusedTargetGroups.length) {
      add(root, panel("Target groups no load balancer uses", groupsTable(data.unusedTargetGroups, data.now)));
    }
    for (const details of root.querySelectorAll("details[data-targets-of]")) details.open = open.has(details.dataset.targetsOf);
  }

  await load();
  const timer = setInterval(() => pollable(root) && load(), POLL_MS);
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

function loadBalancerPanel(lb, served, now) {
  return h(
    "section.panel",
    { "data-load-balancer": lb.name },
    h("h2", lb.name, " ", badge(lb.state), " ", badge(lb.scheme, "info")),
    kv([
      ["DNS name", h("span.mono", lb.dnsName)],
      ["Type", lb.type],
      ["VPC", h("span.mono", lb.vpcId)],
      ["Private addresses", lb.addresses.length ? h("span.mono", lb.addresses.join(", ")) : null],
      ["Account / region", `${lb.account} · ${lb.region}`],
    ]),
    lb.listeners.length
      ? lb.listeners.map((listener) => listenerView(listener, served[listener.listenerArn], lb))
      : h("p.muted", "No listener: nothing is served. Add one with aws elbv2 create-listener."),
    h("h3", "Target groups"),
    lb.targetGroups.length ? groupsTable(lb.targetGroups, now) : h("p.muted", "No rule forwards to a target group."),
    lb.targetGroups.length ? trafficView(lb) : null,
  );
}

// The last 15 minutes per target group; a group without requests yet says so instead of zeros.
function trafficView(lb) {
  const rows = lb.targetGroups.map((g) => ({ group: g, t: lb.traffic[g.targetGroupArn] }));
  const none = !rows.some((r) => r.t && r.t.hasTraffic);
  const hosts = (r) => (r.t && r.t.healthy !== null ? `${number(r.t.healthy)} / ${number(r.t.unhealthy)}` : "–");
  const traffic = (cell) => (r) => (r.t && r.t.hasTraffic ? cell(r.t) : h("span.muted", "–"));
  return h(
    "div",
    { "data-traffic": "" },
    h("h3", "Traffic, last 15 minutes"),
    none ? h("p.muted.small", { "data-no-traffic": "" }, "No traffic yet: requests through a listener appear here within a metrics period.") : null,
    table(
      [
        { title: "Target group", cell: (r) => h("span", { "data-traffic-group": r.group.name }, r.group.name) },
        { title: "Requests", num: true, cell: (r) => (r.t && r.t.hasTraffic ? h("span", { "data-requests": "" }, number(r.t.requests)) : h("span.muted", "no traffic yet")) },
        { title: "Per minute", num: true, cell: traffic((t) => number(t.requestsPerMinute)) },
        { title: "Target 4xx", num: true, cell: traffic((t) => h("span", { "data-4xx": "" }, number(t.target4xx))) },
        { title: "Target 5xx", num: true, cell: traffic((t) => h("span", { "data-5xx": "" }, number(t.target5xx))) },
        { title: "Avg response", num: true, cell: traffic((t) => seconds(t.responseTimeAverage)) },
        { title: "p99 response", num: true, cell: traffic((t) => seconds(t.responseTimeP99)) },
        { title: "Healthy / unhealthy hosts", num: true, cell: (r) => h("span", { "data-hosts": "" }, hosts(r)) },
      ],
      rows,
    ),
  );
}

function certificatesView(listener) {
  if (listener.protocol !== "HTTPS") return null;
  return h(
    "div.small",
    { "data-tls": "" },
    h("div", h("span.muted", "Security policy: "), h("span.mono", { "data-ssl-policy": "" }, listener.sslPolicy || "–")),
    listener.certificates.length
      ? table(
          [
            { title: "Certificate", cell: (c) => h("span", { "data-certificate": c.domain || "" }, c.domain || h("span.muted", c.missing ? "not in ACM" : "–"), c.isDefault ? [" ", badge("default", "info")] : null) },
            { title: "ARN", cls: "wrap", cell: (c) => h("span.mono", c.certificateArn) },
            { title: "Expires", cell: (c) => (c.notAfter ? h("time", { datetime: new Date(c.notAfter * 1000).toISOString() }, dateTime(c.notAfter)) : "–") },
          ],
          listener.certificates,
        )
      : h("p.muted", "No certificate."),
  );
}

function listenerView(listener, where, lb) {
  const urls = [];
  if (where) {
    const scheme = listener.protocol === "HTTPS" ? "https" : "http";
    urls.push(h("div", h("span.muted", "On this host: "), link(`${scheme}://${where.endpoint}/`, `${scheme}://${where.endpoint}/`, { class: "mono", "data-local-url": "" })));
    const inside = [`${lb.dnsName}:${listener.port}`, ...(where.privateEndpoints || [])];
    if (where.privateEndpoints && where.privateEndpoints.length) {
      urls.push(h("div", h("span.muted", "From tasks: "), h("span.mono", inside.map((u) => `${scheme}://${u}/`).join("  "))));
    }
  } else {
    urls.push(h("div.muted", ["HTTP", "HTTPS"].includes(listener.protocol) ? "Not served yet." : `Not served: ecslite serves HTTP and HTTPS listeners only.`));
  }
  return h(
    "div",
    { "data-listener": String(listener.port) },
    h("h3", `${listener.protocol} : ${listener.port}`),
    h("div.small", urls),
    certificatesView(listener),
    table(
      [
        { title: "Priority", cell: (r) => (r.isDefault ? h("span.muted", "default") : h("span.mono", r.priority)) },
        { title: "When", cls: "wrap", cell: (r) => r.conditions },
        { title: "Then", cls: "wrap", cell: (r) => h("div", r.actions.map((a) => h("div", a))) },
      ],
      listener.rules,
    ),
  );
}

function groupsTable(groups, now) {
  return table(
    [
      { title: "Target group", cell: (g) => h("div", groupLink(g), h("div.small.muted", `${g.protocol}:${g.port} · ${g.targetType}`)) },
      { title: "Health", cell: (g) => healthCounts(g.counts) },
      { title: "Targets", cls: "wrap", cell: (g) => (g.targets.length ? h("details", { dataset: { targetsOf: `${g.targetGroupArn}` } }, h("summary.small", `${g.targets.length} target${g.targets.length === 1 ? "" : "s"}`), targetsTable(g.targets, now)) : h("span.muted.small", "none registered")) },
    ],
    groups,
  );
}

function gettingStarted() {
  const endpoint = location.origin;
  const aws = `aws --endpoint-url ${endpoint}`;
  return emptyState(
    "No load balancers yet",
    "Create a target group, an application load balancer and a listener; ecslite serves the listener on this host and health-checks the targets. Then give a service loadBalancers [{targetGroupArn, containerName, containerPort: 8080}] and its tasks become targets.",
    [
      `${aws} elbv2 create-target-group --name web --protocol HTTP --port 8080 --target-type ip --health-check-path / --vpc-id $(${aws} ec2 describe-vpcs --query 'Vpcs[0].VpcId' --output text)`,
      `${aws} elbv2 create-load-balancer --name web --subnets $(${aws} ec2 describe-subnets --query 'Subnets[].SubnetId' --output text)`,
      `${aws} elbv2 create-listener --protocol HTTP --port 8080 --load-balancer-arn $(${aws} elbv2 describe-load-balancers --names web --query 'LoadBalancers[0].LoadBalancerArn' --output text) --default-actions Type=forward,TargetGroupArn=$(${aws} elbv2 describe-target-groups --names web --query 'TargetGroups[0].TargetGroupArn' --output text)`,
    ],
  );
}
