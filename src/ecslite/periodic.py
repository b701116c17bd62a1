"""The shape shared by components that do one pass every few seconds of the injected clock.

A :class:`Periodic` owns one asyncio task, named after the component, that runs :meth:`run_pass`,
logs a pass that raised (one bad pass must not stop the component for good: the next one tries
again) and sleeps ``interval`` seconds on the clock. An interval of 0 or less never starts the
task (a sampler that is turned off). It sits beside :mod:`ecslite.clock` because controllers and
telemetry components alike are built on it.

``reset`` is left to each component: some restart (:meth:`restart`), some clear what they keep,
some have nothing to reset and must not be asked to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ecslite.clock import Clock


class Periodic:
    """One task that runs :meth:`run_pass` every ``interval`` seconds of ``clock``."""

    name: str  # the component's name, also its task's
    failure = "pass failed"  # what the log says, with the traceback, when a pass raises

    def __init__(self, clock: Clock, interval: float) -> None:
        self.clock = clock
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def run_pass(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        if self._task is None and self.interval > 0:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def _loop(self) -> None:
        # The subclass's module logger, so records keep the name they had before this base existed.
        log = logging.getLogger(type(self).__module__)
        while True:
            try:
                await self.run_pass()
            except Exception:
                log.exception(self.failure)
            await self.clock.sleep(self.interval)
