"""State and helpers shared by Application Auto Scaling's groups of operations.

ecslite scales ECS services: ``ServiceNamespace ecs``, ``ScalableDimension ecs:service:DesiredCount``,
``ResourceId service/<cluster>/<service>`` (spec/ecs.md §6.1). A target tracking policy's alarms are
ordinary CloudWatch alarms, created and deleted through the CloudWatch provider so that
DescribeAlarms shows them as CloudWatch does.
"""

from __future__ import annotations

import uuid
from typing import Any

from ecslite.clock import Clock
from ecslite.model.arns import service_arn
from ecslite.providers.autoscaling import errors
from ecslite.providers.base import RequestContext
from ecslite.providers.cloudwatch.provider import CloudWatchProvider
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.store import autoscaling as as_store
from ecslite.store import services as svc_store
from ecslite.store.db import Database

ECS = "ecs"
ECS_DIMENSION = "ecs:service:DesiredCount"
ROLE = (
    "arn:aws:iam::{account}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_ECSService"
)
PAGE = 50


def policy_arn(ctx: RequestContext, key: as_store.TargetKey, name: str) -> str:
    return (
        f"arn:aws:autoscaling:{ctx.region}:{ctx.account}:scalingPolicy:{uuid.uuid4()}:"
        f"resource/{key.namespace}/{key.resource_id}:policyName/{name}"
    )


def action_arn(ctx: RequestContext, key: as_store.TargetKey, name: str) -> str:
    return (
        f"arn:aws:autoscaling:{ctx.region}:{ctx.account}:scheduledAction:{uuid.uuid4()}:"
        f"resource/{key.namespace}/{key.resource_id}:scheduledActionName/{name}"
    )


def target_arn(ctx: RequestContext) -> str:
    return f"arn:aws:application-autoscaling:{ctx.region}:{ctx.account}:scalable-target/{uuid.uuid4().hex}0a1b"


def service_of(resource_id: str) -> tuple[str, str] | None:
    """``(cluster, service)`` of ``service/<cluster>/<service>``."""
    parts = resource_id.split("/")
    if len(parts) != 3 or parts[0] != "service" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


class AutoscalingBase:
    """Holds the store, the clock and the CloudWatch provider (for target tracking alarms)."""

    def __init__(self, db: Database, clock: Clock, cloudwatch: CloudWatchProvider) -> None:
        self.db = db
        self.clock = clock
        self.cloudwatch = cloudwatch

    def now(self) -> float:
        return round(self.clock.now(), 3)

    def target_key(self, ctx: RequestContext, params: dict[str, Any]) -> as_store.TargetKey:
        """The target a request names, after the namespace, dimension and resource id agree (§6.1)."""
        namespace, dimension, resource_id = (
            params["ServiceNamespace"],
            params["ScalableDimension"],
            params["ResourceId"],
        )
        if namespace != ECS:
            raise errors.ValidationException(errors.OTHER_NAMESPACE)
        if dimension != ECS_DIMENSION or service_of(resource_id) is None:
            raise errors.ValidationException(errors.UNSUPPORTED)
        return as_store.TargetKey(ctx.account, ctx.region, namespace, resource_id, dimension)

    def ecs_service(self, key: as_store.TargetKey) -> dict[str, Any] | None:
        """The ACTIVE ECS service a target scales, or ``None``."""
        found = service_of(key.resource_id)
        if found is None:
            return None
        doc = svc_store.get(self.db, service_arn(key.region, key.account, found[0], found[1]))
        return doc if doc is not None and doc.get("status") == "ACTIVE" else None

    def require_target(self, key: as_store.TargetKey) -> dict[str, Any]:
        doc = as_store.get_target(self.db, key)
        if doc is None:
            raise errors.ObjectNotFoundException(
                errors.NO_TARGET.format(namespace=key.namespace, resource_id=key.resource_id, dimension=key.dimension)
            )
        return doc

    @staticmethod
    def page_args(params: dict[str, Any]) -> tuple[Any, int]:
        after = decode_token(params.get("NextToken"), lambda _: errors.InvalidNextTokenException())
        limit = params.get("MaxResults")
        if limit is not None and not 1 <= limit <= PAGE:
            raise errors.ValidationException(
                f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy constraint: "
                f"Member must have value less than or equal to {PAGE}"
            )
        return after, int(limit or PAGE)

    @staticmethod
    def token(key: Any) -> str:
        return encode_token(key)
