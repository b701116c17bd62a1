// What the stacks page and the stack page share: the colour of a CloudFormation status (failures
// red, work under way amber, as the CloudFormation console shows them) and the stack page's address.

import { badge } from "./util.js";

export function stackTone(status) {
  const text = String(status || "");
  if (text.endsWith("_FAILED") || (/^(UPDATE_)?ROLLBACK/.test(text) && text.endsWith("_COMPLETE"))) return "err";
  if (text.endsWith("_IN_PROGRESS")) return "warn";
  if (text.startsWith("DELETE_")) return "";
  return text.endsWith("_COMPLETE") ? "ok" : "";
}

export function stackBadge(status) {
  return badge(status, stackTone(status));
}

export function stackHref(stack) {
  return `/ui/stack?name=${encodeURIComponent(stack.stackName)}&region=${encodeURIComponent(stack.region)}`;
}
