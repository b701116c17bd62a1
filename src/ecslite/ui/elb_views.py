"""The UI's reads of ELBv2 state (spec/ecs.md §7, §7.5 "Beyond ECS"): load balancers with their
listeners and rules in evaluation order, target groups with every target's state and last health
check, and which task each target is.

Everything is read from the state store on the event loop, as :mod:`ecslite.ui.ecs_views` does;
nothing is written. Rules are described in words here (one place, unit-tested) so the pages only
lay them out. A target is matched to a task by the targets the task registered while ACTIVATING
(``_run.activation``, as ECS registered it: ip or instance id and port), else, for an ``ip`` target
someone registered by hand, by the task holding that address in the target's VPC.

Invariants: a listener's rules come in evaluation order (by priority, the default rule last); a
target group's targets in registration order; ``lastCheck`` is None until the group's first check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ecslite.control.task_activation import activation_of, targets_of
from ecslite.providers.elbv2.actions import CONDITION_CONFIG
from ecslite.providers.elbv2.load_balancers import PROVISIONING_SECONDS
from ecslite.store import elbv2 as elb_store
from ecslite.store.db import Database, loads
from ecslite.ui import elb_traffic

Doc = dict[str, Any]
TargetKey = tuple[str, str, int]

HEALTH_SETTINGS = (
    "HealthCheckEnabled",
    "HealthCheckProtocol",
    "HealthCheckPort",
    "HealthCheckPath",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
)
TARGET_STATES = ("healthy", "initial", "unhealthy", "draining", "unused", "unavailable")


# -- rules in words ------------------------------------------------------------------------------


def _quoted(values: Iterable[Any]) -> str:
    return " or ".join(f'"{v}"' for v in values)


def describe_condition(condition: Mapping[str, Any]) -> str:
    """One rule condition as a phrase: ``path is "/api/*" or "/v2/*"``."""
    field = str(condition.get("Field"))
    config = condition.get(CONDITION_CONFIG.get(field, "")) or {}
    values = list(config.get("Values") or condition.get("Values") or [])
    if field == "host-header":
        return f"host is {_quoted(values)}"
    if field == "path-pattern":
        return f"path is {_quoted(values)}"
    if field == "http-header":
        return f"header {config.get('HttpHeaderName')} is {_quoted(values)}"
    if field == "http-request-method":
        return f"method is {' or '.join(str(v) for v in values)}"
    if field == "query-string":
        pairs = [f"{p['Key']}={p['Value']}" if p.get("Key") else f"={p.get('Value')}" for p in values]
        return f"query has {_quoted(pairs)}"
    if field == "source-ip":
        return f"source address in {' or '.join(str(v) for v in values)}"
    return f"{field} is {_quoted(values)}"


def describe_conditions(conditions: Iterable[Mapping[str, Any]]) -> str:
    """All of a rule's conditions (every one must match); the default rule's are none."""
    parts = [describe_condition(c) for c in conditions]
    return "If " + " and ".join(parts) if parts else "Otherwise (default rule)"


def describe_action(action: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """One action as a phrase; ``names`` gives target group names by ARN."""
    kind = action.get("Type")
    if kind == "forward":
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or [
            {"TargetGroupArn": action.get("TargetGroupArn"), "Weight": 1}
        ]
        named = [names.get(str(g["TargetGroupArn"]), str(g["TargetGroupArn"]).rsplit("/", 2)[-2]) for g in groups]
        if len(groups) == 1:
            return f"forward to {named[0]}"
        total = sum(int(g.get("Weight", 1)) for g in groups) or 1
        shares = [f"{n} ({round(100 * int(g.get('Weight', 1)) / total)}%)" for n, g in zip(named, groups, strict=True)]
        return "forward to " + ", ".join(shares)
    if kind == "fixed-response":
        config = action.get("FixedResponseConfig") or {}
        body = config.get("MessageBody")
        return f"answer {config.get('StatusCode')}" + (f' "{body}"' if body else "")
    if kind == "redirect":
        config = action.get("RedirectConfig") or {}
        code = str(config.get("StatusCode", "")).removeprefix("HTTP_")
        where = "{}://{}:{}{}".format(
            config.get("Protocol", "#{protocol}"),
            config.get("Host", "#{host}"),
            config.get("Port", "#{port}"),
            config.get("Path", "/#{path}"),
        )
        query = config.get("Query", "#{query}")
        return f"redirect ({code}) to {where}" + (f"?{query}" if query else "")
    return str(kind)


def describe_check(check: Mapping[str, Any] | None) -> str:
    """A last check in words: ``HTTP 200 in 3 ms`` or ``timeout after 2000 ms``."""
    if not check:
        return "not checked yet"
    latency = f"{float(check.get('latencyMs') or 0):.0f} ms"
    if check.get("status") is not None:
        return f"HTTP {check['status']} in {latency}"
    return f"{check.get('error') or 'failed'} after {latency}"


# -- which task a target is ----------------------------------------------------------------------


def _brief(task: Mapping[str, Any]) -> Doc:
    spec = task.get("_spec") or {}
    return {
        "taskArn": task["taskArn"],
        "taskId": str(task["taskArn"]).rsplit("/", 1)[-1],
        "lastStatus": task.get("lastStatus"),
        "service": spec.get("serviceName"),
        "cluster": str(spec.get("clusterArn", "")).rsplit("/", 1)[-1],
    }


def task_targets(db: Database, group_arns: set[str]) -> dict[TargetKey, Doc]:
    """``(group, id, port) → task`` for the targets live tasks registered in ``group_arns``."""
    out: dict[TargetKey, Doc] = {}
    for row in db.query("SELECT doc FROM tasks WHERE last_status != 'STOPPED' ORDER BY rid"):
        task = loads(row["doc"])
        attachments = activation_of(task)
        if attachments is None or not any(lb.get("targetGroupArn") in group_arns for lb in attachments.load_balancers):
            continue
        for target in targets_of(db, task, attachments):
            if target.target_group_arn in group_arns:
                out[(target.target_group_arn, target.id, target.port)] = _brief(task)
    return out


def _task_at(db: Database, vpc_id: str, address: str) -> Doc | None:
    row = db.query_one(
        """SELECT t.doc FROM network_interfaces n JOIN tasks t ON t.arn = n.task_arn
           WHERE n.address=? AND n.vpc_id=? AND n.kind != ?""",
        (address, vpc_id, elb_store.ADDRESS_KIND),
    )
    return _brief(loads(row["doc"])) if row else None


def _target_view(
    db: Database, group: Mapping[str, Any], target: elb_store.TargetRow, tasks: Mapping[TargetKey, Doc]
) -> Doc:
    task = tasks.get((target.target_group_arn, target.id, target.port))
    if task is None and group.get("TargetType") == "ip":
        task = _task_at(db, str(group.get("VpcId")), target.id)
    return {
        "id": target.id,
        "port": target.port,
        "zone": target.zone,
        "state": target.state,
        "reason": target.reason,
        "description": target.description,
        "registeredAt": target.registered_at,
        "drainUntil": target.drain_until,
        "lastCheck": target.last_check,
        "lastCheckText": describe_check(target.last_check) if target.last_check else None,
        "task": task,
    }


# -- target groups -------------------------------------------------------------------------------


def _counts(targets: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(TARGET_STATES, 0)
    for target in targets:
        counts[target["state"]] = counts.get(target["state"], 0) + 1
    return {state: n for state, n in counts.items() if n}


def _group_view(db: Database, group: Mapping[str, Any], tasks: Mapping[TargetKey, Doc]) -> Doc:
    arn = str(group["TargetGroupArn"])
    targets = [_target_view(db, group, t, tasks) for t in elb_store.targets_of(db, arn)]
    return {
        "targetGroupArn": arn,
        "name": group["TargetGroupName"],
        "protocol": group.get("Protocol"),
        "port": group.get("Port"),
        "targetType": group.get("TargetType"),
        "vpcId": group.get("VpcId"),
        "matcher": (group.get("Matcher") or {}).get("HttpCode"),
        "health": {key: group.get(key) for key in HEALTH_SETTINGS},
        "loadBalancerArns": list(group.get("LoadBalancerArns") or ()),
        "targets": targets,
        "counts": _counts(targets),
    }


def target_group_detail(db: Database, arn: str) -> Doc | None:
    """A target group's settings and attributes, the load balancers using it, and every target."""
    group = elb_store.get_target_group(db, arn)
    partition = elb_store.target_group_partition(db, arn)
    if group is None or partition is None:
        return None
    view = _group_view(db, group, task_targets(db, {arn}))
    load_balancers = [elb_store.get_load_balancer(db, lb) for lb in view["loadBalancerArns"]]
    return {
        "account": partition[0],
        "region": partition[1],
        "targetGroup": view,
        "attributes": elb_store.target_group_attributes(db, arn),
        "loadBalancers": [
            {"loadBalancerArn": lb["LoadBalancerArn"], "name": lb["LoadBalancerName"], "dnsName": lb.get("DNSName")}
            for lb in load_balancers
            if lb is not None
        ],
    }


