"""What the UI shows of ECS state: the overview, a service and a task, read from the state store.

Reads only, on the event loop thread (the store's rule: one connection, sub-millisecond statements);
every count comes from the task rows at the moment of the request, through the same helpers the
ECS provider uses (``store.services.task_counts``, ``providers.ecs.service_views``), so the UI
never disagrees with ``DescribeServices``. Every partition (account, region) is shown.

Payloads are plain JSON: timestamps stay epoch seconds as the API has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ecslite.model.arns import parse_arn
from ecslite.model.container_ordering import parse_dependencies
from ecslite.model.deployments import breaker_threshold
from ecslite.model.tasks import TIMESTAMP_ORDER, StopCode
from ecslite.providers.ecs.service_views import deployment_view, service_deployment_view, service_view
from ecslite.store import clusters as cluster_store
from ecslite.store import services as svc_store
from ecslite.store import tags as tag_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Database, loads

Doc = dict[str, Any]

RECENT_EVENTS = 40
FAILING_TASKS = 25
FAILING_SCAN = 500  # newest stopped tasks looked at for failures (historical tasks beyond are old news)
SERVICE_STOPPED_TASKS = 20
SERVICE_DEPLOYMENTS = 10


# -- pure rules --------------------------------------------------------------------------------


def is_failing(task: Mapping[str, Any]) -> bool:
    """A stopped task the overview lists as a failure (spec/ecs.md §3.3, §3.5, §3.6).

    Failures: a start failure; an essential exit with a non-zero exit code or a
    container reason such as OOM; a scheduler stop for failed health checks. A user's StopTask, a
    scale-in and an essential container that finished with 0 are not failures.
    """
    if task.get("lastStatus") != "STOPPED":
        return False
    code = task.get("stopCode")
    if code == StopCode.TASK_FAILED_TO_START:
        return True
    if code == StopCode.ESSENTIAL_CONTAINER_EXITED:
        return any(
            c.get("exitCode") not in (0, None) or bool(c.get("reason"))
            for c in task.get("containers") or ()
            if c.get("lastStatus") == "STOPPED"
        )
    if code == StopCode.SERVICE_SCHEDULER_INITIATED:
        return "health check" in str(task.get("stoppedReason") or "")
    return code == StopCode.INFRASTRUCTURE_HEALTH


def rollout_health(view: Mapping[str, Any]) -> str:
    """One word for a service's state: ``failed``, ``deploying``, ``degraded``, ``steady`` or ``inactive``."""
    if view.get("status") != "ACTIVE":
        return "inactive" if view.get("status") == "INACTIVE" else "draining"
    deployments = view.get("deployments") or []
    primary = deployments[0] if deployments else {}
    if primary.get("rolloutState") == "FAILED":
        return "failed"
    if primary.get("rolloutState") == "IN_PROGRESS" or len(deployments) > 1:
        return "deploying"
    if view.get("runningCount", 0) < view.get("desiredCount", 0):
        return "degraded"
    return "steady"


