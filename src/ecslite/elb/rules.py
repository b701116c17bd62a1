"""Listener rule evaluation for the local ALB (spec/ecs.md §7.3): which action answers a request.

Rules are the ELBv2 API's shapes (``Priority``, ``IsDefault``, ``Conditions``, ``Actions``), read
as DescribeRules returns them. They are tried in ascending priority, the default rule last; the
first rule whose conditions all hold answers. Conditions are ANDed, the values within one
condition ORed:

- ``host-header``: the Host header without its port, case-insensitive, ``*`` and ``?`` wildcards;
- ``path-pattern``: the path only (never the query), case-sensitive, wildcards;
- ``http-header``: the named header (name case-insensitive), any of its values, case-insensitive;
- ``http-request-method``: exact and case-sensitive;
- ``query-string``: ``{Key?, Value}`` against the decoded pairs, case-insensitive, wildcards;
- ``source-ip``: the client's address within one of the CIDR blocks.

A literal ``*`` or ``?`` in a pattern is written ``\\*`` / ``\\?``. The legacy ``{Field, Values}``
form is read for host-header and path-pattern. Of a rule's actions (by ``Order``), the first
terminal one (forward, fixed-response, redirect) decides; authentication actions are not served.

Everything here is pure: the weighted choice between target groups takes the random source.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

Doc = Mapping[str, Any]

DEFAULT_PRIORITY = "default"
TERMINAL_ACTIONS = ("forward", "fixed-response", "redirect")
REDIRECT_CODES = {"HTTP_301": 301, "HTTP_302": 302}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What rules look at in a request; ``headers`` has lower-case names, repeated as received."""

    method: str
    host: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    source_ip: str
    protocol: str = "HTTP"
    port: int = 80

    @property
    def hostname(self) -> str:
        """The Host header without its port (IPv6 literals keep their brackets)."""
        host = self.host.strip()
        if host.startswith("["):
            end = host.find("]")
            return host[: end + 1] if end >= 0 else host
        return host.rsplit(":", 1)[0] if ":" in host else host


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the request to this target group; None when every weight is 0 (nothing to route to)."""

    target_group_arn: str | None
    rule_arn: str | None = None


@dataclass(frozen=True, slots=True)
class FixedResponse:
    status: int
    content_type: str | None
    body: str
    rule_arn: str | None = None


@dataclass(frozen=True, slots=True)
class Redirect:
    status: int
    location: str
    rule_arn: str | None = None


Decision = Forward | FixedResponse | Redirect


def ordered(rules: Sequence[Doc]) -> list[Doc]:
    """Rules in evaluation order: ascending priority, the default rule last."""

    def key(rule: Doc) -> tuple[int, int]:
        priority = str(rule.get("Priority", DEFAULT_PRIORITY))
        if rule.get("IsDefault") or priority == DEFAULT_PRIORITY:
            return (1, 0)
        return (0, int(priority))

    return sorted(rules, key=key)


def evaluate(
    rules: Sequence[Doc], request: HttpRequest, rng: random.Random | None = None, *, presorted: bool = False
) -> Decision | None:
    """The decision of the first matching rule; None when no rule matches (a listener always has
    a default rule, so only a listener being torn down sees None). ``presorted``: ``rules`` are
    already in :func:`ordered`'s order."""
    for rule in rules if presorted else ordered(rules):
        if all(condition_matches(condition, request) for condition in rule.get("Conditions") or ()):
            decision = action_decision(rule.get("Actions") or (), request, rng or random.Random())
            if decision is not None:
                arn = rule.get("RuleArn")
                return _with_rule(decision, str(arn) if arn else None)
    return None


def _with_rule(decision: Decision, rule_arn: str | None) -> Decision:
    if isinstance(decision, Forward):
        return Forward(decision.target_group_arn, rule_arn)
    if isinstance(decision, FixedResponse):
        return FixedResponse(decision.status, decision.content_type, decision.body, rule_arn)
    return Redirect(decision.status, decision.location, rule_arn)


# -- conditions ---------------------------------------------------------------------------------


def condition_matches(condition: Doc, request: HttpRequest) -> bool:
    field = str(condition.get("Field", ""))
    if field == "host-header":
        values = _values(condition, "HostHeaderConfig")
        host = request.hostname
        return any(wildcard(value, fold=True).fullmatch(host) for value in values)
    if field == "path-pattern":
        values = _values(condition, "PathPatternConfig")
        return any(wildcard(value, fold=False).fullmatch(request.path) for value in values)
    if field == "http-header":
        config = condition.get("HttpHeaderConfig") or {}
        name = str(config.get("HttpHeaderName", "")).lower()
        present = [value for key, value in request.headers if key == name]
        patterns = [wildcard(str(v), fold=True) for v in config.get("Values") or ()]
        return any(p.fullmatch(value) for p in patterns for value in present)
    if field == "http-request-method":
        config = condition.get("HttpRequestMethodConfig") or {}
        return request.method in {str(v) for v in config.get("Values") or ()}
    if field == "query-string":
        config = condition.get("QueryStringConfig") or {}
        pairs = parse_qsl(request.query, keep_blank_values=True)
        return any(_query_pair_matches(wanted, pairs) for wanted in config.get("Values") or ())
    if field == "source-ip":
        config = condition.get("SourceIpConfig") or {}
        return _source_matches(request.source_ip, [str(v) for v in config.get("Values") or ()])
    return False  # a condition type this data plane does not know never matches