def service_target_groups(db: Database, service: Mapping[str, Any]) -> list[Doc]:
    """The target groups of a service's ``loadBalancers``, each with every target and its task."""
    arns = [str(lb["targetGroupArn"]) for lb in service.get("loadBalancers") or () if lb.get("targetGroupArn")]
    unique = list(dict.fromkeys(arns))
    tasks = task_targets(db, set(unique))
    out = []
    for arn in unique:
        group = elb_store.get_target_group(db, arn)
        if group is not None:
            view = _group_view(db, group, tasks)
            view["containers"] = [
                f"{lb.get('containerName')}:{lb.get('containerPort')}"
                for lb in service.get("loadBalancers") or ()
                if lb.get("targetGroupArn") == arn
            ]
            out.append(view)
        else:
            out.append({"targetGroupArn": arn, "name": arn.rsplit("/", 2)[-2], "missing": True, "targets": []})
    return out


# -- load balancers ------------------------------------------------------------------------------


def _listener_view(db: Database, listener: Mapping[str, Any], names: Mapping[str, str]) -> Doc:
    rules = []
    for rule in elb_store.rules_of(db, str(listener["ListenerArn"])):
        actions = list(rule.get("Actions") or ())
        rules.append(
            {
                "ruleArn": rule["RuleArn"],
                "priority": rule.get("Priority"),
                "isDefault": bool(rule.get("IsDefault")),
                "conditions": describe_conditions(rule.get("Conditions") or ()),
                "actions": [describe_action(a, names) for a in actions],
                "targetGroupArns": [
                    g["TargetGroupArn"]
                    for a in actions
                    for g in (a.get("ForwardConfig") or {}).get("TargetGroups") or ()
                ],
            }
        )
    return {
        "listenerArn": listener["ListenerArn"],
        "protocol": listener.get("Protocol"),
        "port": listener.get("Port"),
        "sslPolicy": listener.get("SslPolicy"),
        "certificates": elb_traffic.certificates(db, listener),
        "rules": rules,
    }


