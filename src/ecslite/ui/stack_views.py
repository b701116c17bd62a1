"""CloudFormation stacks as ecslite shows them: for ``/_ecslite/stacks``, the CLI's ``ecslite stacks``
and the UI's stacks and stack pages.

- ``GET /_ecslite/stacks`` lists the live stacks of every partition (``region`` and ``account`` narrow
  it; ``deleted=1`` adds the deleted ones), newest first, each with its status, reason, last change
  and how many of its resources failed in its latest operation.
- ``GET /_ecslite/stacks/detail?stack=<name or stack id>`` gives one stack as DescribeStacks shows
  it, its resources (each with ``href``, the UI page of what it made, where the UI has one), its
  events newest first, and ``failures``: the resources that failed in the stack's latest operation
  with their reason and, for an ``AWS::ECS::Service``, what ECS knows of why (the service's recent
  events, its rollout's reason, its last failed tasks with their stopped reason, the exit code and
  reason of each failing container, where its logs are and its last lines of output).

A route of ecslite's own rather than CloudFormation's API: the failure detail joins the stack's
records with the ECS service's events and stopped tasks (a failed create leaves no physical id in
the stack, and the service is found by its name), which no CloudFormation call gives, and one
request serves a page or a ``--watch`` poll. The service part is the service page's own view
(:func:`ecslite.ui.ecs_views.service_detail`, :func:`~ecslite.ui.ecs_views.task_detail`).

A failing container's last lines (``lastOutput``) come from the runtime's copy of its output (the
file the awslogs feed reads), read on a worker thread: a create that rolls back deletes the stack's
log group, and with it the only record CloudFormation's console would point to.

Reads only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ecslite.clock import Clock
from ecslite.model.awslogs import parse_sourced_records
from ecslite.providers.cloudformation import views
from ecslite.store import stacks as stack_store
from ecslite.store.db import Database, loads
from ecslite.ui import ecs_views

Doc = dict[str, Any]

STACK_TYPE = "AWS::CloudFormation::Stack"
# Stack-level statuses that start an operation: failures before the newest of them are old news.
OPERATION_STARTS = ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "IMPORT_IN_PROGRESS")
FAILED_TASKS_SHOWN = 3
SERVICE_EVENTS_SHOWN = 5
OUTPUT_LINES = 10
OUTPUT_TAIL_BYTES = 16 * 1024
OutputPath = Callable[[str, str], Path]


def is_final(status: str) -> bool:
    """A status no operation is running in (``REVIEW_IN_PROGRESS`` waits for a change set, not for ecslite)."""
    return not status.endswith("_IN_PROGRESS") or status == "REVIEW_IN_PROGRESS"


def is_failure(status: str) -> bool:
    """A final stack status that means the latest operation did not do what was asked."""
    return status.endswith("_FAILED") or "ROLLBACK" in status


# -- links to ecslite's own pages ------------------------------------------------------------------


def _ui(path: str, arn: str) -> str:
    return f"/ui/{path}?arn={quote(arn, safe='')}"


def resource_href(resource: Doc) -> str | None:
    """The UI page of what a resource made, where the UI has one (task definitions and log groups
    have none: a service's page and a task's page show them)."""
    kind, physical = resource.get("ResourceType"), str(resource.get("PhysicalResourceId") or "")
    if not physical or str(resource.get("ResourceStatus", "")).startswith("DELETE_COMPLETE"):
        return None
    attributes = resource.get("_attributes") or {}
    if kind == "AWS::ECS::Cluster":
        return _ui("cluster", str(attributes.get("Arn") or physical))
    if kind == "AWS::ECS::Service" and physical.startswith("arn:"):
        return _ui("service", physical)
    if kind == "AWS::ElasticLoadBalancingV2::TargetGroup":
        return _ui("target-group", physical)
    if kind in ("AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::Listener"):
        return "/ui/load-balancers"
    return None


# -- reads -----------------------------------------------------------------------------------------


def _operation_failures(events: list[Doc]) -> list[Doc]:
    """The resource events of the stack's latest operation that failed, oldest first, one per resource
    (the first failure of each, the cause; a rollback's later failures are consequences)."""
    latest: list[Doc] = []
    for event in events:  # newest first
        if event.get("ResourceType") == STACK_TYPE and event.get("ResourceStatus") in OPERATION_STARTS:
            break
        latest.append(event)
    found: dict[str, Doc] = {}
    for event in reversed(latest):
        if event.get("ResourceType") == STACK_TYPE or not str(event.get("ResourceStatus", "")).endswith("_FAILED"):
            continue
        found.setdefault(str(event["LogicalResourceId"]), event)
    return list(found.values())


def summary(db: Database, account: str, region: str, doc: Doc) -> Doc:
    events = stack_store.events(db, doc["StackId"])
    failures = _operation_failures(events)
    return {
        "stackName": doc["StackName"],
        "stackId": doc["StackId"],
        "account": account,
        "region": region,
        "status": doc["StackStatus"],
        "reason": doc.get("StackStatusReason"),
        "description": doc.get("Description"),
        "createdAt": doc.get("CreationTime"),
        "updatedAt": doc.get("LastUpdatedTime") or doc.get("CreationTime"),
        "deletedAt": doc.get("DeletionTime"),
        "final": is_final(doc["StackStatus"]),
        "failed": is_final(doc["StackStatus"]) and is_failure(doc["StackStatus"]),
        "resourceCount": len(stack_store.resources(db, doc["StackId"])),
        "lastEventAt": events[0].get("Timestamp") if events else None,
        "failedResources": [f["LogicalResourceId"] for f in failures],
        # What went wrong, in one line: a rolled-back stack's own reason is gone by its final status.
        "failureReason": f"{failures[0]['LogicalResourceId']}: {failures[0].get('ResourceStatusReason') or ''}"
        if failures
        else None,
    }


def stacks(db: Database, *, account: str | None = None, region: str | None = None, deleted: bool = False) -> list[Doc]:
    """Stacks of every partition (or the one asked for), newest first."""
    sql, args = "SELECT account, region, doc FROM cfn_stacks WHERE 1=1", list[str]()
    if account:
        sql, args = sql + " AND account=?", [*args, account]
    if region:
        sql, args = sql + " AND region=?", [*args, region]
    if not deleted:
        sql, args = sql + " AND status!=?", [*args, stack_store.DELETED]
    rows = db.query(sql + " ORDER BY rid DESC", args)
    return [summary(db, row["account"], row["region"], loads(row["doc"])) for row in rows]


def find(db: Database, name_or_id: str, *, account: str | None = None, region: str | None = None) -> Doc | None:
    """``{account, region, doc}`` of a stack by id (also a deleted one) or by name (the newest live one)."""
    column = "stack_id" if name_or_id.startswith("arn:") else "name"
    sql, args = f"SELECT account, region, status, doc FROM cfn_stacks WHERE {column}=?", [name_or_id]
    if account:
        sql, args = sql + " AND account=?", [*args, account]
    if region:
        sql, args = sql + " AND region=?", [*args, region]
    rows = db.query(sql + " ORDER BY rid DESC", args)
    live = [r for r in rows if column == "stack_id" or r["status"] != stack_store.DELETED]
    if not live:
        return None
    return {"account": live[0]["account"], "region": live[0]["region"], "doc": loads(live[0]["doc"])}


def detail(db: Database, name_or_id: str, *, account: str | None = None, region: str | None = None) -> Doc | None:
    found = find(db, name_or_id, account=account, region=region)
    if found is None:
        return None
    doc, account, region = found["doc"], found["account"], found["region"]
    resources = stack_store.resources(db, doc["StackId"])
    events = stack_store.events(db, doc["StackId"])
    by_id = {r["LogicalResourceId"]: r for r in resources}
    failures = []
    for event in _operation_failures(events):
        resource = by_id.get(event["LogicalResourceId"], {})
        failure: Doc = {
            "logicalId": event["LogicalResourceId"],
            "type": event.get("ResourceType"),
            "status": event.get("ResourceStatus"),
            "reason": event.get("ResourceStatusReason"),
            "timestamp": event.get("Timestamp"),
        }
        if event.get("ResourceType") == "AWS::ECS::Service":
            props = resource.get("_props") or _event_props(events, event["LogicalResourceId"])
            failure["service"] = service_failure(db, account, region, doc, props, event)
        failures.append(failure)
    # A log group the stack deleted (a rolled-back create's) took the failing containers' logs along.
    gone = {
        r.get("PhysicalResourceId")
        for r in resources
        if r.get("ResourceType") == "AWS::Logs::LogGroup" and r.get("ResourceStatus") == "DELETE_COMPLETE"
    }
    for failure in failures:
        for task in (failure.get("service") or {}).get("stoppedTasks") or ():
            for container in task["containers"]:
                logs = container.get("logs") or {}
                if logs.get("kind") == "awslogs":
                    logs["groupDeleted"] = logs.get("group") in gone
    shown = views.stack(doc)
    return {
        "stack": {**summary(db, account, region, doc), "parameters": shown.get("Parameters") or []},
        "outputs": shown.get("Outputs") or [],
        "tags": shown.get("Tags") or [],
        "resources": [
            {
                "logicalId": r["LogicalResourceId"],
                "type": r.get("ResourceType"),
                "physicalId": r.get("PhysicalResourceId") or "",
                "status": r.get("ResourceStatus"),
                "reason": r.get("ResourceStatusReason"),
                "updatedAt": r.get("LastUpdatedTimestamp") or r.get("Timestamp"),
                "href": resource_href(r),
            }
            for r in resources
        ],
        "events": [
            {
                "eventId": e["EventId"],
                "timestamp": e.get("Timestamp"),
                "logicalId": e.get("LogicalResourceId"),
                "physicalId": e.get("PhysicalResourceId") or "",
                "type": e.get("ResourceType"),
                "status": e.get("ResourceStatus"),
                "reason": e.get("ResourceStatusReason"),
                "failed": str(e.get("ResourceStatus", "")).endswith("_FAILED"),
            }
            for e in events
        ],
        "failures": failures,
    }


# -- what ECS knows of a failed service --------------------------------------------------------------


def _event_props(events: list[Doc], logical_id: str) -> Doc:
    """The properties a resource was last being made with (a failed create's record has none)."""
    for event in events:
        if event.get("LogicalResourceId") == logical_id and event.get("ResourceProperties"):
            props = loads(event["ResourceProperties"])
            return props if isinstance(props, dict) else {}
    return {}


def _service_arn(db: Database, account: str, region: str, stack: Doc, props: Doc, event: Doc) -> str | None:
    """The service a resource made or tried to make: its physical id, else (a failed create records
    none) the service of its cluster with its template name or CloudFormation's generated one."""
    if str(event.get("PhysicalResourceId") or "").startswith("arn:aws:ecs:"):
        return str(event["PhysicalResourceId"])
    cluster = str(props.get("Cluster") or "default").rsplit("/", 1)[-1]
    where = "SELECT arn FROM services WHERE account=? AND region=? AND cluster=?"
    if props.get("ServiceName"):
        row = db.query_one(where + " AND name=? ORDER BY rid DESC", (account, region, cluster, props["ServiceName"]))
    else:
        prefix = f"{stack['StackName']}-{event['LogicalResourceId']}-"
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        row = db.query_one(
            where + " AND name LIKE ? ESCAPE '\\' ORDER BY rid DESC", (account, region, cluster, escaped + "%")
        )
    return str(row["arn"]) if row else None


def service_failure(db: Database, account: str, region: str, stack: Doc, props: Doc, event: Doc) -> Doc | None:
    """The service page's view of a failed service, cut to why it failed."""
    arn = _service_arn(db, account, region, stack, props, event)
    found = ecs_views.service_detail(db, arn) if arn else None
    if found is None:
        return None
    service = found["service"]
    stopped = found["stoppedTasks"]
    failing = [t for t in stopped if ecs_views.is_failing(t)] or stopped
    deployments = service.get("deployments") or []
    reasons = [d.get("rolloutStateReason") for d in deployments if d.get("rolloutState") == "FAILED"]
    # After the breaker's rollback the failed deployment is gone from the service: its service
    # deployment (DescribeServiceDeployments, newest first) keeps why it ended.
    reasons += [_ended_why(d) for d in found["serviceDeployments"]]
    return {
        "serviceArn": service["serviceArn"],
        "serviceName": service["serviceName"],
        "cluster": found["cluster"],
        "status": service.get("status"),
        "href": _ui("service", service["serviceArn"]),
        "rolloutReason": next((r for r in reasons if r), None),
        "events": [
            {"createdAt": e.get("createdAt"), "message": e.get("message")}
            for e in (service.get("events") or [])[:SERVICE_EVENTS_SHOWN]
        ],
        "stoppedTasks": [_failed_task(db, t) for t in failing[:FAILED_TASKS_SHOWN]],
    }


def _ended_why(record: Doc) -> str | None:
    """Why a service deployment did not succeed, in one line (None when it did, or runs)."""
    breaker = record.get("deploymentCircuitBreaker") or {}
    if breaker.get("status") == "TRIGGERED":
        text = (
            f"ECS deployment circuit breaker triggered: {breaker.get('failureCount')} of "
            f"{breaker.get('threshold')} tasks failed"
        )
        rollback = (record.get("rollback") or {}).get("reason")
        return f"{text}; {rollback}" if rollback else f"{text}."
    if record.get("status") in ("SUCCESSFUL", "IN_PROGRESS", "PENDING", "ROLLBACK_REQUESTED"):
        return None
    return str(record["statusReason"]) if record.get("statusReason") else None


def _failed_task(db: Database, brief: Doc) -> Doc:
    task = ecs_views.task_detail(db, brief["taskId"])
    logs = {c["name"]: c.get("logs") for c in (task or {}).get("containers") or ()}
    containers = []
    for container in brief["containers"]:
        if container.get("exitCode") in (0, None) and not container.get("reason"):
            continue
        containers.append(
            {
                "name": container["name"],
                "exitCode": container.get("exitCode"),
                "reason": container.get("reason"),
                "logs": logs.get(container["name"]),
            }
        )
    return {
        "taskArn": brief["taskArn"],
        "taskId": brief["taskId"],
        "cluster": brief["cluster"],
        "href": f"/ui/task?id={quote(brief['taskId'], safe='')}",
        "stoppedAt": brief.get("stoppedAt"),
        "stopCode": brief.get("stopCode"),
        "stoppedReason": brief.get("stoppedReason"),
        "containers": containers,
    }


def output_tail(path: Path, lines: int = OUTPUT_LINES) -> list[dict[str, Any]]:
    """The last ``lines`` records of a container's output file (``{timestamp, source, message}``)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            start = max(0, size - OUTPUT_TAIL_BYTES)
            handle.seek(start)
            data = handle.read()
    except OSError:
        return []
    if start:
        data = data[data.find(b"\n") + 1 :]  # the first record read may be cut
    records, _used = parse_sourced_records(data)
    return [{"timestamp": ts, "source": source, "message": line} for ts, source, line in records[-lines:]]


async def add_output(found: Doc, output_path: OutputPath | None) -> None:
    """Each failing container's last lines of output, where the runtime keeps it."""
    containers = [
        (task["taskId"], container)
        for failure in found["failures"]
        for task in ((failure.get("service") or {}).get("stoppedTasks") or ())
        for container in task["containers"]
    ]
    for task_id, container in containers:
        path = output_path(task_id, container["name"]) if output_path else None
        container["lastOutput"] = await asyncio.to_thread(output_tail, path) if path else []


def routes(db: Database, clock: Clock, output_path: OutputPath | None = None) -> list[Route]:
    async def listing(request: Request) -> Response:
        params = request.query_params
        found = stacks(
            db,
            account=params.get("account") or None,
            region=params.get("region") or None,
            deleted=params.get("deleted", "").lower() in ("1", "true", "yes"),
        )
        return JSONResponse({"now": clock.now(), "stacks": found})

    async def one(request: Request) -> Response:
        params = request.query_params
        name = params.get("stack", "")
        if not name:
            return JSONResponse({"message": "Give the stack's name or id as stack."}, 400)
        found = detail(db, name, account=params.get("account") or None, region=params.get("region") or None)
        if found is None:
            return JSONResponse({"message": f"Stack with id {name} does not exist"}, 404)
        await add_output(found, output_path)
        return JSONResponse({"now": clock.now(), **found})

    return [
        Route("/_ecslite/stacks", listing, methods=["GET"]),
        Route("/_ecslite/stacks/detail", one, methods=["GET"]),
    ]
