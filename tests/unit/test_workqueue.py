"""The work queue and runner: single-flight keys, dirty requeue, delays, back-off, resync."""

from __future__ import annotations

import asyncio

from ecslite.clock import FakeClock
from ecslite.control.workqueue import Outcome, Runner, WorkQueue
from tests.unit.test_task_harness import run


async def settle(turns: int = 30) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


async def advance(clock: FakeClock, seconds: float, step: float = 0.5) -> None:
    """Move the clock in steps, letting every woken task run to its next wait in between."""
    elapsed = 0.0
    while elapsed < seconds:
        clock.advance(min(step, seconds - elapsed))
        elapsed += step
        await settle()


def test_a_key_is_queued_once() -> None:
    async def scenario() -> None:
        queue = WorkQueue(FakeClock())
        for key in ("a", "b", "a", "a"):
            queue.add(key)
        assert len(queue) == 2
        assert [await queue.get(), await queue.get()] == ["a", "b"]

    run(scenario())


def test_a_key_changed_while_processing_is_queued_again_after_done() -> None:
    async def scenario() -> None:
        queue = WorkQueue(FakeClock())
        queue.add("a")
        key = await queue.get()
        queue.add("a")
        assert len(queue) == 0  # never handed to a second worker while the first holds it
        queue.done(key)
        assert len(queue) == 1
        assert await queue.get() == "a"
        queue.done("a")
        assert len(queue) == 0

    run(scenario())


def test_add_after_waits_for_the_clock_and_earliest_deadline_wins() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock)
        queue.start()
        queue.add_after("a", 10)
        queue.add_after("a", 5)
        queue.add_after("a", 20)
        await clock.run_for(4.9)
        assert len(queue) == 0
        await clock.run_for(0.2)
        assert len(queue) == 1
        await clock.run_for(30)
        assert len(queue) == 1  # the later deadlines were superseded, not queued again
        await queue.shutdown()

    run(scenario())


def test_rate_limited_adds_back_off_exponentially_until_forgotten() -> None:
    async def scenario() -> None:
        queue = WorkQueue(FakeClock(), base_backoff=1, max_backoff=5)
        delays = [queue.add_rate_limited("a") for _ in range(5)]
        assert delays == [1, 2, 4, 5, 5]
        queue.forget("a")
        assert queue.add_rate_limited("a") == 1

    run(scenario())


def test_runner_never_processes_one_key_concurrently() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock)
        active: set[str] = set()
        overlaps = []
        calls = []

        async def reconcile(key: str) -> Outcome:
            if key in active:
                overlaps.append(key)
            active.add(key)
            calls.append(key)
            await clock.sleep(1)
            active.discard(key)
            return Outcome()

        runner = Runner("t", queue, reconcile, clock, workers=4)
        await runner.start()
        queue.add("a")
        await settle()
        queue.add("a")
        queue.add("a")
        queue.add("b")
        await clock.run_for(5)
        assert overlaps == []
        assert calls.count("a") == 2 and calls.count("b") == 1
        await runner.stop()

    run(scenario())


def test_runner_retries_failures_with_backoff_and_honours_requeue_after() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock, base_backoff=1)
        times: list[float] = []

        async def reconcile(key: str) -> Outcome:
            times.append(clock.now() - 1_750_000_000.0)
            if len(times) <= 2:
                raise RuntimeError("boom")
            return Outcome(requeue_after=10) if len(times) == 3 else Outcome()

        runner = Runner("t", queue, reconcile, clock, workers=1)
        await runner.start()
        queue.add("k")
        await settle()
        await advance(clock, 30)
        assert [round(t) for t in times] == [0, 1, 3, 13]
        assert runner.errors == 2
        assert queue.failures("k") == 0
        await runner.stop()

    run(scenario())


def test_resync_enqueues_every_listed_key_periodically() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock)
        seen: list[str] = []

        async def reconcile(key: str) -> Outcome:
            seen.append(key)
            return Outcome()

        runner = Runner("t", queue, reconcile, clock, resync=lambda: ["x", "y"], resync_seconds=10)
        await runner.start()
        await clock.run_for(25, step=1)
        assert sorted(seen) == ["x", "x", "y", "y"]
        await runner.stop()

    run(scenario())


def test_stop_cancels_workers_waiting_for_work() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock)

        async def reconcile(key: str) -> Outcome:
            return Outcome()

        runner = Runner("t", queue, reconcile, clock, workers=3)
        await runner.start()
        await settle()
        await runner.stop()
        assert all(task.done() for task in asyncio.all_tasks() if task is not asyncio.current_task())

    run(scenario())
