// Stacks: every CloudFormation stack of every account and region, newest first, with its status, its
// last change and what went wrong (its own reason, or the first resource that failed in its latest
// operation: a rolled-back stack's console shows no reason). One request (/_ecslite/stacks);
// refetched when a stack changes.

import { h, clear, add, api, errorBox, table, link, ago, emptyState, localDateTime, lazyTitle } from "../util.js";
import { stackBadge, stackHref } from "../stack-util.js";

export async function render(main) {
  const root = h("div");
  add(main, root);
  let controller = null;

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    let data;
    try {
      data = await api("/_ecslite/stacks", {}, controller.signal);
    } catch (error) {
      if (error.name !== "AbortError") clear(root, errorBox(error));
      return;
    }
    draw(data);
  }

  function draw(data) {
    clear(
      root,
      h("div.head", h("div", h("h1", "Stacks"), h("div.muted.small", "CloudFormation stacks: their resources are made through ecslite's own APIs, so a stack's service runs real tasks. Updates live."))),
    );
    if (!data.stacks.length) {
      add(
        root,
        emptyState("No stacks yet", "Deploy a template with the AWS CLI pointed at ecslite:", [
          `aws --endpoint-url ${location.origin} cloudformation deploy --stack-name web --template-file web.yaml --capabilities CAPABILITY_IAM`,
        ]),
      );
      return;
    }
    add(root, h("section.panel", stacksTable(data.stacks, data.now)));
  }

  await load();
  return {
    onChange: (change) => {
      if (change.kinds.some((k) => k === "*" || k === "stack")) load();
    },
    dispose: () => controller && controller.abort(),
  };
}

function stacksTable(stacks, now) {
  const when = (s) => s.lastEventAt || s.updatedAt;
  return table(
    [
      { title: "Name", cell: (s) => h("div", { "data-stack": s.stackName }, link(stackHref(s), s.stackName), s.description ? h("div.small.muted", s.description) : null) },
      { title: "Status", cell: (s) => stackBadge(s.status) },
      { title: "Last update", cell: (s) => h("time.small.muted", { on: lazyTitle(() => localDateTime(when(s))) }, ago(when(s), now)) },
      { title: "Resources", num: true, cell: (s) => String(s.resourceCount) },
      { title: "Reason", cls: "wrap", cell: (s) => stackReason(s) },
      { title: "Account · region", cell: (s) => h("span.small.muted", `${s.account} · ${s.region}`) },
    ],
    stacks,
  );
}

function stackReason(s) {
  const reason = s.reason || (s.failed ? s.failureReason : null);
  if (!reason) return "";
  return h(s.failed ? "div.small.stack-failure" : "div.small", reason);
}
