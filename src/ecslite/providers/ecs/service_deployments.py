"""Service history (spec/ecs.md §4.11): ListServiceDeployments, DescribeServiceDeployments,
DescribeServiceRevisions, StopServiceDeployment and ContinueServiceDeployment.

Service deployments and revisions are written when a deployment starts (CreateService,
UpdateService, a circuit-breaker rollback) and kept with their service until its name is reused.
ARNs are ``…:service-deployment/<cluster>/<service>/<id>`` and ``…:service-revision/<cluster>/<service>/<id>``;
one of another partition, or unknown, is a ``MISSING`` failure.

StopServiceDeployment (stopType ``ROLLBACK``, the only one ECS documents as valid) only records the
request: a ``PENDING`` or ``IN_PROGRESS`` service deployment goes ``ROLLBACK_REQUESTED`` and the
service controller starts the rollback to the last completed deployment at its next step
(``control.service_outcomes``); one already stopping or rolling back is left to carry on.
"""

from __future__ import annotations

from typing import Any

from ecslite.model.arns import parse_arn, service_arn
from ecslite.model.blue_green import HookAction, HookStatus
from ecslite.model.services import (
    FINISHED_SERVICE_DEPLOYMENT,
    ROLLBACK_REQUESTED_REASON,
    ControllerType,
    DeploymentStatus,
    RolloutState,
    ServiceDeploymentStatus,
    ServiceStatus,
)
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import (
    ClientException,
    ConflictException,
    InvalidParameterException,
    ServiceDeploymentNotFoundException,
    ServiceNotFoundException,
    UnsupportedFeatureException,
)
from ecslite.providers.ecs.service_views import revision_view, service_deployment_view
from ecslite.providers.pagination import encode_token
from ecslite.store import services as svc_store

MAX_DESCRIBE_HISTORY = 20
DEFAULT_DEPLOYMENTS_PAGE = 20
ARNS_EMPTY = "{member} cannot be empty."
ARNS_TOO_MANY = "{member} can have at most {limit} items."
# StopServiceDeployment's refusals. ECS documents which states can be stopped, not its messages:
# every text below is unverified, and so is the choice of ConflictException for a service
# deployment that finished or has no earlier revision to return to.
STOP_TYPE_INVALID = "The stopType {stop_type} is not supported. The valid value is ROLLBACK."
STOP_FINISHED = "The service deployment {arn} cannot be stopped because it is {status}."
STOP_NO_PREVIOUS = (
    "The service deployment {arn} cannot be rolled back because its service has no earlier completed "
    "service revision to roll back to."
)
STOP_SERVICE_NOT_ACTIVE = "The service deployment {arn} cannot be stopped because its service is {status}."
STOP_NOT_CURRENT = "The service deployment {arn} cannot be stopped because it is not the service's current deployment."
STOP_CONTROLLER = (
    "Stopping a service deployment is not supported for services with the {controller} deployment controller."
)
# ContinueServiceDeployment's refusals (unverified wording and exception types).
HOOK_UNKNOWN = "The lifecycle hook {hook} was not found in the service deployment {arn}."
HOOK_NOT_AWAITING = "The lifecycle hook {hook} is not awaiting action; its status is {status}."
# States in which a stop is accepted without a change: the service deployment is already stopping
# or rolling back and carries on (developer guide, "Stopping Amazon ECS service deployments").
_CARRIES_ON = frozenset(
    {
        ServiceDeploymentStatus.STOP_REQUESTED,
        ServiceDeploymentStatus.ROLLBACK_REQUESTED,
        ServiceDeploymentStatus.ROLLBACK_IN_PROGRESS,
    }
)


