"""Services, deployments, service deployments and revisions as the API shows them (spec/ecs.md §4.3,
§4.11), built from the stored documents and, for every count, from the task rows at the moment of
the call: ``runningCount``/``pendingCount`` are never stored, so they are always true to the tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecslite.model.deployments import breaker_threshold
from ecslite.model.services import (
    FINISHED_SERVICE_DEPLOYMENT,
    DeploymentStatus,
    MonitorStatus,
    ServiceDeploymentStatus,
    public,
)
from ecslite.providers.ecs.express_managed import express_of, managed_resources, management_type
from ecslite.store import services as svc_store
from ecslite.store import tags as tag_store
from ecslite.store.db import Database

# Members of the stored service document that DescribeServices shows as they are.
_SERVICE_MEMBERS = (
    "serviceArn",
    "serviceName",
    "clusterArn",
    "loadBalancers",
    "serviceRegistries",
    "status",
    "desiredCount",
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "platformFamily",
    "taskDefinition",
    "deploymentConfiguration",
    "roleArn",
    "createdAt",
    "createdBy",
    "currentServiceDeployment",
    "placementConstraints",
    "placementStrategy",
    "networkConfiguration",
    "healthCheckGracePeriodSeconds",
    "schedulingStrategy",
    "deploymentController",
    "enableECSManagedTags",
    "propagateTags",
    "enableExecuteCommand",
    "availabilityZoneRebalancing",
)


def service_view(db: Database, doc: Mapping[str, Any], *, include_tags: bool) -> dict[str, Any]:
    account, region, cluster = _partition(doc)
    counts = svc_store.task_counts(db, account, region, cluster, doc["serviceName"])
    view: dict[str, Any] = {key: doc[key] for key in _SERVICE_MEMBERS if key in doc}
    view["runningCount"] = sum(c.running for c in counts.values())
    view["pendingCount"] = sum(c.pending for c in counts.values())
    deployments = [deployment_view(doc, d, counts) for d in doc.get("deployments") or ()]
    view["deployments"] = deployments
    view["currentServiceRevisions"] = [
        {
            "arn": stored["_revisionArn"],
            "requestedTaskCount": shown["desiredCount"],
            "runningTaskCount": shown["runningCount"],
            "pendingTaskCount": shown["pendingCount"],
        }
        for stored, shown in zip(doc.get("deployments") or (), deployments, strict=True)
    ]
    view["events"] = svc_store.events(db, doc["serviceArn"])
    view["tags"] = [{"key": k, "value": v} for k, v in tag_store.get(db, doc["serviceArn"])] if include_tags else []
    view["resourceManagementType"] = management_type(db, doc)
    if "taskSets" in doc:  # EXTERNAL services (§4.11, providers.ecs.task_sets)
        view["taskSets"] = [
            {**{k: v for k, v in ts.items() if not k.startswith("_")}, "startedBy": ts["id"]} for ts in doc["taskSets"]
        ]
    return view


def deployment_view(
    service: Mapping[str, Any], deployment: Mapping[str, Any], counts: Mapping[str, svc_store.Counts]
) -> dict[str, Any]:
    """A ``deployments[]`` item: the PRIMARY wants the service's desired count; an ACTIVE one's desired
    count shrinks with its live tasks as it is scaled in (§4.3)."""
    view = public(deployment)
    count = counts.get(deployment["id"], svc_store.Counts())
    view["runningCount"] = count.running
    view["pendingCount"] = count.pending
    if deployment["status"] == DeploymentStatus.PRIMARY:
        view["desiredCount"] = service["desiredCount"]
    else:
        view["desiredCount"] = count.running + count.pending
    return view


def service_deployment_view(db: Database, doc: Mapping[str, Any], service: Mapping[str, Any] | None) -> dict[str, Any]:
    """A ServiceDeployment: counts from the tasks while it runs, as recorded once it finished."""
    view = public(doc)
    finished = doc["status"] in FINISHED_SERVICE_DEPLOYMENT
    if not finished and service is not None:
        counts = svc_store.revision_counts(db, service)
        target = doc["targetServiceRevision"]["arn"]
        view["targetServiceRevision"] = svc_store.revision_summary(target, counts, int(service["desiredCount"]))
        view["sourceServiceRevisions"] = [
            svc_store.revision_summary(item["arn"], counts) for item in doc.get("sourceServiceRevisions") or ()
        ]
    view["deploymentCircuitBreaker"] = _breaker_view(doc, service)
    view["alarms"] = _alarms_view(doc)
    return view


def _alarms_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """ServiceDeploymentAlarms: what the deployment alarms' watch recorded (``control.service_alarms``);
    MONITORING until the deployment ends, then MONITORING_COMPLETE unless TRIGGERED or DISABLED."""
    config = (doc.get("deploymentConfiguration") or {}).get("alarms") or {}
    if not config.get("enable") or not config.get("alarmNames"):
        return {"status": MonitorStatus.DISABLED.value}
    finished = doc["status"] in FINISHED_SERVICE_DEPLOYMENT
    shown: dict[str, Any] = dict(doc.get("_alarms") or {"alarmNames": list(config["alarmNames"])})
    if shown.get("status") in (None, MonitorStatus.MONITORING):
        # Also a watch the deployment's end left MONITORING (the circuit breaker failed it, say).
        shown["status"] = (MonitorStatus.MONITORING_COMPLETE if finished else MonitorStatus.MONITORING).value
    return shown


def _breaker_view(doc: Mapping[str, Any], service: Mapping[str, Any] | None) -> dict[str, Any]:
    breaker = (doc.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    if not breaker.get("enable"):
        return {"status": MonitorStatus.DISABLED.value, "failureCount": 0, "threshold": 0}
    recorded = doc.get("_breaker") or {}
    failures = int(recorded.get("failureCount", 0))
    desired = int(service["desiredCount"]) if service is not None else 0
    threshold = int(recorded.get("threshold") or breaker_threshold(desired, breaker.get("thresholdConfiguration")))
    if recorded.get("status"):
        status = recorded["status"]
    elif doc["status"] in FINISHED_SERVICE_DEPLOYMENT:
        status = MonitorStatus.MONITORING_COMPLETE.value
    else:
        status = MonitorStatus.MONITORING.value
    if service is not None and doc["status"] == ServiceDeploymentStatus.IN_PROGRESS:
        for deployment in service.get("deployments") or ():
            if deployment.get("_serviceDeploymentArn") == doc["serviceDeploymentArn"]:
                failures = int(deployment.get("failedTasks", 0))
    return {"status": status, "failureCount": failures, "threshold": threshold}


def revision_view(db: Database, doc: Mapping[str, Any]) -> dict[str, Any]:
    """A ServiceRevision; an Express service's also lists what Express Mode manages for it."""
    view = public(doc)
    # A service no longer stored is INACTIVE: its revisions still show what Express Mode managed.
    service = svc_store.get(db, doc["serviceArn"]) or {"serviceArn": doc["serviceArn"]}
    express = express_of(db, service)
    if express is not None:
        view["ecsManagedResources"] = managed_resources(db, express)
    return view


def _partition(doc: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(account, region, cluster)`` from a service ARN ``arn:aws:ecs:<region>:<account>:service/<cluster>/<name>``."""
    parts = doc["serviceArn"].split(":", 5)
    cluster = parts[5].split("/")[1]
    return parts[4], parts[3], cluster
