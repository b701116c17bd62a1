"""Target groups and their attributes: defaults and ranges of §7.2.

Creating a group again with the same name and settings returns the existing group; other settings
are ``DuplicateTargetGroupName``. A group in use by a listener or rule cannot be deleted
(``ResourceInUse``). ``LoadBalancerArns`` is derived from what forwards to the group.
"""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.elbv2 import errors
from ecslite.providers.elbv2.common import Doc, ElbBase, check_name, elb_arn, new_id, paged
from ecslite.providers.elbv2.matcher import parse_matcher
from ecslite.store import elbv2 as store
from ecslite.store import vpc as vpc_store

HEALTH_DEFAULTS: Doc = {
    "HealthCheckProtocol": "HTTP",
    "HealthCheckPort": "traffic-port",
    "HealthCheckEnabled": True,
    "HealthCheckIntervalSeconds": 30,
    "HealthCheckTimeoutSeconds": 6,
    "HealthyThresholdCount": 5,
    "UnhealthyThresholdCount": 2,
    "HealthCheckPath": "/",
    "Matcher": {"HttpCode": "200"},
}
HEALTH_KEYS = tuple(HEALTH_DEFAULTS)

DEFAULT_ATTRIBUTES: dict[str, str] = {
    "deregistration_delay.timeout_seconds": "300",
    "slow_start.duration_seconds": "0",
    "load_balancing.algorithm.type": "round_robin",
    "load_balancing.algorithm.anomaly_mitigation": "off",
    "load_balancing.cross_zone.enabled": "use_load_balancer_configuration",
    "stickiness.enabled": "false",
    "stickiness.type": "lb_cookie",
    "stickiness.lb_cookie.duration_seconds": "86400",
    "stickiness.app_cookie.cookie_name": "",
    "stickiness.app_cookie.duration_seconds": "86400",
    "target_group_health.dns_failover.minimum_healthy_targets.count": "1",
    "target_group_health.dns_failover.minimum_healthy_targets.percentage": "off",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": "1",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "off",
}


def _int_in(low: int, high: int, zero_ok: bool = False) -> Any:
    def check(value: str) -> bool:
        return value.isdigit() and (low <= int(value) <= high or (zero_ok and int(value) == 0))

    return check


_ATTRIBUTE_RULES: dict[str, Any] = {
    "deregistration_delay.timeout_seconds": _int_in(0, 3600),
    "slow_start.duration_seconds": _int_in(30, 900, zero_ok=True),
    "load_balancing.algorithm.type": {"round_robin", "least_outstanding_requests", "weighted_random"}.__contains__,
    "load_balancing.algorithm.anomaly_mitigation": {"on", "off"}.__contains__,
    "load_balancing.cross_zone.enabled": {"true", "false", "use_load_balancer_configuration"}.__contains__,
    "stickiness.enabled": {"true", "false"}.__contains__,
    "stickiness.type": {"lb_cookie", "app_cookie"}.__contains__,
    "stickiness.lb_cookie.duration_seconds": _int_in(1, 604800),
    "stickiness.app_cookie.cookie_name": lambda v: len(v) <= 256,
    "stickiness.app_cookie.duration_seconds": _int_in(1, 604800),
}


