"""The process runtime: every task in its own network namespace, containers as real processes owned
by a per-task shim, under cgroup limits (design.md "Runtimes", spec/ecs.md §3).

Everything the runtime knows can be rebuilt from the task's directory (:mod:`.task_dir`), its
cgroups (:mod:`.cgroups`) and its network (:mod:`.network`), so a restarted server re-attaches:
it reconnects to live shims (pids unchanged) and reads the exit records of containers that ended
while it was away. The steps live beside this module: a task's sandbox is made here (or taken
over from a spare, :mod:`.pool`), a container's launch is built by :mod:`.launch`, and shims,
exits and a shim's death are watched by :mod:`.supervision`; :mod:`.task_state` holds what is
kept per task.

Invariants:

- A container's state comes from the shim's records (:mod:`.supervision`); events only wake us up
  sooner. ``inspect`` looks for an exit record whenever it believes a container still runs, so a
  missed event costs nothing.
- Blocking work (cgroup files, directory scans, spec files) runs on the runtime's own threads;
  the event loop only waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ecslite.clock import Clock, SystemClock
from ecslite.config import Settings
from ecslite.runtime.base import (
    ContainerCreateFailed,
    ContainerNotFound,
    ContainerSpec,
    ContainerStartFailed,
    ContainerState,
    ContainerStats,
    ExecResult,
    ExitListener,
    ImageInfo,
    RuntimeFailure,
    SandboxFailed,
    SandboxInfo,
    SandboxSpec,
)
from ecslite.runtime.process.cgroups import CgroupError, Cgroups, Layout, Limits, cgroup_key
from ecslite.runtime.process.exec import ExecTarget, run_in_container
from ecslite.runtime.process.exec_pty import PtyProcess, spawn_on_terminal
from ecslite.runtime.process.images import ImageResolver, ResolvedImage
from ecslite.runtime.process.launch import write_launch
from ecslite.runtime.process.network import HostNetwork
from ecslite.runtime.process.pool import DEFAULT_SIZE, SandboxPool, Spare, is_spare
from ecslite.runtime.process.shim_build import ensure_shim
from ecslite.runtime.process.shim_client import LaunchSpec, ShimError, ShimGone, launch_shim, shim_alive
from ecslite.runtime.process.supervision import ShimSupervisor
from ecslite.runtime.process.task_dir import (
    ContainerRecord,
    begin_sandbox,
    remove_task_files,
    task_dirs,
    write_sandbox,
)
from ecslite.runtime.process.task_state import (
    CANNOT_CREATE,
    CANNOT_START,
    MIB,
    SANDBOX_FAILED,
    RuntimeTask,
    container_state,
    shim_died_reason,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class ProcessRuntime:
    name = "process"

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        *,
        shim: Path | None = None,
        cgroups: Cgroups | None = None,
        network: HostNetwork | None = None,
        images: ImageResolver | None = None,
        pool_size: int = DEFAULT_SIZE,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.shim = shim or ensure_shim()
        self.cgroups = cgroups or Cgroups(Layout.detect(), cgroup_key(settings.runtime_dir))
        self.network = network or HostNetwork(settings)
        self.images = images or ImageResolver(settings)
        self.tasks_dir = settings.runtime_dir / "tasks"
        self._tasks: dict[str, RuntimeTask] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._resolved: dict[tuple[str, str], ResolvedImage] = {}
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ecslite-process-runtime")
        self._network_ready = False
        self._started = False
        self.shims = ShimSupervisor(
            self._tasks,
            tasks_dir=self.tasks_dir,
            cgroups=self.cgroups,
            network=self.network,
            clock=self.clock,
            io=self._io,
            lock=self._lock,
        )
        self.pool = SandboxPool(
            tasks_dir=self.tasks_dir,
            network=self.network,
            cgroups=self.cgroups,
            shim=self.shim,
            clock=self.clock,
            io=self._io,
            destroy=self.destroy_sandbox,
            size=pool_size,
        )
        # Containers keep the open-file limits the server was started with (see start()).
        self._nofile = resource.getrlimit(resource.RLIMIT_NOFILE)

    # -- lifecycle (called by the server) -----------------------------------------------------

    async def start(self) -> None:
        """Set up the host network and re-attach to every task that survived a restart."""
        # Every task holds a socket and a pidfd here: the soft limit (often 1024) would cap the
        # number of tasks, so take the hard one, as Go programs and dockerd do.
        soft, hard = self._nofile
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        await self._ensure_network()
        for task_id in await self._io(self._task_dirs):
            if is_spare(task_id):
                continue
            async with self._lock(task_id):
                if task_id not in self._tasks:
                    await self.shims.attach(task_id)
        # Spares of the last server (killed before it could remove them) are of no use to this one.
        for spare_id in await self._listed():
            if is_spare(spare_id):
                await self.destroy_sandbox(spare_id)
        self._started = True

    def output_path(self, task_id: str, name: str) -> Path:
        """Where the shim writes the container's output records (``<time> stdout|stderr <line>``)."""
        return self.tasks_dir / task_id / f"{name}.log"

    async def close(self) -> None:
        """Remove the spare sandboxes and let go of shims and the network's helpers; tasks and their
        containers keep running."""
        await self.pool.close()
        self.shims.closing = True
        for task in list(self._tasks.values()):
            self.shims.unwatch(task)
            if task.client is not None:
                await task.client.close()
        for background in list(self.shims.background):
            background.cancel()
        self._tasks.clear()
        await self.network.close()
        await self._io(self.cgroups.remove_base_if_unused)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def on_exit(self, listener: ExitListener) -> None:
        self.shims.listeners.append(listener)

    # -- sandboxes ------------------------------------------------------------------------------

    async def drain_pool(self) -> None:
        """Remove every spare sandbox now (the server's reset); demand makes new ones."""
        await self.pool.drain()

    async def prepare_sandbox(self, spec: SandboxSpec) -> SandboxInfo:
        async with self._lock(spec.task_id):
            task = self._tasks.get(spec.task_id) or await self.shims.attach(spec.task_id)
            if task is not None and task.info.sandbox_id and task.client is not None and not task.client.closed:
                return task.info
            spare = self._spare_for(spec) if task is None else None
            try:
                if spare is not None and (adopted := await self._adopt(spare, spec)) is not None:
                    return adopted
                return await self._create(spec)
            except RuntimeFailure:
                raise
            except (CgroupError, ShimError, OSError) as error:
                raise SandboxFailed(f"{SANDBOX_FAILED}: {error}") from None

    def _spare_for(self, spec: SandboxSpec) -> Spare | None:
        """A spare sandbox for a new awsvpc task, when the pool has one (:mod:`.pool`)."""
        if not self._started or spec.network_mode != "awsvpc" or spec.network is None:
            return None
        self.pool.want()
        if (self.tasks_dir / spec.task_id).exists():
            return None  # output of an earlier sandbox of this task: made the usual way, around it
        return self.pool.take()

    async def _adopt(self, spare: Spare, spec: SandboxSpec) -> SandboxInfo | None:
        """The task's sandbox from a spare; ``None`` when the spare could not be taken over."""
        info = SandboxInfo(
            task_id=spec.task_id,
            sandbox_id=f"{spec.task_id}@{spare.pid}",
            private_ipv4=spec.network.ipv4 if spec.network else None,
            mac_address=spec.network.mac_address if spec.network else None,
            subnet_cidr=spec.network.subnet_cidr if spec.network else None,
            gateway=spec.network.gateway if spec.network else None,
            created_at=self.clock.now(),
        )
        network = await self.pool.claim(spare, spec, self._limits(spec), info)
        if network is None:
            return None
        task = RuntimeTask(spec.task_id, self.tasks_dir / spec.task_id, info, network, spec.hostname)
        task.client, task.shim_pid, task.zygote = spare.client, spare.pid, spare.zygote
        spare.client.rebind(
            on_exit=lambda name, code, at: self.shims.on_shim_exit(task, name),
            on_close=lambda: self.shims.on_disconnect(task),
        )
        self._tasks[spec.task_id] = task
        self.shims.watch(task)
        return info

    @staticmethod
    def _limits(spec: SandboxSpec) -> Limits:
        return Limits(
            cpu_quota_units=spec.cpu_units or None,
            memory_bytes=spec.memory_mib * MIB if spec.memory_mib else None,
        )

    async def _create(self, spec: SandboxSpec) -> SandboxInfo:
        task_dir = self.tasks_dir / spec.task_id
        info = SandboxInfo(
            task_id=spec.task_id,
            sandbox_id="",
            private_ipv4=spec.network.ipv4 if spec.network else None,
            mac_address=spec.network.mac_address if spec.network else None,
            subnet_cidr=spec.network.subnet_cidr if spec.network else None,
            gateway=spec.network.gateway if spec.network else None,
            created_at=self.clock.now(),
        )
        # The intent first: a crash from here on leaves a sandbox that sandboxes() lists for removal.
        await self._io(begin_sandbox, task_dir, info, spec)
        await self._ensure_network()
        limits = self._limits(spec)
        # Independent steps, together: the network (its own thread), the cgroups (ours) and the shim.
        network, made, shim_pid = await asyncio.gather(
            self.network.create_sandbox(spec),
            self._io(self.cgroups.create_task, spec.task_id, limits),
            self._ensure_shim(task_dir),
            return_exceptions=True,  # all three finish before we go on (or fail), never half-running
        )
        if isinstance(network, BaseException):
            raise network
        if isinstance(made, BaseException):
            raise made
        if isinstance(shim_pid, BaseException):
            raise shim_pid
        if shim_pid is not None:
            # Out of the server's cgroup: a service manager restarting the server must not take the shim along.
            await self._io(self.cgroups.join, self.cgroups.shim_dirs(spec.task_id), shim_pid)
        task = self._tasks.get(spec.task_id)
        if task is None:
            task = self._tasks[spec.task_id] = RuntimeTask(spec.task_id, task_dir, info, network)
        task.info, task.network, task.hostname = info, network, spec.hostname
        await self.shims.connect(task)
        task.info = replace(info, sandbox_id=f"{spec.task_id}@{task.shim_pid}")
        await self._io(write_sandbox, task_dir, task.info, spec, True)
        return task.info

    async def _ensure_shim(self, task_dir: Path) -> int | None:
        """Launch the task's shim unless one serves it already; the pid of a new one."""
        if await self._io(shim_alive, task_dir):
            return None
        return await launch_shim(self.shim, task_dir)

    async def sandbox(self, task_id: str) -> SandboxInfo | None:
        task = await self._get(task_id)
        return task.info if task is not None and task.info.sandbox_id else None

    async def sandboxes(self) -> list[str]:
        for task_id in [t for t, lock in self._locks.items() if t not in self._tasks and not lock.locked()]:
            del self._locks[task_id]
        return [task_id for task_id in await self._listed() if not is_spare(task_id)]

    async def _listed(self) -> list[str]:
        """Every id with anything on the host: tasks' sandboxes and spares, whole or in part."""
        found = set(await self._io(self._task_dirs)) | set(self._tasks)
        found |= set(self.network.existing())
        found |= set(await self._io(self.cgroups.existing_tasks))
        return sorted(found)

    async def destroy_sandbox(self, task_id: str) -> None:
        async with self._lock(task_id):
            task = self._tasks.get(task_id) or await self.shims.attach(task_id, quiet=True)
            if task is not None:
                task.destroying = True
                await self.shims.stop_shim(task)
                self.shims.unwatch(task)
            with contextlib.suppress(CgroupError):
                await self._io(self.cgroups.destroy_task, task_id)
            await self.network.destroy_sandbox(task_id)
            keep_shim_log = task is not None and task.shim_died
            await self._io(remove_task_files, self.tasks_dir / task_id, keep_shim_log)
            self._tasks.pop(task_id, None)
            for key in [k for k in self._resolved if k[0] == task_id]:
                del self._resolved[key]
        if not is_spare(task_id):
            self.pool.touch()

    # -- images and containers ------------------------------------------------------------------

    async def pull_image(self, spec: ContainerSpec) -> ImageInfo:
        image = await self._io(self.images.resolve, spec.image)
        self._resolved[(spec.task_id, spec.name)] = image
        return ImageInfo(image=spec.image, digest=image.digest, image_id=image.image_id)

    async def start_container(self, spec: ContainerSpec) -> ContainerState:
        task = await self._get(spec.task_id)
        if task is None or task.destroying:
            raise ContainerNotFound(f"{CANNOT_CREATE}: the task's sandbox does not exist")
        existing = task.containers.get(spec.name)
        if existing is not None:
            return container_state(task, existing)
        image = self._resolved.get((spec.task_id, spec.name))
        if image is None:
            image = await self._io(self.images.resolve, spec.image)
        # The zygote is the first container's (renamed on the loop: one container gets it, and the
        # renames take microseconds); the others join their cgroups as they start.
        zygote, task.zygote = task.zygote and self.cgroups.claim_zygote(spec.task_id, spec.name), False
        try:
            launch: LaunchSpec = await self._io(write_launch, self.cgroups, task, spec, image, self._nofile)
        except OSError as error:
            raise ContainerCreateFailed(f"{CANNOT_CREATE}: cannot write the container's spec: {error}") from None
        client = await self.shims.client(task)
        if client is None:
            raise ContainerStartFailed(f"{CANNOT_START}: {shim_died_reason(task.shim_pid, task.dir)}")
        try:
            started = await client.start(spec.name, zygote=zygote)
        except ShimGone as gone:
            raise ContainerStartFailed(f"{CANNOT_START}: the task's ecslite shim is gone ({gone})") from None
        except ShimError as refused:
            with contextlib.suppress(CgroupError):
                await self._io(self.cgroups.remove, self.cgroups.container_dirs(spec.task_id, spec.name))
            raise ContainerStartFailed(f"{CANNOT_START}: {refused}") from None
        container = task.containers.get(spec.name)  # an exit event may have arrived first
        if container is None:
            container = ContainerRecord(spec.name, launch, started.pid, started.started_at, started.start_ticks)
            task.containers[spec.name] = container
        return container_state(task, container)

    async def inspect(self, task_id: str, name: str) -> ContainerState | None:
        task = await self._get(task_id)
        container = task.containers.get(name) if task is not None else None
        if task is None or container is None:
            return None
        # A stat, on the loop: the common answer (still running) needs no thread.
        if container.exit is None and (task.dir / f"{name}.exit").exists():
            await self._io(self.shims.read_exit, task, container)
        return container_state(task, container)

    async def signal(self, task_id: str, name: str, signum: int) -> None:
        """Signal the container's process group. SIGTERM is the stop sequence's "stop" (§3.4), so it
        becomes the container's stop signal (the image's STOPSIGNAL), as ``docker stop`` does."""
        task = await self._get(task_id)
        container = task.containers.get(name) if task is not None else None
        if task is None or container is None:
            raise ContainerNotFound(f"no container {name} in task {task_id}")
        if container.exit is not None:
            return
        stopping = signum == signal.SIGTERM
        client = await self.shims.client(task)
        try:
            if client is not None:
                await (client.stop(name) if stopping else client.signal(name, signum))
                return
        except ShimGone:
            pass
        except ShimError as refused:
            raise ContainerNotFound(str(refused)) from None
        if container.exit is None and not task.shim_died:
            # The shim cannot be reached: signal the processes in the container's cgroups directly,
            # so a stop still stops (a dead shim's containers were already killed).
            direct = container.launch.stop_signal if stopping else signum
            await self._io(self.cgroups.signal_container, task.task_id, name, direct)

    async def exec(self, task_id: str, name: str, command: Sequence[str], timeout: float) -> ExecResult:
        task = await self._get(task_id)
        container = task.containers.get(name) if task is not None else None
        if task is None or container is None or container.exit is not None:
            return ExecResult(exit_code=None, output="container is not running")
        launch = container.launch
        target = ExecTarget(
            pid=container.pid,
            start_ticks=container.start_ticks,
            cgroups=launch.cgroups,
            uid=launch.uid,
            gid=launch.gid,
            groups=launch.groups,
            cwd=launch.cwd,
            env=launch.env,
            rlimits=launch.rlimits,
        )
        return await run_in_container(self.shim, target, command, timeout)

    async def open_exec(
        self, task_id: str, name: str, command: Sequence[str], *, rows: int = 24, cols: int = 80
    ) -> PtyProcess:
        """ECS Exec (§11.4): ``command`` in the container's namespaces and cgroups, as root, on a terminal."""
        task = await self._get(task_id)
        container = task.containers.get(name) if task is not None else None
        if task is None or container is None or container.exit is not None:
            raise ContainerNotFound(f"container {name} of task {task_id} is not running")
        launch = container.launch
        target = ExecTarget(
            pid=container.pid,
            start_ticks=container.start_ticks,
            cgroups=launch.cgroups,
            cwd=launch.cwd,
            env=launch.env,
            rlimits=launch.rlimits,
        )
        return await spawn_on_terminal(self.shim, target, command, rows=rows, cols=cols)

    async def stats(self, task_id: str, name: str) -> ContainerStats | None:
        task = await self._get(task_id)
        container = task.containers.get(name) if task is not None else None
        if task is None or container is None or container.exit is not None:
            return None
        try:
            usage = await self._io(self.cgroups.usage, task_id, name)
        except CgroupError:
            return None
        activity = await self._io(self.cgroups.activity, task_id, name)
        rx, tx = self.network.counters(task_id) or (0, 0)
        return ContainerStats(
            read_at=self.clock.now(),
            cpu_usage_ns=usage.cpu_usage_ns,
            memory_usage_bytes=usage.memory_usage_bytes,
            memory_limit_bytes=usage.memory_limit_bytes,
            rx_bytes=rx,
            tx_bytes=tx,
            io_read_bytes=activity.io_read_bytes,
            io_write_bytes=activity.io_write_bytes,
            pids=activity.pids,
        )

    # -- attaching to what is on disk -----------------------------------------------------------

    async def _get(self, task_id: str) -> RuntimeTask | None:
        task = self._tasks.get(task_id)
        if task is not None:
            return task
        async with self._lock(task_id):
            return self._tasks.get(task_id) or await self.shims.attach(task_id)

    # -- plumbing -------------------------------------------------------------------------------

    async def _ensure_network(self) -> None:
        if not self._network_ready:
            await self.network.setup()
            self._network_ready = True

    def _lock(self, task_id: str) -> asyncio.Lock:
        lock = self._locks.get(task_id)
        if lock is None:
            lock = self._locks[task_id] = asyncio.Lock()
        return lock

    async def _io(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _task_dirs(self) -> list[str]:
        return task_dirs(self.tasks_dir)
