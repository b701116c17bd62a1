"""Validation and normal form of listener/rule actions and rule conditions (§7.3).

Actions: ``forward`` (one group, or ``ForwardConfig`` weights 0–999), ``fixed-response`` and
``redirect``; authenticate-* are not served. A forward with ``TargetGroupArn`` is shown as AWS shows
it, with the equivalent ``ForwardConfig``. Conditions: host-header, path-pattern (legacy ``Values``
too), http-header, http-request-method, query-string, source-ip; at most five values per rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from ecslite.providers.elbv2 import errors

Doc = dict[str, Any]

CONTENT_TYPES = ("text/plain", "text/css", "text/html", "application/javascript", "application/json")
MAX_CONDITION_VALUES = 5
REDIRECT_DEFAULTS = {
    "Protocol": "#{protocol}",
    "Port": "#{port}",
    "Host": "#{host}",
    "Path": "/#{path}",
    "Query": "#{query}",
}
CONDITION_CONFIG = {  # a rule condition Field -> the member holding its values
    "host-header": "HostHeaderConfig",
    "path-pattern": "PathPatternConfig",
    "http-header": "HttpHeaderConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "query-string": "QueryStringConfig",
    "source-ip": "SourceIpConfig",
}


def normal_actions(actions: list[Doc], group_exists: Callable[[str], bool]) -> list[Doc]:
    """``actions`` checked and in the form DescribeListeners/DescribeRules show."""
    if not actions:
        raise errors.validation("At least one action must be specified")
    out = []
    for index, action in enumerate(sorted(actions, key=lambda a: a.get("Order", 0)), 1):
        kind = action.get("Type")
        if kind == "forward":
            shown = _forward(action, group_exists)
        elif kind == "fixed-response":
            shown = _fixed_response(action)
        elif kind == "redirect":
            shown = _redirect(action)
        else:
            raise errors.validation(f"Action type '{kind}' is not supported by ecslite")
        if "Order" in action:
            shown["Order"] = action["Order"]
        if index < len(actions):
            raise errors.validation(f"Action type '{kind}' must be the last action")
        out.append(shown)
    return out


def forwarded_groups(actions: list[Doc]) -> list[str]:
    arns = []
    for action in actions:
        for group in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
            arns.append(group["TargetGroupArn"])
    return arns


def _forward(action: Doc, group_exists: Callable[[str], bool]) -> Doc:
    config = action.get("ForwardConfig") or {}
    groups = config.get("TargetGroups") or []
    single = action.get("TargetGroupArn")
    if single is not None:
        if groups and (len(groups) != 1 or groups[0]["TargetGroupArn"] != single):
            raise errors.validation("You cannot specify both a target group ARN and a forward config")
        groups = [{"TargetGroupArn": single, "Weight": groups[0].get("Weight", 1) if groups else 1}]
    if not groups:
        raise errors.validation("A target group ARN must be specified for a forward action")
    if len(groups) > 5:
        raise errors.validation("A forward action can have at most '5' target groups")
    shown_groups = []
    for group in groups:
        weight = group.get("Weight", 1)
        if not 0 <= weight <= 999:
            raise errors.validation("Target group weight must be between 0 and 999")
        if not group_exists(group["TargetGroupArn"]):
            raise errors.target_group_not_found()
        shown_groups.append({"TargetGroupArn": group["TargetGroupArn"], "Weight": weight})
    stickiness = config.get("TargetGroupStickinessConfig") or {"Enabled": False}
    shown: Doc = {
        "Type": "forward",
        "ForwardConfig": {"TargetGroups": shown_groups, "TargetGroupStickinessConfig": stickiness},
    }
    if len(shown_groups) == 1:
        shown["TargetGroupArn"] = shown_groups[0]["TargetGroupArn"]
    return shown


def _fixed_response(action: Doc) -> Doc:
    config = action.get("FixedResponseConfig")
    if config is None:
        raise errors.validation("A fixed response config must be specified for a fixed-response action")
    content_type = config.get("ContentType")
    if content_type is not None and content_type not in CONTENT_TYPES:
        raise errors.validation(f"Content type '{content_type}' is not valid")
    if len(config.get("MessageBody", "").encode()) > 1024:
        raise errors.validation("The fixed response message body can be at most 1024 bytes")
    return {"Type": "fixed-response", "FixedResponseConfig": dict(config)}


def _redirect(action: Doc) -> Doc:
    config = action.get("RedirectConfig")
    if config is None:
        raise errors.validation("A redirect config must be specified for a redirect action")
    if config.get("StatusCode") not in ("HTTP_301", "HTTP_302"):
        raise errors.validation("The redirect status code must be 'HTTP_301' or 'HTTP_302'")
    shown = {**REDIRECT_DEFAULTS, **config}
    if shown == {**REDIRECT_DEFAULTS, "StatusCode": config["StatusCode"]}:
        raise errors.validation("The redirect configuration is not valid: it would redirect to itself")
    return {"Type": "redirect", "RedirectConfig": shown}


def normal_conditions(conditions: list[Doc]) -> list[Doc]:
    """``conditions`` checked, each with its ``*Config`` filled (and ``Values`` for host/path)."""
    out = []
    count = 0
    for condition in conditions:
        field = condition.get("Field")
        key = CONDITION_CONFIG.get(field or "")
        if key is None:
            raise errors.validation(f"Condition field '{field}' is not supported")
        values = _values(field or "", condition, key)
        if not values:
            raise errors.validation(f"A value must be specified for condition field '{field}'")
        count += len(values)
        shown: Doc = {"Field": field, key: condition.get(key) or {"Values": values}}
        if field in ("host-header", "path-pattern"):
            shown["Values"] = values
        out.append(shown)
    if count > MAX_CONDITION_VALUES:
        raise errors.validation(errors.TOO_MANY_CONDITION_VALUES)
    if len([c for c in out if c["Field"] in ("host-header", "path-pattern")]) > len(
        {c["Field"] for c in out if c["Field"] in ("host-header", "path-pattern")}
    ):
        raise errors.validation("A rule can have each of host-header and path-pattern at most once")
    return out


def _values(field: str, condition: Doc, key: str) -> list[Any]:
    config = condition.get(key)
    legacy = condition.get("Values")
    if legacy is not None and config is not None:
        raise errors.validation(f"You cannot specify both 'Values' and '{key}' for condition field '{field}'")
    if legacy is not None:
        if field not in ("host-header", "path-pattern"):
            raise errors.validation(f"Condition field '{field}' requires '{key}'")
        return list(legacy)
    config = config or {}
    values: list[Any] = list(config.get("Values") or [])
    if field == "http-header" and not config.get("HttpHeaderName"):
        raise errors.validation("An HTTP header name must be specified for condition field 'http-header'")
    if field == "source-ip":
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise errors.validation(f"The source IP CIDR '{value}' is not valid") from None
    if field == "path-pattern" or field == "host-header":
        for value in values:
            if len(value) > 128:
                raise errors.validation(f"Condition value '{value}' cannot be longer than 128 characters")
    return values