class TargetGroupOps(ElbBase):
    def create_target_group(self, ctx: RequestContext, params: Params) -> Doc:
        name = params["Name"]
        check_name(name, "Target group")
        kind = params.get("TargetType", "instance")
        if kind not in ("instance", "ip"):
            raise errors.validation(f"Target type '{kind}' is not supported by ecslite; use 'instance' or 'ip'")
        protocol = params.get("Protocol")
        if protocol is None or params.get("Port") is None or params.get("VpcId") is None:
            raise errors.validation("A protocol, port and VPC ID must be specified for target type '" + kind + "'")
        if protocol not in ("HTTP", "HTTPS"):
            raise errors.validation(f"Protocol '{protocol}' is not supported by ecslite; use 'HTTP' or 'HTTPS'")
        self.prepare(ctx)
        if vpc_store.get_vpc(self.db, ctx.account, ctx.region, params["VpcId"]) is None:
            raise errors.validation(errors.VPC_NOT_FOUND.format(vpc=params["VpcId"]))
        health = {key: params.get(key, default) for key, default in HEALTH_DEFAULTS.items()}
        _check_health(health)
        settings: Doc = {
            "TargetGroupName": name,
            "Protocol": protocol,
            "Port": params["Port"],
            "VpcId": params["VpcId"],
            **health,
            "TargetType": kind,
            "ProtocolVersion": params.get("ProtocolVersion", "HTTP1"),
            "IpAddressType": params.get("IpAddressType", "ipv4"),
        }
        existing = store.target_group_named(self.db, ctx.account, ctx.region, name)
        if existing is not None:
            if any(existing.get(k) != v for k, v in settings.items()):
                raise errors.ElbError("DuplicateTargetGroupName", errors.DUPLICATE_TARGET_GROUP.format(name=name))
            return {"TargetGroups": [existing]}
        doc = {"TargetGroupArn": elb_arn(ctx, f"targetgroup/{name}/{new_id()}"), **settings}
        with self.db.transaction():
            store.insert_target_group(self.db, ctx.account, ctx.region, doc, dict(DEFAULT_ATTRIBUTES))
            if params.get("Tags"):
                self.put_tags(doc["TargetGroupArn"], params["Tags"])
        return {"TargetGroups": [{**doc, "LoadBalancerArns": []}]}

    def describe_target_groups(self, ctx: RequestContext, params: Params) -> Doc:
        rows = store.target_groups(self.db, ctx.account, ctx.region)
        if params.get("LoadBalancerArn"):
            lb_arn = self.load_balancer(ctx, params["LoadBalancerArn"])["LoadBalancerArn"]
            rows = [r for r in rows if lb_arn in r[1]["LoadBalancerArns"]]
        if params.get("TargetGroupArns"):
            wanted = set(params["TargetGroupArns"])
            rows = [r for r in rows if r[1]["TargetGroupArn"] in wanted]
            if len(rows) < len(wanted):
                raise errors.target_group_not_found()
        if params.get("Names"):
            wanted = set(params["Names"])
            rows = [r for r in rows if r[1]["TargetGroupName"] in wanted]
            if len(rows) < len(wanted):
                raise errors.target_group_not_found()
        return paged("TargetGroups", params, rows, lambda d: d)

    def modify_target_group(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.target_group(ctx, params["TargetGroupArn"])
        health = {key: params.get(key, doc[key]) for key in HEALTH_KEYS}
        _check_health(health)
        doc.update(health)
        with self.db.transaction():
            store.put_target_group(self.db, {k: v for k, v in doc.items() if k != "LoadBalancerArns"})
        return {"TargetGroups": [doc]}

    def delete_target_group(self, ctx: RequestContext, params: Params) -> Doc:
        arn = params["TargetGroupArn"]
        if store.get_target_group(self.db, arn) is None:
            return {}  # already gone: AWS answers success
        self.target_group(ctx, arn)
        if store.users_of(self.db, arn):
            raise errors.ElbError("ResourceInUse", errors.RESOURCE_IN_USE.format(arn=arn))
        with self.db.transaction():
            store.delete_target_group(self.db, arn)
        return {}

    # -- attributes --------------------------------------------------------------------------

    def describe_target_group_attributes(self, ctx: RequestContext, params: Params) -> Doc:
        arn = self.target_group(ctx, params["TargetGroupArn"])["TargetGroupArn"]
        return {"Attributes": _attributes_view(store.target_group_attributes(self.db, arn))}

    def modify_target_group_attributes(self, ctx: RequestContext, params: Params) -> Doc:
        arn = self.target_group(ctx, params["TargetGroupArn"])["TargetGroupArn"]
        attributes = store.target_group_attributes(self.db, arn)
        for item in params["Attributes"]:
            key, value = item.get("Key", ""), item.get("Value", "")
            rule = _ATTRIBUTE_RULES.get(key)
            if rule is None:
                raise errors.validation(errors.ATTRIBUTE_UNKNOWN.format(key=key))
            if not rule(value):
                raise errors.validation(errors.ATTRIBUTE_VALUE.format(key=key, value=value))
            attributes[key] = value
        with self.db.transaction():
            store.put_target_group_attributes(self.db, arn, attributes)
        return {"Attributes": _attributes_view(attributes)}


def _attributes_view(attributes: dict[str, str]) -> list[Doc]:
    return [{"Key": k, "Value": v} for k, v in sorted(attributes.items())]


def _check_health(health: Doc) -> None:
    if health["HealthCheckTimeoutSeconds"] >= health["HealthCheckIntervalSeconds"]:
        raise errors.validation(errors.INTERVAL_NOT_ABOVE_TIMEOUT)
    path = health["HealthCheckPath"]
    if not path.startswith("/") or len(path) > 1024:
        raise errors.validation(errors.PATH_INVALID)
    port = health["HealthCheckPort"]
    if port != "traffic-port" and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise errors.validation(f"Health check port '{port}' must be 'traffic-port' or a port from 1 to 65535")
    code = (health.get("Matcher") or {}).get("HttpCode")
    if code is None:
        raise errors.validation("A matcher HTTP code must be specified for HTTP health checks")
    if parse_matcher(code) is None:
        raise errors.validation(errors.MATCHER_INVALID.format(code=code))
