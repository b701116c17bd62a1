"""A work queue of keys for level-triggered reconcilers, and the runner that drains it.

Semantics (after client-go's workqueue):

- A key is in the queue at most once. ``add`` of a key that is being processed marks it dirty;
  ``done`` puts it back, so a change during processing is never lost and no key ever reaches two
  workers at once.
- ``add_after`` queues a key once a delay has passed ("look again in N seconds"); the earliest
  pending deadline of a key wins.
- ``add_within`` coalesces: the key is queued at the latest ``delay`` seconds from the first such
  call, and every later call (and every plain ``add``) before then folds into that one run. A worker
  taking the key cancels the pending coalesced add, since that run reads everything committed before
  it; a call while the key is being processed schedules one more run (the running one may have read
  too early). Unlike ``add_after``, a coalesced add is never a promise to look again at a given time.
- ``add_rate_limited`` backs off per key, doubling from ``base_backoff`` up to ``max_backoff``;
  ``forget`` resets it after a success.
- Time comes from the injected clock, so tests drive delays with ``FakeClock``.

:class:`Runner` runs workers over the queue, turns a reconciler's :class:`Outcome` into a
delayed requeue and an exception into a backed-off retry (logged with the key, and counted), counts
its runs, and
periodically enqueues every key a resync function lists, so a missed wake-up costs latency only.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from ecslite.clock import Clock

log = logging.getLogger(__name__)


class QueueShutDown(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a reconcile step asks for: ``requeue_after`` seconds to look again (``None``: only on a change)."""

    requeue_after: float | None = None


class WorkQueue:
    def __init__(self, clock: Clock, *, base_backoff: float = 0.05, max_backoff: float = 30.0) -> None:
        self.clock = clock
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._failures: dict[str, int] = {}
        self._delayed: dict[str, float] = {}
        self._soon: dict[str, float] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._timer_wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._shut = False

    # -- adding -------------------------------------------------------------------------------

    def add(self, key: str) -> None:
        if self._shut or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # re-queued by done()
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        if self._shut:
            return
        when = self.clock.now() + delay
        current = self._delayed.get(key)
        if current is not None and current <= when:
            return
        self._delayed[key] = when
        heapq.heappush(self._heap, (when, next(self._seq), key))
        self._timer_wake.set()

    def add_within(self, key: str, delay: float) -> None:
        """Queue ``key`` within ``delay`` seconds, together with whatever else asks for it meanwhile."""
        if self._shut or key in self._dirty:
            return  # queued already (or again after the run in progress): that run will see the change
        if delay <= 0:
            self.add(key)
            return
        when = self.clock.now() + delay
        current = self._soon.get(key)
        if current is not None and current <= when:
            return
        self._soon[key] = when
        heapq.heappush(self._heap, (when, next(self._seq), key))
        self._timer_wake.set()

    def add_rate_limited(self, key: str) -> float:
        """Queue ``key`` after its back-off delay; returns the delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self.base_backoff * float(2**failures), self.max_backoff)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    # -- taking -------------------------------------------------------------------------------

    async def get(self) -> str:
        """The next key, marked as being processed; waits while the queue is empty."""
        while True:
            if self._shut:
                raise QueueShutDown()
            if self._queue:
                key = self._queue.popleft()
                self._dirty.discard(key)
                self._soon.pop(key, None)
                self._processing.add(key)
                return key
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # pass on the wake-up this cancelled getter consumed
                raise

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- state --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._queue)

    def is_processing(self, key: str) -> bool:
        return key in self._processing

    def pending_delay(self, key: str) -> float | None:
        when = self._delayed.get(key)
        return None if when is None else max(0.0, when - self.clock.now())

    def clear(self) -> None:
        """Drop every queued, dirty and delayed key and all back-off counts (processing keys stay marked)."""
        self._queue.clear()
        self._dirty.clear()
        self._delayed.clear()
        self._soon.clear()
        self._heap.clear()
        self._failures.clear()

    # -- delayed adds -------------------------------------------------------------------------

    def start(self) -> None:
        self._shut = False
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._run_timer(), name="workqueue-timer")

    async def shutdown(self) -> None:
        self._shut = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None

    async def _run_timer(self) -> None:
        while True:
            now = self.clock.now()
            while self._heap and self._heap[0][0] <= now:
                when, _, key = heapq.heappop(self._heap)
                if self._delayed.get(key) == when:
                    del self._delayed[key]
                    self.add(key)
                if self._soon.get(key) == when:
                    del self._soon[key]
                    self.add(key)
            self._timer_wake.clear()
            if not self._heap:
                await self._timer_wake.wait()
                continue
            sleeper = asyncio.ensure_future(self.clock.sleep(self._heap[0][0] - now))
            waker = asyncio.ensure_future(self._timer_wake.wait())
            try:
                await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()


ReconcileFn = Callable[[str], Awaitable[Outcome]]


class Runner:
    """Workers that reconcile keys from a queue, plus the periodic resync."""

    def __init__(
        self,
        name: str,
        queue: WorkQueue,
        reconcile: ReconcileFn,
        clock: Clock,
        *,
        workers: int = 4,
        resync: Callable[[], Iterable[str]] | None = None,
        resync_seconds: float = 60.0,
    ) -> None:
        self.name = name
        self.queue = queue
        self.reconcile = reconcile
        self.clock = clock
        self.workers = workers
        self.resync = resync
        self.resync_seconds = resync_seconds
        self.errors = 0
        self.runs = 0
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.queue.start()
        self._tasks = [asyncio.create_task(self._work(), name=f"{self.name}-worker-{i}") for i in range(self.workers)]
        if self.resync is not None:
            self._tasks.append(asyncio.create_task(self._resync_loop(), name=f"{self.name}-resync"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, QueueShutDown):
                await task
        await self.queue.shutdown()

    def enqueue_all(self) -> None:
        if self.resync is None:
            return
        for key in self.resync():
            self.queue.add(key)

    async def _resync_loop(self) -> None:
        while True:
            await self.clock.sleep(self.resync_seconds)
            try:
                self.enqueue_all()
            except Exception:
                self.errors += 1
                log.exception("resync failed", extra={"controller": self.name})

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            self.runs += 1
            try:
                outcome = await self.reconcile(key)
            except asyncio.CancelledError:
                self.queue.done(key)
                raise
            except Exception:
                self.errors += 1
                delay = self.queue.add_rate_limited(key)
                log.exception(
                    "reconcile failed; retrying", extra={"controller": self.name, "key": key, "retry_in": delay}
                )
            else:
                self.queue.forget(key)
                if outcome.requeue_after is not None:
                    self.queue.add_after(key, outcome.requeue_after)
            self.queue.done(key)
            # A reconcile that never suspends (an in-memory runtime) must not starve the loop.
            await asyncio.sleep(0)
