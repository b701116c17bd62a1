"""RegisterTargets, DeregisterTargets, DescribeTargetHealth: the API over ``control.target_groups``.

A target's port defaults to the group's; an ip target must be in one of the group's VPC subnets
(or name ``AvailabilityZone: all``). DescribeTargetHealth lists every registered target, or the
named ones (``unused``/``Target.NotRegistered`` for those not registered); ``HealthCheckPort`` is
the target's port under ``traffic-port``.
"""

from __future__ import annotations

from ecslite.control import target_groups as targets
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.elbv2 import errors
from ecslite.providers.elbv2.common import Doc, ElbBase
from ecslite.store import elbv2 as store

MAX_TARGETS = 1000


class TargetOps(ElbBase):
    def _specs(self, group: Doc, params: Params) -> list[targets.TargetSpec]:
        specs = []
        for item in params["Targets"]:
            port = item.get("Port", group["Port"])
            specs.append(targets.TargetSpec(item["Id"], port, item.get("AvailabilityZone")))
        return specs

    def register_targets(self, ctx: RequestContext, params: Params) -> Doc:
        group = self.target_group(ctx, params["TargetGroupArn"])
        specs = self._specs(group, params)
        fresh = {(s.id, s.port) for s in specs} - {
            (t.id, t.port) for t in store.targets_of(self.db, group["TargetGroupArn"])
        }
        if store.count_targets(self.db, group["TargetGroupArn"]) + len(fresh) > MAX_TARGETS:
            raise errors.ElbError(
                "TooManyTargets", f"You've reached the limit on the number of targets per target group: '{MAX_TARGETS}'"
            )
        self.prepare(ctx)
        try:
            targets.register(self.db, group["TargetGroupArn"], specs, self.now())
        except targets.InvalidTarget as refused:
            raise errors.ElbError(refused.code, refused.message) from None
        return {}

    def deregister_targets(self, ctx: RequestContext, params: Params) -> Doc:
        group = self.target_group(ctx, params["TargetGroupArn"])
        specs = self._specs(group, params)
        missing = [s for s in specs if store.get_target(self.db, group["TargetGroupArn"], s.id, s.port) is None]
        if missing:
            listed = ", ".join(f"Id={s.id},Port={s.port}" for s in missing)
            raise errors.ElbError(
                "InvalidTarget",
                f"The following targets are not registered in target group '{group['TargetGroupArn']}': {listed}",
            )
        targets.deregister(self.db, group["TargetGroupArn"], specs, self.now())
        return {}

    def describe_target_health(self, ctx: RequestContext, params: Params) -> Doc:
        group = self.target_group(ctx, params["TargetGroupArn"])
        arn = group["TargetGroupArn"]
        rows = {(t.id, t.port): t for t in store.targets_of(self.db, arn)}
        wanted = self._specs(group, params) if params.get("Targets") else None
        out = []
        if wanted is None:
            out = [_description(group, row) for row in rows.values()]
        else:
            for spec in wanted:
                row = rows.get((spec.id, spec.port))
                if row is not None:
                    out.append(_description(group, row))
                    continue
                state, reason, description = targets.NOT_REGISTERED
                out.append(
                    {
                        "Target": {"Id": spec.id, "Port": spec.port},
                        "HealthCheckPort": _check_port(group, spec.port),
                        "TargetHealth": {"State": state, "Reason": reason, "Description": description},
                    }
                )
        return {"TargetHealthDescriptions": out}


def _check_port(group: Doc, port: int) -> str:
    configured = str(group["HealthCheckPort"])
    return str(port) if configured == "traffic-port" else configured


def _description(group: Doc, row: store.TargetRow) -> Doc:
    target: Doc = {"Id": row.id, "Port": row.port}
    if row.zone:
        target["AvailabilityZone"] = row.zone
    health: Doc = {"State": row.state}
    if row.reason:
        health["Reason"] = row.reason
    if row.description:
        health["Description"] = row.description
    return {"Target": target, "HealthCheckPort": _check_port(group, row.port), "TargetHealth": health}