class ServiceDeploymentOps(EcsBase):
    """The history operations, and the service lookups they share with ServiceOps (which extends this)."""

    def _find_service(self, ctx: RequestContext, cluster: dict[str, Any], ref: str) -> dict[str, Any] | None:
        """A service of ``cluster`` by name or ARN (long ``service/<cluster>/<name>`` or old ``service/<name>``)."""
        name = self.ref_id(ctx, ref, "service", cluster=cluster["clusterName"], lengths=(1, 2))
        if name is None:
            return None
        return svc_store.get(self.db, service_arn(ctx.region, ctx.account, cluster["clusterName"], name))

    def list_service_deployments(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        service = self._find_service(ctx, cluster, params["service"])
        if service is None:
            raise ServiceNotFoundException()
        after, limit = self.page_args(params, default=DEFAULT_DEPLOYMENTS_PAGE, maximum=100)
        if after is not None and not isinstance(after, int):
            raise InvalidParameterException("Invalid nextToken.")
        created = params.get("createdAt") or {}
        where = svc_store.DeploymentFilter(
            service_arn=service["serviceArn"],
            statuses=tuple(ServiceDeploymentStatus(s).value for s in params.get("status") or ()),
            created_after=_epoch(created.get("after")),
            created_before=_epoch(created.get("before")),
        )
        rows = svc_store.service_deployment_page(self.db, where, after, limit + 1)
        briefs = []
        for _, doc in rows[:limit]:
            brief: dict[str, Any] = {
                key: doc[key]
                for key in (
                    "serviceDeploymentArn",
                    "serviceArn",
                    "clusterArn",
                    "startedAt",
                    "createdAt",
                    "finishedAt",
                    "status",
                    "statusReason",
                )
                if key in doc
            }
            brief["targetServiceRevisionArn"] = doc["targetServiceRevision"]["arn"]
            briefs.append(brief)
        result: dict[str, Any] = {"serviceDeployments": briefs}
        if len(rows) > limit:
            result["nextToken"] = encode_token(rows[limit - 1][0])
        return result

    def describe_service_deployments(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arns = _checked_arns(params["serviceDeploymentArns"], "serviceDeploymentArns")
        found, failures = [], []
        for arn in arns:
            doc = svc_store.get_service_deployment(self.db, arn) if _ours(ctx, arn, "service-deployment") else None
            if doc is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            service = svc_store.get(self.db, doc["serviceArn"])
            found.append(service_deployment_view(self.db, doc, service))
        return {"serviceDeployments": found, "failures": failures}

    def describe_service_revisions(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arns = _checked_arns(params["serviceRevisionArns"], "serviceRevisionArns")
        found, failures = [], []
        for arn in arns:
            doc = svc_store.get_revision(self.db, arn) if _ours(ctx, arn, "service-revision") else None
            if doc is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(revision_view(self.db, doc))
        return {"serviceRevisions": found, "failures": failures}

    def stop_service_deployment(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = params["serviceDeploymentArn"]
        # The model allows ABORT too; ECS documents ROLLBACK as the only valid value, and its
        # default when omitted (unverified: taken to be ROLLBACK).
        stop_type = params.get("stopType") or "ROLLBACK"
        if stop_type != "ROLLBACK":
            raise InvalidParameterException(STOP_TYPE_INVALID.format(stop_type=stop_type))
        with self.db.transaction():
            record = svc_store.get_service_deployment(self.db, arn) if _ours(ctx, arn, "service-deployment") else None
            if record is None:
                raise ServiceDeploymentNotFoundException()
            status = ServiceDeploymentStatus(record["status"])
            if status in _CARRIES_ON:
                return {"serviceDeploymentArn": arn}
            if status in FINISHED_SERVICE_DEPLOYMENT:
                raise ConflictException(STOP_FINISHED.format(arn=arn, status=status.value))
            _check_stoppable(arn, svc_store.get(self.db, record["serviceArn"]))
            record.update(
                status=ServiceDeploymentStatus.ROLLBACK_REQUESTED.value,
                statusReason=ROLLBACK_REQUESTED_REASON,
                updatedAt=self.now(),
            )
            # Its change wakes the service controller, which starts the rollback (§4.11).
            svc_store.put_service_deployment(self.db, record)
        return {"serviceDeploymentArn": arn}

    def continue_service_deployment(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        """A PAUSE hook the deployment waits at (``lifecycleHookDetails``, status AWAITING_ACTION) is
        resolved: ``CONTINUE`` (the default) lets the deployment go on, ``ROLLBACK`` rolls it back. The
        service controller acts on it at its next step (``control.service_blue_green``)."""
        arn, hook_id = params["serviceDeploymentArn"], params["hookId"]
        action = params.get("action") or HookAction.CONTINUE.value
        with self.db.transaction():
            record = svc_store.get_service_deployment(self.db, arn) if _ours(ctx, arn, "service-deployment") else None
            if record is None:
                raise ServiceDeploymentNotFoundException()
            details = record.get("lifecycleHookDetails") or []
            detail = next((d for d in details if d.get("hookId") == hook_id), None)
            if detail is None:
                raise InvalidParameterException(HOOK_UNKNOWN.format(hook=hook_id, arn=arn))
            finished = record["status"] in FINISHED_SERVICE_DEPLOYMENT
            if detail["status"] != HookStatus.AWAITING_ACTION or finished:
                raise ClientException(HOOK_NOT_AWAITING.format(hook=hook_id, status=detail["status"]))
            rollback = action == HookAction.ROLLBACK
            # A hook rolled back by hand is shown FAILED, like a Lambda hook that failed (unverified).
            detail["status"] = (HookStatus.FAILED if rollback else HookStatus.SUCCEEDED).value
            detail["_action"] = action
            record["updatedAt"] = self.now()
            # Its change wakes the service controller, which moves on or rolls back.
            svc_store.put_service_deployment(self.db, record)
        return {"serviceDeploymentArn": arn}


def _check_stoppable(arn: str, service: dict[str, Any] | None) -> None:
    """A PENDING or IN_PROGRESS service deployment can be rolled back when it is what its ACTIVE
    service is rolling out and an earlier deployment completed (the revision to return to)."""
    if service is None or service["status"] != ServiceStatus.ACTIVE:
        status = service["status"] if service is not None else ServiceStatus.INACTIVE.value
        raise ConflictException(STOP_SERVICE_NOT_ACTIVE.format(arn=arn, status=status))
    controller = service["deploymentController"]["type"]
    if controller != ControllerType.ECS:
        raise UnsupportedFeatureException(STOP_CONTROLLER.format(controller=controller))
    primary = next((d for d in service.get("deployments") or () if d["status"] == DeploymentStatus.PRIMARY), None)
    if (
        primary is None
        or primary.get("_serviceDeploymentArn") != arn
        or primary["rolloutState"] != RolloutState.IN_PROGRESS
    ):
        raise ConflictException(STOP_NOT_CURRENT.format(arn=arn))
    if not service.get("_lastCompleted"):
        raise ConflictException(STOP_NO_PREVIOUS.format(arn=arn))


def _checked_arns(arns: list[str], member: str) -> list[str]:
    if not arns:
        raise InvalidParameterException(ARNS_EMPTY.format(member=member))
    if len(arns) > MAX_DESCRIBE_HISTORY:
        raise InvalidParameterException(ARNS_TOO_MANY.format(member=member, limit=MAX_DESCRIBE_HISTORY))
    return arns


def _ours(ctx: RequestContext, arn: str, kind: str) -> bool:
    """An ECS ``kind`` ARN of the caller's partition with a ``<cluster>/<service>/<id>`` path."""
    parsed = parse_arn(arn)
    return (
        parsed is not None
        and (parsed.service, parsed.region, parsed.account) == ("ecs", ctx.region, ctx.account)
        and parsed.resource_type == kind
        and len(parsed.resource_path) == 3
    )


def _epoch(value: Any) -> float | None:
    """A ``createdAt`` bound (the protocol layer parses timestamps to epoch seconds)."""
    return None if value is None else float(value)
