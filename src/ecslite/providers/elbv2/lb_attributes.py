"""DescribeLoadBalancerAttributes and ModifyLoadBalancerAttributes (application load balancers).

Every load balancer has the full set of application load balancer keys, with AWS's defaults, from
its creation (CloudFormation and the CDK read and set some of them right after CreateLoadBalancer).
A modification is all or nothing: one unknown key or bad value fails the call and changes nothing.
The attributes live in the load balancer's stored document under ``Attributes`` (never shown by
DescribeLoadBalancers); the local ALB reads them per listener (``elb.listeners``).

Which ones ecslite acts on: ``deletion_protection.enabled`` (DeleteLoadBalancer is refused),
``idle_timeout.timeout_seconds`` (504 after it, idle client connections closed),
``routing.http.xff_header_processing.mode``, ``routing.http.drop_invalid_header_fields.enabled`` and
``client_keep_alive.seconds`` (the proxy). The others are kept and shown only: access and
connection logs go to S3, which ecslite does not serve; HTTP/2 and TLS headers need HTTPS
listeners, which are not served.
"""

from __future__ import annotations

from collections.abc import Callable

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.elbv2 import errors
from ecslite.providers.elbv2.common import Doc, ElbBase
from ecslite.store import elbv2 as store

DELETION_PROTECTION = "deletion_protection.enabled"
IDLE_TIMEOUT = "idle_timeout.timeout_seconds"
XFF_MODE = "routing.http.xff_header_processing.mode"
DROP_INVALID_HEADERS = "routing.http.drop_invalid_header_fields.enabled"
CLIENT_KEEP_ALIVE = "client_keep_alive.seconds"
CROSS_ZONE = "load_balancing.cross_zone.enabled"
IGW_DENY = "ipv6.deny_all_igw_traffic"

_DEFAULTS: dict[str, str] = {
    "access_logs.s3.enabled": "false",
    "access_logs.s3.bucket": "",
    "access_logs.s3.prefix": "",
    CLIENT_KEEP_ALIVE: "3600",
    "connection_logs.s3.enabled": "false",
    "connection_logs.s3.bucket": "",
    "connection_logs.s3.prefix": "",
    DELETION_PROTECTION: "false",
    IDLE_TIMEOUT: "60",
    CROSS_ZONE: "true",
    "routing.http.desync_mitigation_mode": "defensive",
    DROP_INVALID_HEADERS: "false",
    "routing.http.preserve_host_header.enabled": "false",
    "routing.http.x_amzn_tls_version_and_cipher_suite_headers.enabled": "false",
    "routing.http.xff_client_port.enabled": "false",
    XFF_MODE: "append",
    "routing.http2.enabled": "true",
    "waf.fail_open.enabled": "false",
    "zonal_shift.config.enabled": "false",
}

_BOOLEAN = frozenset({"true", "false"})
_RANGES: dict[str, tuple[int, int]] = {IDLE_TIMEOUT: (1, 4000), CLIENT_KEEP_ALIVE: (60, 604800)}
_CHOICES: dict[str, frozenset[str]] = {
    XFF_MODE: frozenset({"append", "preserve", "remove"}),
    "routing.http.desync_mitigation_mode": frozenset({"monitor", "defensive", "strictest"}),
}
_FREE_TEXT = frozenset(
    {"access_logs.s3.bucket", "access_logs.s3.prefix", "connection_logs.s3.bucket", "connection_logs.s3.prefix"}
)


def default_attributes(scheme: str) -> dict[str, str]:
    """A new application load balancer's attributes: AWS's defaults (IGW traffic is denied to an
    internal one)."""
    return {**_DEFAULTS, IGW_DENY: "true" if scheme == "internal" else "false"}


def attributes_of(doc: Doc) -> dict[str, str]:
    """The stored attributes, with defaults for any key a load balancer made before it lacks."""
    return {**default_attributes(str(doc.get("Scheme", "internet-facing"))), **(doc.get("Attributes") or {})}


def _check(key: str, value: str) -> None:
    if key not in _DEFAULTS and key != IGW_DENY:
        raise errors.validation(errors.LB_ATTRIBUTE_UNKNOWN.format(key=key))
    if key in _RANGES:
        low, high = _RANGES[key]
        if not (value.isdigit() and low <= int(value) <= high):
            raise errors.validation(errors.LB_ATTRIBUTE_RANGE.format(key=key, low=low, high=high))
        return
    valid: Callable[[str], bool]
    if key in _CHOICES:
        valid = _CHOICES[key].__contains__
    elif key in _FREE_TEXT:
        valid = lambda text: len(text) <= 1024  # noqa: E731
    else:
        valid = _BOOLEAN.__contains__
    if not valid(value):
        raise errors.validation(errors.LB_ATTRIBUTE_VALUE.format(key=key, value=value))
    if key == CROSS_ZONE and value != "true":
        raise errors.invalid_config(errors.CROSS_ZONE_FIXED)


def _view(attributes: dict[str, str]) -> list[Doc]:
    return [{"Key": k, "Value": v} for k, v in sorted(attributes.items())]


class LoadBalancerAttributeOps(ElbBase):
    def describe_load_balancer_attributes(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.load_balancer(ctx, params["LoadBalancerArn"])
        return {"Attributes": _view(attributes_of(doc))}

    def modify_load_balancer_attributes(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.load_balancer(ctx, params["LoadBalancerArn"])
        attributes = attributes_of(doc)
        for item in params["Attributes"]:
            key, value = str(item.get("Key", "")), str(item.get("Value", ""))
            _check(key, value)
            attributes[key] = value
        with self.db.transaction():
            fresh = store.get_load_balancer(self.db, doc["LoadBalancerArn"])
            if fresh is None:
                raise errors.load_balancer_not_found()
            store.put_load_balancer(self.db, {**fresh, "Attributes": attributes})
        return {"Attributes": _view(attributes)}
