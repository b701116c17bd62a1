// Stacks: every CloudFormation stack of every account and region, newest first, with its status, its
// last change and what went wrong (its own reason, or the first resource that failed in its latest
// operation: a rolled-back stack's console shows no reason). One request (/_ecslite/stacks);
// refetched when a stack changes. "Show deleted" (?deleted=1) adds the deleted ones, last and greyed,
// each linking to its page by stack id (a name may have been reused by a newer stack).

import { h, clear, add, api, errorBox, table, link, ago, emptyState, localDateTime, lazyTitle, stackBadge, stackHref } from "../util.js";

export async function render(main, query) {
  const root = h("div");
  add(main, root);
  let controller = null;
  let showDeleted = query.get("deleted") === "1";

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    let data;
    try {
      data = await api("/_ecslite/stacks", showDeleted ? { deleted: "1" } : {}, controller.signal);
    } catch (error) {
      if (error.name !== "AbortError") clear(root, errorBox(error));
      return;
    }
    draw(data);
  }

  function toggleDeleted(event) {
    showDeleted = event.target.checked;
    const url = new URL(location.href);
    if (showDeleted) url.searchParams.set("deleted", "1");
    else url.searchParams.delete("deleted");
    history.replaceState(null, "", url);
    load();
  }

  function draw(data) {
    const toggle = h("label.small", h("input", { type: "checkbox", checked: showDeleted, on: { change: toggleDeleted } }), " Show deleted");
    clear(
      root,
      h("div.head", h("div", h("h1", "Stacks"), h("div.muted.small", "CloudFormation stacks: their resources are made through ecslite's own APIs, so a stack's service runs real tasks. Updates live.")), toggle),
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
  const when = (s) => s.deletedAt || s.lastEventAt || s.updatedAt;
  const deleted = (s) => s.status === "DELETE_COMPLETE";
  // Live stacks first, then the deleted ones; each part newest first, as the server sends them.
  const rows = [...stacks.filter((s) => !deleted(s)), ...stacks.filter(deleted)];
  const name = (s) =>
    deleted(s)
      ? h("div", { "data-stack": s.stackName, "data-deleted-stack": s.stackId }, link(`/ui/stack?id=${encodeURIComponent(s.stackId)}&region=${encodeURIComponent(s.region)}`, s.stackName, { title: s.stackId }), s.description ? h("div.small.muted", s.description) : null)
      : h("div", { "data-stack": s.stackName }, link(stackHref(s), s.stackName), s.description ? h("div.small.muted", s.description) : null);
  const element = table(
    [
      { title: "Name", cell: name },
      { title: "Status", cell: (s) => stackBadge(s.status) },
      { title: "Last update", cell: (s) => h("time.small.muted", { on: lazyTitle(() => localDateTime(when(s))) }, ago(when(s), now)) },
      { title: "Resources", num: true, cell: (s) => String(s.resourceCount) },
      { title: "Reason", cls: "wrap", cell: (s) => stackReason(s) },
      { title: "Account · region", cell: (s) => h("span.small.muted", `${s.account} · ${s.region}`) },
    ],
    rows,
  );
  element.querySelectorAll("tbody tr").forEach((tr, i) => tr.classList.toggle("stack-deleted", deleted(rows[i])));
  return element;
}

function stackReason(s) {
  const reason = s.reason || (s.failed ? s.failureReason : null);
  if (!reason) return "";
  return h(s.failed ? "div.small.stack-failure" : "div.small", reason);
}
