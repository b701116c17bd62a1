"""Watching the tasks' shims for the process runtime: attaching to what is on disk after a restart,
the connection to each shim, containers' exits, and a shim's death (spec/ecs.md §3).

Invariants:

- A container's state comes from the shim's records; events only wake us up sooner. A record
  written while nobody listened is read on (re)connecting.
- ``oom_killed`` comes from the container cgroup's ``oom_kill`` counter, never from exit code 137
  alone (§3.5).
- When a shim dies (its pidfd says so) while its task is not being destroyed, whatever remains in
  the task's container cgroups is killed and every container without an exit record gets one from
  us, with a reason naming the shim; the controller then stops the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from ecslite.clock import Clock
from ecslite.runtime.base import ExitListener
from ecslite.runtime.process.cgroups import CgroupError, Cgroups
from ecslite.runtime.process.network import HostNetwork
from ecslite.runtime.process.shim_client import (
    ExitRecord,
    ShimClient,
    ShimError,
    read_exit,
    read_shim_pid,
    shim_alive,
    write_exit,
)
from ecslite.runtime.process.task_dir import ContainerRecord, load_containers, read_sandbox
from ecslite.runtime.process.task_state import RuntimeTask, shim_died_reason

log = logging.getLogger(__name__)

SHIM_EXIT_TIMEOUT = 5.0
Io = Callable[..., Awaitable[Any]]  # runs a blocking function on the runtime's threads
Locks = Callable[[str], asyncio.Lock]


class ShimSupervisor:
    """The runtime's tasks (``tasks``, shared with it) and their shims; exits go to ``listeners``."""

    def __init__(
        self,
        tasks: dict[str, RuntimeTask],
        *,
        tasks_dir: Path,
        cgroups: Cgroups,
        network: HostNetwork,
        clock: Clock,
        io: Io,
        lock: Locks,
    ) -> None:
        self.tasks = tasks
        self.tasks_dir = tasks_dir
        self.cgroups = cgroups
        self.network = network
        self.clock = clock
        self.io = io
        self.lock = lock
        self.listeners: list[ExitListener] = []
        self.background: set[asyncio.Task[None]] = set()
        self.closing = False

    # -- attaching to what is on disk -----------------------------------------------------------

    async def attach(self, task_id: str, *, quiet: bool = False) -> RuntimeTask | None:
        """Rebuild a task from its directory (after a restart); reconnect to its shim if it lives."""
        task_dir = self.tasks_dir / task_id
        loaded = await self.io(read_sandbox, task_dir)
        if loaded is None:
            return None
        info = loaded.info if loaded.ready else replace(loaded.info, sandbox_id="")
        task = RuntimeTask(task_id, task_dir, info, self.network.sandbox(task_id), loaded.hostname)
        task.containers = await self.io(load_containers, task_dir)
        task.shim_pid = await self.io(read_shim_pid, task_dir)
        self.tasks[task_id] = task
        for container in task.containers.values():
            if container.exit is not None:
                self.note_oom(task, container)
        if await self.io(shim_alive, task_dir):
            try:
                await self.connect(task)
            except ShimError as error:
                log.warning("cannot reconnect to a shim", extra={"task_id": task_id, "error": str(error)})
        elif not quiet and any(c.exit is None for c in task.containers.values()):
            await self.shim_died(task)
        return task

    async def connect(self, task: RuntimeTask) -> None:
        async with task.connecting:
            if task.client is not None and not task.client.closed:
                return
            client = await ShimClient.connect(
                task.dir,
                on_exit=lambda name, code, at: self.on_shim_exit(task, name),
                on_close=lambda: self.on_disconnect(task),
            )
            task.client = client
            if task.shim_pid != client.pid or task.pidfd is None:
                self.unwatch(task)
                task.shim_pid = client.pid
                self.watch(task)
        # Exits while nobody listened are in the records.
        for container in list(task.containers.values()):
            if container.exit is None:
                await self.io(self.read_exit, task, container)
                if container.exit is not None:
                    self.notify(task.task_id, container.name)

    def on_disconnect(self, task: RuntimeTask) -> None:
        """The shim hung up on a live connection: reconnect (a dead shim is the pidfd's business)."""
        if task.destroying or self.closing or task.shim_died:
            return
        self.background_task(self._reconnect(task))

    async def _reconnect(self, task: RuntimeTask) -> None:
        with contextlib.suppress(ShimError):
            await self.client(task, handle_death=False)

    async def client(self, task: RuntimeTask, *, handle_death: bool = True) -> ShimClient | None:
        """A live connection to the task's shim; ``None`` when it is gone or cannot be reached now."""
        if task.client is not None and not task.client.closed:
            return task.client
        if await self.io(shim_alive, task.dir):
            try:
                await self.connect(task)
            except ShimError as error:
                # Alive but not answering: its containers are fine; callers fall back or retry.
                log.warning("cannot reach a live shim", extra={"task_id": task.task_id, "error": str(error)})
                return None
            return task.client
        if handle_death and not task.destroying:
            await self.shim_died(task)
        return None

    async def stop_shim(self, task: RuntimeTask) -> None:
        """Kill the containers, let the shim record their exits, and wait for it to leave."""
        with contextlib.suppress(CgroupError):
            await self.io(self.cgroups.kill_containers, task.task_id)
        client = await self.client(task, handle_death=False)
        if client is not None:
            with contextlib.suppress(CgroupError):
                await self.io(self.cgroups.release, client.pid)
            with contextlib.suppress(ShimError):
                await client.shutdown()
        if task.pidfd is not None:
            try:
                await asyncio.wait_for(task.shim_exited.wait(), SHIM_EXIT_TIMEOUT)
            except TimeoutError:
                log.warning("shim did not exit; killing it", extra={"task_id": task.task_id, "pid": task.shim_pid})
                with contextlib.suppress(OSError):
                    # Through the pidfd: never a process that reused the shim's pid.
                    signal.pidfd_send_signal(task.pidfd, signal.SIGKILL)
        if task.client is not None:
            await task.client.close()

    # -- exits ----------------------------------------------------------------------------------

    def on_shim_exit(self, task: RuntimeTask, name: str) -> None:
        container = task.containers.get(name)
        if container is None or container.exit is not None:
            return
        self.read_exit(task, container)
        if container.exit is not None:
            self.notify(task.task_id, name)

    def read_exit(self, task: RuntimeTask, container: ContainerRecord) -> None:
        record = read_exit(task.dir / f"{container.name}.exit")
        if record is not None:
            container.exit = record
            self.note_oom(task, container)

    def note_oom(self, task: RuntimeTask, container: ContainerRecord) -> None:
        # §3.5: the cgroup's oom_kill counter is the evidence; exit code 137 alone is any SIGKILL.
        if container.exit is not None and container.exit.code is not None:
            container.oom = self.cgroups.oom_kills(task.task_id, container.name) > 0

    def watch(self, task: RuntimeTask) -> None:
        """Learn of the shim's death from a pidfd, the moment it happens."""
        if task.shim_pid is None:
            return
        try:
            task.pidfd = os.pidfd_open(task.shim_pid)
        except ProcessLookupError:
            task.shim_exited.set()
            return
        task.shim_exited.clear()
        asyncio.get_running_loop().add_reader(task.pidfd, self._on_shim_gone, task)

    def unwatch(self, task: RuntimeTask) -> None:
        if task.pidfd is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(task.pidfd)
            os.close(task.pidfd)
            task.pidfd = None

    def _on_shim_gone(self, task: RuntimeTask) -> None:
        self.unwatch(task)
        task.shim_exited.set()
        if task.destroying or self.closing:
            return
        self.background_task(self._handle_shim_death(task))

    def background_task(self, work: Coroutine[Any, Any, None]) -> None:
        background = asyncio.create_task(work)
        self.background.add(background)
        background.add_done_callback(self.background.discard)

    async def _handle_shim_death(self, task: RuntimeTask) -> None:
        async with self.lock(task.task_id):
            if not task.destroying and self.tasks.get(task.task_id) is task:
                await self.shim_died(task)

    async def shim_died(self, task: RuntimeTask) -> None:
        """Kill what the dead shim left behind; every container it did not record ends with our record."""
        if task.shim_died:
            return
        log.warning("shim of a task died", extra={"task_id": task.task_id, "pid": task.shim_pid})
        task.shim_died = True
        if task.client is not None:
            await task.client.close()
        with contextlib.suppress(CgroupError):
            await self.io(self.cgroups.kill_containers, task.task_id)
        reason = shim_died_reason(task.shim_pid, task.dir)
        ended = await self.io(self._record_lost, task, reason)
        for name in ended:
            self.notify(task.task_id, name)

    def _record_lost(self, task: RuntimeTask, reason: str) -> list[str]:
        ended = []
        for container in task.containers.values():
            if container.exit is not None:
                continue
            self.read_exit(task, container)  # the shim may have recorded it just before dying
            if container.exit is None:
                record = ExitRecord(code=None, signal=0, finished_at=self.clock.now(), reason=reason)
                write_exit(task.dir / f"{container.name}.exit", record)
                container.exit = record
            ended.append(container.name)
        return ended

    def notify(self, task_id: str, name: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(task_id, name)
            except Exception:
                # A listener's bug must not keep the exit from the other listeners.
                log.exception("exit listener failed", extra={"task_id": task_id})
