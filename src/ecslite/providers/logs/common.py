"""State and helpers shared by every group of CloudWatch Logs operations (the mixins of ``LogsProvider``).

Every operation body is synchronous and runs on the provider's single worker thread (``@on_worker``):
the store is touched off the event loop, and operations apply in the order they arrived, so two
PutLogEvents to one stream land in the order they were sent. Logs Insights queries scan on their
own threads (see ``queries.py``).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

from ecslite.clock import Clock
from ecslite.model.arns import parse_arn
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.logs.errors import (
    INVALID_NEXT_TOKEN,
    NAME_OR_IDENTIFIER,
    InvalidParameterException,
    ResourceNotFoundException,
)
from ecslite.providers.logs.ingest import check_name_patterns
from ecslite.providers.pagination import decode_token
from ecslite.store.logs import LogGroupRow, LogStore

DAY_MS = 86_400_000

P = ParamSpec("P")
R = TypeVar("R")
Base = TypeVar("Base", bound="LogsBase")


def group_arn(region: str, account: str, name: str) -> str:
    """The log group ARN without the ``:*`` suffix (``logGroupArn``; tagging APIs take this one)."""
    return f"arn:aws:logs:{region}:{account}:log-group:{name}"


def stream_arn(region: str, account: str, group: str, stream: str) -> str:
    return f"{group_arn(region, account, group)}:log-stream:{stream}"


def on_worker(
    method: Callable[Concatenate[Base, P], R],
) -> Callable[Concatenate[Base, P], Awaitable[R]]:
    """Turn a synchronous operation body into a coroutine that runs it on the worker thread.

    The request's name members are checked against their full patterns first (``ingest.py``).
    """

    async def run(self: Base, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if len(args) > 1 and isinstance(args[1], dict):
            check_name_patterns(args[1])
        return await self.run(method, self, *args, **kwargs)

    functools.update_wrapper(run, method)
    return run


class LogFeed:
    """Wakes followers of a log group when events are appended to it (``ecslite logs -f``, the UI).

    A follower takes ``signal(key)`` *before* reading, then awaits it if it read nothing new; an
    append after the read sets that very event, so no wake-up is lost.
    """

    def __init__(self) -> None:
        self._signals: dict[tuple[str, str, str], asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def signal(self, account: str, region: str, group: str) -> asyncio.Event:
        key = (account, region, group)
        event = self._signals.get(key)
        if event is None:
            event = self._signals[key] = asyncio.Event()
        return event

    def publish(self, account: str, region: str, group: str) -> None:
        """Wake the group's followers; callable from any thread."""
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._wake((account, region, group))
        else:
            self._loop.call_soon_threadsafe(self._wake, (account, region, group))

    def _wake(self, key: tuple[str, str, str]) -> None:
        event = self._signals.pop(key, None)
        if event is not None:
            event.set()


class LogsBase:
    """Holds the log store, the clock, the worker thread and the feed; every mixin builds on it."""

    def __init__(self, store: LogStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.feed = LogFeed()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecslite-logs")

    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    async def run(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        loop = asyncio.get_running_loop()
        self.feed.bind(loop)
        return await loop.run_in_executor(self._worker, functools.partial(fn, *args, **kwargs))

    def close_worker(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)

    # -- groups ----------------------------------------------------------------------------------

    def require_group(self, ctx: RequestContext, name: str) -> LogGroupRow:
        group = self.store.get_group(ctx.account, ctx.region, name)
        if group is None:
            raise ResourceNotFoundException()
        return group

    @staticmethod
    def identifier_name(ctx: RequestContext, identifier: str) -> str | None:
        """The group name a ``logGroupIdentifier`` names: a name, or a log group ARN of the caller's
        partition (with or without ``:*``); None for an ARN of another partition or service."""
        if not identifier.startswith("arn:"):
            return identifier
        arn = parse_arn(identifier)
        if arn is None or (arn.service, arn.region, arn.account) != ("logs", ctx.region, ctx.account):
            return None
        kind, _, name = arn.resource.partition(":")
        if kind != "log-group" or not name:
            return None
        return name[:-2] if name.endswith(":*") else name

    def group_from(self, ctx: RequestContext, params: Params) -> LogGroupRow:
        """The group named by exactly one of ``logGroupName``/``logGroupIdentifier``."""
        name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
        if (name is None) == (identifier is None):
            raise InvalidParameterException(NAME_OR_IDENTIFIER)
        if identifier is not None:
            name = self.identifier_name(ctx, identifier)
            if name is None:
                raise ResourceNotFoundException()
        assert name is not None
        return self.require_group(ctx, name)

    def retention_cutoff(self, group: LogGroupRow) -> int:
        """Events older than this are past the group's retention: never returned (spec §10.2)."""
        if group.retention_days is None:
            return 0
        return self.now_ms() - group.retention_days * DAY_MS

    @staticmethod
    def token_key(token: str | None) -> Any:
        return decode_token(token, lambda _: InvalidParameterException(INVALID_NEXT_TOKEN))
