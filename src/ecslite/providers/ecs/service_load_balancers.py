"""CreateService/UpdateService: a service's ``loadBalancers`` against the ELBv2 target groups in the
store (spec/ecs.md §4.1, §7.4).

Checked after the shape rules of ``service_validation.check_load_balancers`` (count, container and
port of the task definition), for every entry with a ``targetGroupArn``:

- the group exists in the caller's account and region (ECS answers with its role-validation text,
  which is what a wrong ARN gets on AWS; one sentence after it says what was missing);
- the group is used by a listener or rule of some load balancer;
- its target type fits the task definition's network mode: ``ip`` for ``awsvpc``, ``instance``
  otherwise (``host``/``bridge``), ECS's own texts. ``lambda``/``alb`` groups fit nothing.

Classic Load Balancer entries (``loadBalancerName``) are stored as given: ecslite has no Classic
Load Balancers to check them against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ecslite.providers.base import RequestContext
from ecslite.providers.ecs.errors import InvalidParameterException
from ecslite.store import elbv2 as elb_store
from ecslite.store.db import Database

TARGET_GROUP_UNKNOWN = (
    "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role "
    "being passed has the proper permissions. No target group {arn} exists in this account and region."
)
NO_LOAD_BALANCER = "The target group with targetGroupArn {arn} does not have an associated load balancer."
TARGET_TYPE_MISMATCH = (
    "The provided target group {arn} has target type {target_type}, which is incompatible with the {mode} network "
    "mode specified in the task definition."
)


def check_target_groups(
    db: Database, ctx: RequestContext, items: Sequence[Mapping[str, Any]], definition: Mapping[str, Any]
) -> None:
    mode = str(definition.get("networkMode") or "bridge")
    for item in items:
        arn = item.get("targetGroupArn")
        if not arn:
            continue
        arn = str(arn)
        group = elb_store.get_target_group(db, arn) if _in_partition(ctx, arn) else None
        if group is None:
            raise InvalidParameterException(TARGET_GROUP_UNKNOWN.format(arn=arn))
        if not group.get("LoadBalancerArns"):
            raise InvalidParameterException(NO_LOAD_BALANCER.format(arn=arn))
        target_type = str(group.get("TargetType") or "instance")
        wanted = "ip" if mode == "awsvpc" else "instance"
        if target_type != wanted:
            raise InvalidParameterException(TARGET_TYPE_MISMATCH.format(arn=arn, target_type=target_type, mode=mode))


def _in_partition(ctx: RequestContext, arn: str) -> bool:
    parts = arn.split(":")
    return len(parts) >= 6 and parts[2] == "elasticloadbalancing" and parts[3] == ctx.region and parts[4] == ctx.account
