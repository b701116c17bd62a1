"""Service history (spec/ecs.md §4.11): ListServiceDeployments, DescribeServiceDeployments,
DescribeServiceRevisions.

Service deployments and revisions are written when a deployment starts (CreateService,
UpdateService, a circuit-breaker rollback) and kept with their service until its name is reused.
ARNs are ``…:service-deployment/<cluster>/<service>/<id>`` and ``…:service-revision/<cluster>/<service>/<id>``;
one of another partition, or unknown, is a ``MISSING`` failure.
"""

from __future__ import annotations

from typing import Any

from ecslite.model.arns import parse_arn, service_arn
from ecslite.model.services import ServiceDeploymentStatus
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import InvalidParameterException, ServiceNotFoundException
from ecslite.providers.ecs.service_views import revision_view, service_deployment_view
from ecslite.providers.pagination import encode_token
from ecslite.store import services as svc_store

MAX_DESCRIBE_HISTORY = 20
DEFAULT_DEPLOYMENTS_PAGE = 20
ARNS_EMPTY = "{member} cannot be empty."
ARNS_TOO_MANY = "{member} can have at most {limit} items."


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
                found.append(revision_view(doc))
        return {"serviceRevisions": found, "failures": failures}


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