def state_of(lb: Mapping[str, Any], now: float) -> str | None:
    """The state DescribeLoadBalancers shows at ``now``: ``active`` once provisioning time has passed
    (the API writes that on its next read; the UI only reads)."""
    code = (lb.get("State") or {}).get("Code")
    if code == "provisioning" and now - float(lb.get("CreatedTime") or now) >= PROVISIONING_SECONDS:
        return "active"
    return str(code) if code is not None else None


def load_balancers(db: Database, now: float) -> Doc:
    """Every load balancer of every partition with its listeners, rules in evaluation order, and the
    target groups they forward to; and the target groups no listener uses."""
    groups = {str(g["TargetGroupArn"]): g for g in elb_store.all_target_groups(db)}
    names = {arn: str(g["TargetGroupName"]) for arn, g in groups.items()}
    tasks = task_targets(db, set(groups))
    views = {arn: _group_view(db, g, tasks) for arn, g in groups.items()}
    out = []
    for row in db.query("SELECT account, region, doc FROM elb_load_balancers ORDER BY rid"):
        lb = loads(row["doc"])
        arn = str(lb["LoadBalancerArn"])
        listeners = [_listener_view(db, listener, names) for listener in elb_store.listeners_of(db, arn)]
        used = [g for g, view in views.items() if arn in view["loadBalancerArns"]]
        out.append(
            {
                "loadBalancerArn": arn,
                "name": lb["LoadBalancerName"],
                "account": row["account"],
                "region": row["region"],
                "scheme": lb.get("Scheme"),
                "type": lb.get("Type"),
                "state": state_of(lb, now),
                "dnsName": lb.get("DNSName"),
                "vpcId": lb.get("VpcId"),
                "addresses": elb_store.load_balancer_addresses(db, arn),
                "listeners": listeners,
                "targetGroups": [views[g] for g in used],
                "traffic": {g: elb_traffic.group_traffic(db, arn, g, now) for g in used},
            }
        )
    unused = [view for view in views.values() if not view["loadBalancerArns"]]
    return {"loadBalancers": out, "unusedTargetGroups": unused}