def start_order(containers: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Containers in ``dependsOn`` layers: each layer starts once the layers before it allow (§2.6).

    A container's layer is one more than its deepest dependency's; a cycle (registration rejects
    them) puts the containers involved in a last layer rather than looping.
    """
    names = [str(c["name"]) for c in containers]
    needs = {str(c["name"]): [d.target for d in parse_dependencies(c.get("dependsOn"))] for c in containers}
    depth: dict[str, int] = {}
    remaining = list(names)
    while remaining:
        progressed = False
        for name in list(remaining):
            targets = [t for t in needs[name] if t in needs]
            if all(t in depth for t in targets):
                depth[name] = 1 + max((depth[t] for t in targets), default=-1)
                remaining.remove(name)
                progressed = True
        if not progressed:
            last = 1 + max(depth.values(), default=-1)
            for name in remaining:
                depth[name] = last
            break
    layers: list[list[str]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
    for name in names:
        layers[depth[name]].append(name)
    return layers


def timeline(task: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The task's §3.2 timestamps and each container's start and finish, in time order."""
    marks: list[dict[str, Any]] = [
        {"at": float(task[name]), "what": name, "container": None} for name in TIMESTAMP_ORDER if task.get(name)
    ]
    if task.get("connectivityAt"):
        marks.append({"at": float(task["connectivityAt"]), "what": "connectivityAt", "container": None})
    run = (task.get("_run") or {}).get("containers") or {}
    for name, times in sorted(run.items()):
        for key in ("startedAt", "signalledAt", "killedAt", "finishedAt"):
            if times.get(key):
                marks.append({"at": float(times[key]), "what": key, "container": name})
    marks.sort(key=lambda m: (m["at"], TIMESTAMP_ORDER.index(m["what"]) if m["what"] in TIMESTAMP_ORDER else 9))
    return marks


# -- reads ---------------------------------------------------------------------------------------


def partition_of(arn: str) -> tuple[str, str, str]:
    """``(account, region, cluster)`` of a service or task ARN (long format, §1.5)."""
    parsed = parse_arn(arn)
    if parsed is None or len(parsed.resource_path) < 2:
        raise ValueError(f"not a service or task ARN: {arn}")
    return parsed.account, parsed.region, parsed.resource_path[0]


def _service_summary(db: Database, doc: Mapping[str, Any]) -> Doc:
    account, region, cluster = partition_of(doc["serviceArn"])
    counts = svc_store.task_counts(db, account, region, cluster, doc["serviceName"])
    deployments = [deployment_view(doc, d, counts) for d in doc.get("deployments") or ()]
    summary: Doc = {
        "serviceArn": doc["serviceArn"],
        "serviceName": doc["serviceName"],
        "cluster": cluster,
        "account": account,
        "region": region,
        "status": doc["status"],
        "desiredCount": doc.get("desiredCount", 0),
        "runningCount": sum(c.running for c in counts.values()),
        "pendingCount": sum(c.pending for c in counts.values()),
        "taskDefinition": doc.get("taskDefinition"),
        "launchType": doc.get("launchType"),
        "deployments": [
            {k: d.get(k) for k in ("id", "status", "rolloutState", "rolloutStateReason", "failedTasks", "runningCount")}
            for d in deployments
        ],
        "lastEvent": svc_store.latest_event(db, doc["serviceArn"]),
    }
    summary["health"] = rollout_health(summary)
    return summary


def _task_brief(doc: Mapping[str, Any]) -> Doc:
    account, region, cluster = partition_of(doc["taskArn"])
    spec = doc.get("_spec") or {}
    return {
        "taskArn": doc["taskArn"],
        "taskId": doc["taskArn"].rsplit("/", 1)[-1],
        "cluster": cluster,
        "account": account,
        "region": region,
        "group": doc.get("group"),
        "service": spec.get("serviceName"),
        "family": spec.get("family"),
        "taskDefinitionArn": doc.get("taskDefinitionArn"),
        "lastStatus": doc.get("lastStatus"),
        "desiredStatus": doc.get("desiredStatus"),
        "healthStatus": doc.get("healthStatus"),
        "startedBy": doc.get("startedBy"),
        "createdAt": doc.get("createdAt"),
        "startedAt": doc.get("startedAt"),
        "stoppedAt": doc.get("stoppedAt"),
        "stopCode": doc.get("stopCode"),
        "stoppedReason": doc.get("stoppedReason"),
        "containers": [
            {k: c.get(k) for k in ("name", "lastStatus", "exitCode", "reason", "healthStatus")}
            for c in doc.get("containers") or ()
        ],
    }


def overview(db: Database) -> Doc:
    """Clusters, services with their health, recent events across services, recent failing tasks."""
    clusters = []
    for row in db.query("SELECT account, region, doc FROM clusters WHERE status != 'INACTIVE' ORDER BY rid"):
        doc = loads(row["doc"])
        counts = cluster_store.counts(db, row["account"], row["region"], doc["clusterName"])
        clusters.append(
            {
                "clusterArn": doc["clusterArn"],
                "clusterName": doc["clusterName"],
                "account": row["account"],
                "region": row["region"],
                "status": doc["status"],
                "runningTasksCount": counts["running"],
                "pendingTasksCount": counts["pending"],
                "activeServicesCount": counts["activeServices"],
                "registeredContainerInstancesCount": counts["instances"],
            }
        )
    services = [
        _service_summary(db, loads(row["doc"]))
        for row in db.query("SELECT doc FROM services WHERE status != 'INACTIVE' ORDER BY rid")
    ]
    events = [
        {
            "serviceArn": row["service_arn"],
            "serviceName": row["service_arn"].rsplit("/", 1)[-1],
            "id": row["id"],
            "createdAt": row["created_at"],
            "message": row["message"],
        }
        for row in db.query(
            "SELECT service_arn, id, created_at, message FROM service_events ORDER BY rid DESC LIMIT ?",
            (RECENT_EVENTS,),
        )
    ]
    failing: list[Doc] = []
    for row in db.query("SELECT doc FROM tasks WHERE last_status='STOPPED' ORDER BY rid DESC LIMIT ?", (FAILING_SCAN,)):
        doc = loads(row["doc"])
        if is_failing(doc):
            failing.append(_task_brief(doc))
            if len(failing) >= FAILING_TASKS:
                break
    failing.sort(key=lambda t: t.get("stoppedAt") or 0, reverse=True)
    live = db.query_one("SELECT COUNT(*) AS n FROM tasks WHERE last_status != 'STOPPED'")
    return {
        "clusters": clusters,
        "services": services,
        "events": events,
        "failingTasks": failing,
        "liveTasks": int(live["n"]) if live else 0,
    }


def family_of(task_definition: str | None) -> str:
    """The family of a task definition ARN or ``family:revision``."""
    return str(task_definition or "").rsplit("/", 1)[-1].split(":")[0]


def live_services(db: Database) -> list[Doc]:
    """``{serviceArn, serviceName, cluster, family}`` of every ACTIVE or DRAINING service."""
    out = []
    for row in db.query("SELECT cluster, doc FROM services WHERE status != 'INACTIVE' ORDER BY rid"):
        doc = loads(row["doc"])
        out.append(
            {
                "serviceArn": doc["serviceArn"],
                "serviceName": doc["serviceName"],
                "cluster": row["cluster"],
                "family": family_of(doc.get("taskDefinition")),
            }
        )
    return out


def service_detail(db: Database, arn: str) -> Doc | None:
    """The service as DescribeServices shows it, its deployment history with the circuit breaker,
    its live tasks and its most recently stopped ones."""
    doc = svc_store.get(db, arn)
    if doc is None:
        return None
    account, region, cluster = partition_of(arn)
    view = service_view(db, doc, include_tags=True)
    view["health"] = rollout_health(view)
    breaker = ((doc.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker")) or {}
    history = svc_store.service_deployment_page(
        db, svc_store.DeploymentFilter(service_arn=arn), after=None, limit=SERVICE_DEPLOYMENTS
    )
    live = svc_store.task_docs(db, account, region, cluster, doc["serviceName"])
    stopped = [
        loads(row["doc"])
        for row in db.query(
            """SELECT doc FROM tasks WHERE account=? AND region=? AND cluster=? AND service_name=?
               AND last_status='STOPPED' ORDER BY rid DESC LIMIT ?""",
            (account, region, cluster, doc["serviceName"], SERVICE_STOPPED_TASKS),
        )
    ]
    family = family_of(doc.get("taskDefinition"))
    return {
        "service": view,
        "cluster": cluster,
        "account": account,
        "region": region,
        "family": family,
        "circuitBreaker": {
            "enable": bool(breaker.get("enable")),
            "rollback": bool(breaker.get("rollback")),
            "threshold": breaker_threshold(int(doc.get("desiredCount") or 0), None) if breaker.get("enable") else 0,
        },
        "serviceDeployments": [service_deployment_view(db, d, doc) for _rid, d in history],
        "tasks": [_task_brief(t) for t in live],
        "stoppedTasks": [_task_brief(t) for t in stopped],
    }


def log_source(container: Mapping[str, Any], task: Mapping[str, Any]) -> Doc:
    """Where a container's output can be read: its awslogs stream, or the runtime's output record."""
    config = container.get("logConfiguration") or {}
    driver = config.get("logDriver")
    streams = (task.get("_run") or {}).get("logStreams") or {}
    stream = streams.get(container["name"])
    if driver == "awslogs" and stream:
        return {"kind": "awslogs", "driver": driver, **{k: str(v) for k, v in stream.items()}}
    return {"kind": "output", "driver": driver}


def task_detail(db: Database, task_id: str) -> Doc | None:
    """A task with its containers, their definitions (dependsOn, essential, health check), start
    order, timeline, metadata and where each container's logs are."""
    arn = task_store.arn_of(db, task_id)
    doc = task_store.get(db, arn) if arn else None
    if doc is None or arn is None:
        return None
    account, region, cluster = partition_of(arn)
    spec_containers = (doc.get("_spec") or {}).get("containers") or []
    by_name = {str(c["name"]): c for c in spec_containers}
    run = (doc.get("_run") or {}).get("containers") or {}
    containers = []
    for container in doc.get("containers") or ():
        spec = by_name.get(container["name"], {})
        check = spec.get("healthCheck") or {}
        containers.append(
            {
                **container,
                "essential": spec.get("essential", True),
                "dependsOn": spec.get("dependsOn") or [],
                "healthCheckCommand": check.get("command"),
                "logs": log_source(spec, doc) if spec else {"kind": "output", "driver": None},
                "startedAt": (run.get(container["name"]) or {}).get("startedAt"),
                "finishedAt": (run.get(container["name"]) or {}).get("finishedAt"),
            }
        )
    public = task_store.public_view(doc)
    public["tags"] = [{"key": k, "value": v} for k, v in tag_store.get(db, arn)]
    return {
        "task": public,
        "brief": _task_brief(doc),
        "account": account,
        "region": region,
        "cluster": cluster,
        "containers": containers,
        "startOrder": start_order(spec_containers),
        "timeline": timeline(doc),
    }
