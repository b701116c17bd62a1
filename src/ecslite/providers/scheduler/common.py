"""What the Scheduler operations share: the store, the clock, ARNs, group lookup and paging."""

from __future__ import annotations

import random
from typing import Any

from ecslite.clock import Clock
from ecslite.providers.base import RequestContext
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.providers.scheduler.errors import (
    BAD_NEXT_TOKEN,
    GROUP_NOT_FOUND,
    ResourceNotFoundException,
    ValidationException,
)
from ecslite.store import schedules as store
from ecslite.store.db import Database

DEFAULT_GROUP = "default"
DEFAULT_PAGE = 100  # unverified: Scheduler does not document its default page size
Doc = dict[str, Any]


def group_arn(ctx: RequestContext, name: str) -> str:
    return f"arn:aws:scheduler:{ctx.region}:{ctx.account}:schedule-group/{name}"


def schedule_arn(ctx: RequestContext, group: str, name: str) -> str:
    return f"arn:aws:scheduler:{ctx.region}:{ctx.account}:schedule/{group}/{name}"


def public(doc: Doc) -> Doc:
    """The document without ecslite's own ``_`` members."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


class SchedulerBase:
    def __init__(self, db: Database, clock: Clock, rng: random.Random | None = None) -> None:
        self.db = db
        self.clock = clock
        # Flexible windows draw from this; tests pass a seeded one.
        self.rng = rng or random.Random()
        # The default group "always exists"; it shows the time ecslite first served Scheduler.
        self.started = round(clock.now(), 3)

    def now(self) -> float:
        return round(self.clock.now(), 3)

    def default_group(self, ctx: RequestContext) -> Doc:
        arn = group_arn(ctx, DEFAULT_GROUP)
        stamp = self.started
        return {
            "Arn": arn,
            "Name": DEFAULT_GROUP,
            "State": "ACTIVE",
            "CreationDate": stamp,
            "LastModificationDate": stamp,
        }

    def group(self, ctx: RequestContext, name: str | None) -> Doc:
        """The group ``name`` (the default one when None); ResourceNotFoundException if missing."""
        name = name or DEFAULT_GROUP
        if name == DEFAULT_GROUP:
            return self.default_group(ctx)
        found = store.get_group(self.db, ctx.account, ctx.region, name)
        if found is None:
            raise ResourceNotFoundException(GROUP_NOT_FOUND.format(name=name))
        return found

    @staticmethod
    def page_of(params: dict[str, Any], key: type = int) -> tuple[Any, int]:
        """The sort key after which a page starts (None: the first page) and the page size; ``key``
        is the type of the sort key the operation's tokens carry (a rid, or a group's name)."""
        after = decode_token(params.get("NextToken"), lambda _: ValidationException(BAD_NEXT_TOKEN))
        if after is not None and type(after) is not key:
            raise ValidationException(BAD_NEXT_TOKEN)
        return after, int(params.get("MaxResults") or DEFAULT_PAGE)

    @staticmethod
    def token(key: Any) -> str:
        return encode_token(key)
