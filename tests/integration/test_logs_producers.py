"""ecslite's own log producers and followers: ``append`` and ``follow`` of the logs provider, in process.

The provider runs here with its in-memory store and a fake clock, as the server wires it, but
without HTTP: the awslogs driver and ``ecslite logs -f`` call it directly.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.logs.provider import LogsProvider
from ecslite.providers.logs.queries import QUERY_THREADS
from ecslite.store.logs import LogStore

ACCOUNT, REGION = "000000000000", "us-east-1"
CTX = RequestContext(ACCOUNT, REGION, "test", "logs", "test")
DAY = 86_400_000


def scenario(body: Callable[[LogsProvider, FakeClock], Awaitable[None]]) -> None:
    async def run() -> None:
        clock = FakeClock()
        provider = LogsProvider(LogStore(None), clock)
        await provider.start()
        try:
            await asyncio.wait_for(body(provider, clock), timeout=10)
        finally:
            await provider.stop()

    asyncio.run(run())


def now(clock: FakeClock) -> int:
    return int(clock.now() * 1000)


async def messages(provider: LogsProvider, group: str, stream: str) -> list[str]:
    page: dict[str, Any] = await provider.get_log_events(
        CTX, {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    )
    return [e["message"] for e in page["events"]]


def test_append_to_a_missing_group_fails_as_aws_does() -> None:
    async def body(provider: LogsProvider, clock: FakeClock) -> None:
        with pytest.raises(AwsError) as caught:
            await provider.append(ACCOUNT, REGION, "/ecs/app", "ecs/web/1", [(now(clock), "x")])
        assert (caught.value.code, caught.value.message) == (
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        )
        groups = await provider.describe_log_groups(CTX, {})
        assert groups["logGroups"] == []

    scenario(body)


def test_append_creates_the_group_when_asked_and_the_stream_always() -> None:
    async def body(provider: LogsProvider, clock: FakeClock) -> None:
        t = now(clock)
        result = await provider.append(ACCOUNT, REGION, "/ecs/app", "ecs/web/1", [(t, "a"), (t, "b")], True)
        assert (result.accepted, result.rejected) == (2, {})
        await provider.append(ACCOUNT, REGION, "/ecs/app", "ecs/web/1", [(t + 1, "c")])
        assert await messages(provider, "/ecs/app", "ecs/web/1") == ["a", "b", "c"]

    scenario(body)


def test_append_applies_put_log_events_rules() -> None:
    async def body(provider: LogsProvider, clock: FakeClock) -> None:
        t = now(clock)
        await provider.create_log_group(CTX, {"logGroupName": "g"})
        with pytest.raises(AwsError) as caught:
            await provider.append(ACCOUNT, REGION, "g", "s", [(t, "b"), (t - 1, "a")])
        assert caught.value.message == "Log events in a single PutLogEvents request must be in chronological order."
        with pytest.raises(AwsError) as caught:
            await provider.append(ACCOUNT, REGION, "g", "a:b", [(t, "x")])
        assert caught.value.message == (
            "1 validation error detected: Value 'a:b' at 'logStreamName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [^:*]*"
        )
        result = await provider.append(ACCOUNT, REGION, "g", "s", [(t - 15 * DAY, "old"), (t, "ok")])
        assert (result.accepted, result.rejected) == (1, {"tooOldLogEventEndIndex": 1})
        assert await messages(provider, "g", "s") == ["ok"]

    scenario(body)


def test_follow_yields_new_events_in_order_as_they_arrive() -> None:
    async def body(provider: LogsProvider, clock: FakeClock) -> None:
        t = now(clock)
        await provider.append(ACCOUNT, REGION, "g", "web/1", [(t, "before")], True)
        batches: list[list[str]] = []
        got_three = asyncio.Event()

        async def follow() -> None:
            async for batch in provider.follow(ACCOUNT, REGION, "g", start_ms=t, pattern="-DEBUG"):
                batches.append([f"{e['logStreamName']}:{e['message']}" for e in batch])
                if sum(len(b) for b in batches) >= 3:
                    got_three.set()

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.05)
        await provider.append(ACCOUNT, REGION, "g", "web/2", [(t + 1, "one"), (t + 1, "DEBUG noise")])
        await provider.put_log_events(
            CTX, {"logGroupName": "g", "logStreamName": "web/1", "logEvents": [{"timestamp": t + 2, "message": "two"}]}
        )
        await got_three.wait()
        follower.cancel()
        assert [m for b in batches for m in b] == ["web/1:before", "web/2:one", "web/1:two"]

    scenario(body)


def test_retention_sweep_deletes_expired_events() -> None:
    async def body(provider: LogsProvider, clock: FakeClock) -> None:
        t = now(clock)
        await provider.append(ACCOUNT, REGION, "g", "s", [(t, "x" * 10)], True)
        await provider.put_retention_policy(CTX, {"logGroupName": "g", "retentionInDays": 1})
        clock.advance(2 * 86_400)
        assert await provider.run(provider.purge_expired) == 1
        groups = await provider.describe_log_groups(CTX, {})
        assert groups["logGroups"][0]["storedBytes"] == 0
        assert await messages(provider, "g", "s") == []

    scenario(body)


def test_stop_query_cancels_a_query_that_has_not_finished() -> None:
    async def body(provider: LogsProvider, clock: FakeClock) -> None:
        await provider.append(ACCOUNT, REGION, "g", "s", [(now(clock), "x")], True)
        # Occupy every query thread, so the next query stays Scheduled until released.
        release = threading.Event()
        blockers = [provider._query_threads.submit(release.wait) for _ in range(QUERY_THREADS)]
        try:
            second = int(clock.now())
            params = {
                "logGroupName": "g",
                "startTime": second - 60,
                "endTime": second,
                "queryString": "fields @message",
            }
            query_id = (await provider.start_query(CTX, params))["queryId"]
            assert (await provider.get_query_results(CTX, {"queryId": query_id}))["status"] == "Scheduled"
            assert await provider.stop_query(CTX, {"queryId": query_id}) == {"success": True}
        finally:
            release.set()
            for blocker in blockers:
                blocker.result(timeout=5)
        result = await provider.get_query_results(CTX, {"queryId": query_id})
        assert (result["status"], result["results"]) == ("Cancelled", [])
        listed = await provider.describe_queries(CTX, {"status": "Cancelled"})
        assert [q["queryId"] for q in listed["queries"]] == [query_id]
        with pytest.raises(AwsError) as caught:
            await provider.stop_query(CTX, {"queryId": query_id})
        assert (caught.value.code, caught.value.message) == (
            "InvalidParameterException",
            f"Query {query_id} is not running",
        )

    scenario(body)