def _values(condition: Doc, config_name: str) -> list[str]:
    """A host/path condition's values: the typed config's, else the legacy ``Values``."""
    config = condition.get(config_name) or {}
    values = config.get("Values")
    if values is None:
        values = condition.get("Values") or ()
    return [str(v) for v in values]


def _query_pair_matches(wanted: Doc, pairs: Sequence[tuple[str, str]]) -> bool:
    value = wildcard(str(wanted.get("Value", "")), fold=True)
    key = wanted.get("Key")
    key_pattern = wildcard(str(key), fold=True) if key is not None else None
    return any(
        (key_pattern is None or key_pattern.fullmatch(k) is not None) and value.fullmatch(v) is not None
        for k, v in pairs
    )


def _source_matches(source: str, cidrs: Sequence[str]) -> bool:
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return False
    for cidr in cidrs:
        try:
            if address in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


@functools.lru_cache(maxsize=4096)
def wildcard(pattern: str, *, fold: bool) -> re.Pattern[str]:
    """An ELB match pattern as a regex: ``*`` any run, ``?`` one character, ``\\`` escapes."""
    out: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    if escaped:
        out.append(re.escape("\\"))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if fold else 0))


# -- actions ------------------------------------------------------------------------------------


def action_decision(actions: Sequence[Doc], request: HttpRequest, rng: random.Random) -> Decision | None:
    """The first terminal action (by ``Order``, then as listed) turned into a decision."""
    indexed = sorted(enumerate(actions), key=lambda pair: (int(pair[1].get("Order") or 0), pair[0]))
    for _, action in indexed:
        kind = action.get("Type")
        if kind == "forward":
            return Forward(forward_target(action, rng))
        if kind == "fixed-response":
            config = action.get("FixedResponseConfig") or {}
            content_type = config.get("ContentType")
            return FixedResponse(
                int(config.get("StatusCode", 200)),
                str(content_type) if content_type else None,
                str(config.get("MessageBody") or ""),
            )
        if kind == "redirect":
            config = action.get("RedirectConfig") or {}
            return Redirect(REDIRECT_CODES.get(str(config.get("StatusCode")), 302), redirect_location(config, request))
    return None


def forward_target(action: Doc, rng: random.Random) -> str | None:
    """The group a forward action sends this request to: its single group, or a weighted pick."""
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or ()
    if not groups:
        arn = action.get("TargetGroupArn")
        return str(arn) if arn else None
    if len(groups) == 1:
        return str(groups[0]["TargetGroupArn"]) if int(groups[0].get("Weight", 1)) > 0 else None
    weighted = [(str(g["TargetGroupArn"]), int(g.get("Weight", 1))) for g in groups]
    return choose_weighted(weighted, rng)


def choose_weighted(groups: Sequence[tuple[str, int]], rng: random.Random) -> str | None:
    total = sum(weight for _, weight in groups if weight > 0)
    if total <= 0:
        return None
    point = rng.uniform(0, total)
    for arn, weight in groups:
        if weight <= 0:
            continue
        point -= weight
        if point < 0:
            return arn
    return next(arn for arn, weight in reversed(groups) if weight > 0)


_KEYWORD = re.compile(r"#\{(protocol|host|port|path|query)\}")


def redirect_location(config: Doc, request: HttpRequest) -> str:
    """The Location of a redirect action: omitted parts keep the request's, ``#{…}`` reuse them
    (``#{path}`` without its leading slash)."""
    values = {
        "protocol": request.protocol.upper(),
        "host": request.hostname,
        "port": str(request.port),
        "path": request.path.lstrip("/"),
        "query": request.query,
    }

    def fill(template: str) -> str:
        return _KEYWORD.sub(lambda m: values[m.group(1)], template)

    scheme = fill(str(config.get("Protocol") or "#{protocol}")).lower()
    host = fill(str(config.get("Host") or "#{host}"))
    port = fill(str(config.get("Port") or "#{port}"))
    path = fill(str(config.get("Path") or "/#{path}"))
    query = fill(str(config.get("Query") if config.get("Query") is not None else "#{query}"))
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{host}:{port}{path}" + (f"?{query}" if query else "")
