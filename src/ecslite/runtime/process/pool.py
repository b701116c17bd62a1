"""Spare sandboxes: awsvpc sandboxes made before any task asks, so a task start only addresses one.

A spare is everything :meth:`ProcessRuntime.prepare_sandbox` makes that does not depend on the task:
a network namespace with ``lo`` up and a veth on the bridge (``eth0`` down inside), the task cgroups
(the shim already moved into ``ecslite.shim``), the task directory, a shim serving it, connected,
and the shim's zygote: the first container's process, cloned and already in its cgroups. Moving a
process into a cgroup waits for an RCU grace period (~10 ms on cgroup v1) unless another move just
happened, so without the zygote the container's start would pay what the spare saved (see the
shim's header). Made in the background, a spare costs the critical path nothing; taking one over
(:meth:`ProcessRuntime._adopt`) renames its cgroups and directory to the task's (the shim works
through a descriptor of its directory, so the rename does not disturb it), gives ``eth0`` the task's
MAC, address and routes and binds the namespace under the task's name: about a millisecond instead
of ten or more.

Invariants:

- A spare has a spare id (:data:`SPARE_PREFIX` + hex; task ids are 32 hex digits, so the two never
  meet) wherever a task has its task id: ``tasks/<id>/``, ``network/<id>/``, ``/run/netns/<bridge>-<id>``,
  the cgroups. So whatever a crash leaves of a spare is found by the same listings as a task's
  sandbox and removed by the same ``destroy_sandbox``; the runtime never reports spares as
  sandboxes (:func:`is_spare`) and removes every spare it finds when it starts.
- Spares exist only while tasks are being started: the pool fills to ``size`` after each awsvpc
  sandbox is asked for (taken from the pool or not) and empties itself once no sandbox has been
  asked for or removed for ``idle_seconds``; :meth:`SandboxPool.drain` empties it at once (the
  server's reset and shutdown), and nothing refills it until the next demand. An idle server
  holds no spare, so it leaves the host as tidy as before.
- A spare is handed out once: taking it removes it from the pool in the same step, and a spare
  whose shim dies is dropped and removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from ecslite.clock import Clock
from ecslite.runtime.base import RuntimeFailure, SandboxInfo, SandboxSpec
from ecslite.runtime.process.cgroups import CgroupError, Cgroups, Limits
from ecslite.runtime.process.netlink import NetlinkError
from ecslite.runtime.process.network import HostNetwork, SpareNetwork
from ecslite.runtime.process.sandbox_files import SandboxNetwork
from ecslite.runtime.process.shim_client import ShimClient, ShimError, launch_shim, make_zygote
from ecslite.runtime.process.task_dir import begin_spare, write_sandbox

log = logging.getLogger(__name__)

SPARE_PREFIX = "pool-"
DEFAULT_SIZE = 4
DEFAULT_IDLE_SECONDS = 5.0
RETRY_SECONDS = 1.0  # after a spare could not be made: the host is short of something; try later


def is_spare(sandbox_id: str) -> bool:
    return sandbox_id.startswith(SPARE_PREFIX)


@dataclass(slots=True)
class Spare:
    id: str
    dir: Path
    network: SpareNetwork
    client: ShimClient
    pid: int
    zygote: bool = False
    pidfd: int | None = field(default=None)


class SandboxPool:
    """Keeps up to ``size`` spares while sandboxes are being asked for; see the module docstring."""

    def __init__(
        self,
        *,
        tasks_dir: Path,
        network: HostNetwork,
        cgroups: Cgroups,
        shim: Path,
        clock: Clock,
        io: Callable[..., Awaitable[object]],
        destroy: Callable[[str], Awaitable[None]],
        size: int = DEFAULT_SIZE,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
    ) -> None:
        self.tasks_dir = tasks_dir
        self.network = network
        self.cgroups = cgroups
        self.shim = shim
        self.clock = clock
        self.size = size
        self.idle_seconds = idle_seconds
        self.made = 0
        self.taken = 0
        self._io = io
        self._destroy = destroy
        self._spares: deque[Spare] = deque()
        self._last_demand = 0.0
        self._wake = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._closing = False
        self._draining = False
        self._removals: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._spares)

    # -- demand ----------------------------------------------------------------------------------

    def want(self) -> None:
        """An awsvpc sandbox was asked for: keep (or get) the pool warm."""
        if self._closing or self._draining or self.size <= 0:
            return
        self._last_demand = self.clock.now()
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep(), name="sandbox-pool")
        self._wake.set()

    def touch(self) -> None:
        """A sandbox was removed: a warm pool stays warm (a cold one stays cold)."""
        if self._keeper is not None and not self._keeper.done() and not self._draining:
            self._last_demand = self.clock.now()

    def take(self) -> Spare | None:
        """A ready spare, no longer in the pool; ``None`` when there is none."""
        while self._spares:
            spare = self._spares.popleft()
            self._unwatch(spare)
            if not spare.client.closed:
                self.taken += 1
                return spare
            self._remove_later(spare)
        return None

    async def claim(self, spare: Spare, spec: SandboxSpec, limits: Limits, info: SandboxInfo) -> SandboxNetwork | None:
        """Make ``spare`` the sandbox of the task ``spec`` describes, recorded as ``info``; ``None``
        when that failed (logged; the spare and whatever it had become of the task's are removed,
        so the task's sandbox can be made the usual way).

        The cgroups first, then the network, then the directory: up to the directory's rename the
        spare is still found (and removed) under its own id, and each part renamed to the task's is
        one the usual way takes as it is or makes again (cgroup creation and the network are
        idempotent), so a crash anywhere leaves nothing a task depends on half-made.
        """
        task_id = spec.task_id
        try:
            self.cgroups.adopt_task(spare.id, task_id, limits)
            network = await self.network.claim_spare(spare.network, spec)
            write_sandbox(spare.dir, info, spec, True)
            os.rename(spare.dir, self.tasks_dir / task_id)
        except (CgroupError, NetlinkError, OSError) as error:
            log.warning("cannot take over a spare sandbox", extra={"task_id": task_id, "error": str(error)})
            await self._remove(spare)
            await self.network.destroy_sandbox(task_id)
            return None
        return network

    # -- lifecycle ---------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Remove every spare now; the pool stays empty until the next demand."""
        self._draining = True
        try:
            self._last_demand = float("-inf")
            await self._stop_keeper()
            await self._remove_all()
        finally:
            self._draining = False

    async def close(self) -> None:
        self._closing = True
        await self.drain()
        for removal in list(self._removals):
            with contextlib.suppress(asyncio.CancelledError):
                await removal

    async def _stop_keeper(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is None:
            return
        # Never cancelled while it makes a spare (that would leave half of one on threads still
        # working on it): it sees the expired demand and ends between two spares.
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper

    async def _keep(self) -> None:
        while not self._closing:
            self._wake.clear()
            idle_for = self.clock.now() - self._last_demand
            if idle_for >= self.idle_seconds:
                if not self._spares:
                    return  # cold; the next want() starts another keeper
                await self._remove_all()
                continue  # a demand may have come while spares were being removed
            if len(self._spares) < self.size:
                try:
                    self._spares.append(await self._make())
                except (RuntimeFailure, ShimError, CgroupError, NetlinkError, OSError) as error:
                    log.warning("cannot make a spare sandbox", extra={"error": str(error)})
                    await self._pause(RETRY_SECONDS)
                continue
            await self._pause(self.idle_seconds - idle_for)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` on the clock, or until :meth:`want` or :meth:`drain` wakes the keeper."""
        sleeper = asyncio.ensure_future(self.clock.sleep(max(seconds, 0.0)))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    # -- making and removing -------------------------------------------------------------------------

    async def _make(self) -> Spare:
        spare_id = SPARE_PREFIX + secrets.token_hex(8)
        task_dir = self.tasks_dir / spare_id
        try:
            # The record first: whatever follows, a crash leaves something the runtime finds and removes.
            await self._io(begin_spare, task_dir, spare_id, self.clock.now())
            network, made, pid = await asyncio.gather(
                self.network.create_spare(spare_id),
                self._io(self.cgroups.create_task, spare_id, Limits()),
                launch_shim(self.shim, task_dir),
                return_exceptions=True,  # all three finish before we go on (or fail), never half-running
            )
            for result in (network, made, pid):
                if isinstance(result, BaseException):
                    if isinstance(network, SpareNetwork):
                        network.close()
                    raise result
            assert isinstance(network, SpareNetwork) and isinstance(pid, int)
            client: ShimClient | None = None
            try:
                await self._io(self.cgroups.join, self.cgroups.shim_dirs(spare_id), pid)
                client = await ShimClient.connect(
                    task_dir, on_exit=lambda name, code, at: None, on_close=lambda: self._wake.set()
                )
                zygote_dirs = await self._io(self.cgroups.create_zygote, spare_id)
                assert isinstance(zygote_dirs, list)
                zygote = await make_zygote(client, zygote_dirs)
            except BaseException:
                network.close()
                if client is not None:
                    await client.close()
                raise
        except BaseException:
            with contextlib.suppress(Exception):
                await self._destroy(spare_id)
            raise
        spare = Spare(spare_id, task_dir, network, client, pid, zygote)
        self._watch(spare)
        self.made += 1
        return spare

    async def _remove_all(self) -> None:
        while self._spares:
            spare = self._spares.popleft()
            self._unwatch(spare)
            await self._remove(spare)

    def _remove_later(self, spare: Spare) -> None:
        removal = asyncio.create_task(self._remove(spare), name=f"remove-{spare.id}")
        self._removals.add(removal)
        removal.add_done_callback(self._removals.discard)

    async def _remove(self, spare: Spare) -> None:
        spare.network.close()
        await spare.client.close()
        try:
            await self._destroy(spare.id)
        except Exception:
            # Logged and counted by the caller's next start, which removes every spare it finds.
            log.exception("cannot remove a spare sandbox", extra={"spare": spare.id})

    # -- watching ---------------------------------------------------------------------------------

    def _watch(self, spare: Spare) -> None:
        """A spare whose shim dies leaves the pool at once (its pidfd becomes readable)."""
        try:
            spare.pidfd = os.pidfd_open(spare.pid)
        except ProcessLookupError:
            return
        asyncio.get_running_loop().add_reader(spare.pidfd, self._on_spare_gone, spare)

    def _unwatch(self, spare: Spare) -> None:
        if spare.pidfd is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(spare.pidfd)
            os.close(spare.pidfd)
            spare.pidfd = None

    def _on_spare_gone(self, spare: Spare) -> None:
        self._unwatch(spare)
        if spare in self._spares:
            self._spares.remove(spare)
            log.warning("the shim of a spare sandbox exited", extra={"spare": spare.id, "pid": spare.pid})
            self._remove_later(spare)
            self._wake.set()
