"""What every EventBridge operation shares: the one event bus, rule lookup, ARNs and pagination."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ecslite.clock import Clock
from ecslite.providers.base import RequestContext
from ecslite.providers.events import errors
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.store import event_rules as rule_store
from ecslite.store.db import Database

DEFAULT_BUS = "default"
MAX_TARGETS = 5  # targets per rule (EventBridge quota)
DEFAULT_PAGE = 100


class RuleBus(Protocol):
    """Where accepted events go and who hears of rule changes (``control.event_rules.EventRouter``)."""

    def publish(self, events: Sequence[dict[str, Any]]) -> None: ...

    def rules_changed(self) -> None: ...


def bus_arn(ctx: RequestContext, name: str = DEFAULT_BUS) -> str:
    return f"arn:aws:events:{ctx.region}:{ctx.account}:event-bus/{name}"


def rule_arn(ctx: RequestContext, name: str) -> str:
    # Rules of the default bus have no bus segment in their ARN.
    return f"arn:aws:events:{ctx.region}:{ctx.account}:rule/{name}"


def bus_name(ctx: RequestContext, given: str | None) -> str:
    """The bus a request names: ``default`` (by name or ARN); any other is refused as AWS does for a
    bus that does not exist, ecslite having no custom buses."""
    if given is None or given in (DEFAULT_BUS, bus_arn(ctx)):
        return DEFAULT_BUS
    name = given.rsplit("/", 1)[-1] if given.startswith("arn:") else given
    raise errors.ResourceNotFoundException(errors.BUS_NOT_FOUND.format(name=name))


class EventsBase:
    def __init__(self, db: Database, clock: Clock, bus: RuleBus) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus

    def require_rule(self, ctx: RequestContext, name: str, bus: str) -> rule_store.Rule:
        rule = rule_store.get(self.db, ctx.account, ctx.region, bus, name)
        if rule is None:
            raise errors.rule_not_found(name, bus)
        return rule


def page(items: Sequence[Any], token: str | None, limit: int | None) -> tuple[list[Any], str | None]:
    """One page of ``items`` after the position ``token`` carries, and the token of the next."""
    start = decode_token(token, errors.ValidationException) if token else 0
    if not isinstance(start, int) or start < 0:
        raise errors.ValidationException(errors.BAD_TOKEN)
    size = limit or DEFAULT_PAGE
    chunk = list(items[start : start + size])
    more = start + size < len(items)
    return chunk, encode_token(start + size) if more else None
