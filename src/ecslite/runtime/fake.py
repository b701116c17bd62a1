"""The fake runtime: containers that "run" in memory, scripted per container, timed by the injected clock.

It implements :class:`ecslite.runtime.base.Runtime` completely, so the task controller walks the
whole ECS lifecycle on it (spec/ecs.md §14.7: no task is RUNNING at once), in unit tests with a
``FakeClock`` in milliseconds and behind the real server for HTTP tests.

Sandboxes get addresses from ``10.0.0.0/16`` (lowest free host from ``10.0.1.10`` on, released
when the sandbox is destroyed) with a MAC derived from the address. Nothing survives the process:
after a restart ``sandboxes()`` is empty, which is how the controller learns that tasks were lost.

Scripting through the container definition's ``dockerLabels`` (usable over HTTP):

=====================================  =================================================================
``ecslite.fake.run-seconds``           exit on its own after this many seconds (default: run until stopped)
``ecslite.fake.exit-code``             the code of that exit (default 0); alone, the container exits at once
``ecslite.fake.ignore-sigterm``        ``true``: SIGTERM is ignored, so only SIGKILL (137) ends it
``ecslite.fake.oom-after-seconds``     killed for memory after this many seconds (exit 137, OOM flag)
``ecslite.fake.health``                result of health-check commands: ``HEALTHY`` (default) or ``UNHEALTHY``
``ecslite.fake.healthy-after-seconds`` checks fail until this many seconds after the start, then pass
``ecslite.fake.pull-error``            the image pull fails with this text (``CannotPullContainerError: …``)
``ecslite.fake.pull-seconds``          the image pull takes this long
``ecslite.fake.start-error``           the start fails with this text (``CannotStartContainerError: …``)
``ecslite.fake.start-seconds``         the start takes this long
``ecslite.fake.output``                what the container prints: lines separated by newlines, to stdout,
                                       or to stderr when a line starts with ``2>`` (removed); ``{n}`` in
                                       a line becomes the number of the line printed (1, 2, …)
``ecslite.fake.output-interval``       seconds between two printed lines (default 0: all at once)
``ecslite.fake.output-repeat``         print the lines this many times (default 1); 0: until the
                                       container exits (needs an interval)
``ecslite.fake.cpu-units``             CPU the container keeps busy, in CPU units (1024 = one vCPU;
                                       default 0), as its stats report it
``ecslite.fake.memory-mib``            memory its stats report in use, in MiB (default 0)
=====================================  =================================================================

Output goes where the process runtime's shim puts it (:meth:`FakeRuntime.output_path`): one record
per line, ``<epoch seconds with 9 decimals> stdout|stderr <line>``, the time from the runtime's
clock, lines longer than 16 KiB cut into records of 16 KiB. The files outlive the sandbox, as the
shim's do, and live in ``output_dir`` (a temporary directory removed by :meth:`close` when none
is given).

A label with a value of the wrong kind fails the container's creation with a
``CannotCreateContainerError`` that names the label, rather than being ignored.

In-process API for unit tests: :meth:`FakeRuntime.script_image` (a script for every container of
an image, taking precedence over labels), :meth:`exit`, :meth:`oom_kill`, :meth:`set_health`,
:meth:`fail_next_sandbox`, :meth:`lose_everything` (what a server restart does) and the
``calls`` log of every operation.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import itertools
import logging
import math
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ecslite.clock import Clock, SystemClock
from ecslite.runtime.base import (
    ContainerCreateFailed,
    ContainerNotFound,
    ContainerRunState,
    ContainerSpec,
    ContainerStartFailed,
    ContainerState,
    ContainerStats,
    ExecResult,
    ExitListener,
    ImageInfo,
    ImagePullFailed,
    SandboxFailed,
    SandboxInfo,
    SandboxSpec,
)

log = logging.getLogger(__name__)

LABEL = "ecslite.fake."
CANNOT_CREATE_PREFIX = "CannotCreateContainerError"
SIGKILL = 9
SIGTERM = 15
_POOL = ipaddress.ip_network("10.0.0.0/16")
_FIRST_HOST = 256 + 10  # 10.0.1.10
OUTPUT_RECORD_BYTES = 16 * 1024  # the shim's LINE_MAX_BYTES: a longer line becomes several records
STDERR_PREFIX = "2>"


@dataclass(frozen=True, slots=True)
class FakeScript:
    """How one fake container behaves."""

    run_seconds: float | None = None
    exit_code: int = 0
    ignore_sigterm: bool = False
    oom_after_seconds: float | None = None
    health: str = "HEALTHY"
    healthy_after_seconds: float | None = None
    pull_error: str | None = None
    pull_seconds: float = 0.0
    start_error: str | None = None
    start_seconds: float = 0.0
    output: tuple[str, ...] = ()
    output_interval: float = 0.0
    output_repeat: int = 1
    cpu_units: float = 0.0
    memory_mib: float = 0.0

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> FakeScript:
        """The script the ``ecslite.fake.*`` labels describe; ``ValueError`` names a bad label."""
        get = {k[len(LABEL) :]: v for k, v in labels.items() if k.startswith(LABEL)}
        known = {
            "run-seconds",
            "exit-code",
            "ignore-sigterm",
            "oom-after-seconds",
            "health",
            "healthy-after-seconds",
            "pull-error",
            "pull-seconds",
            "start-error",
            "start-seconds",
            "output",
            "output-interval",
            "output-repeat",
            "cpu-units",
            "memory-mib",
        }
        unknown = sorted(set(get) - known)
        if unknown:
            raise ValueError(f"unknown label {LABEL}{unknown[0]}; known: {', '.join(sorted(known))}")
        exit_code = _integer(get, "exit-code", 0)
        run_seconds = _seconds(get, "run-seconds")
        if run_seconds is None and "exit-code" in get:
            run_seconds = 0.0
        health = get.get("health", "HEALTHY").upper()
        if health not in ("HEALTHY", "UNHEALTHY"):
            raise ValueError(f"label {LABEL}health must be HEALTHY or UNHEALTHY; got '{get['health']}'")
        output = tuple(get["output"].split("\n")) if get.get("output") else ()
        interval = _seconds(get, "output-interval") or 0.0
        repeat = _integer(get, "output-repeat", 1)
        if repeat < 0 or (repeat == 0 and not interval):
            raise ValueError(
                f"label {LABEL}output-repeat must be a count of at least 1, or 0 with {LABEL}output-interval set; "
                f"got '{get['output-repeat']}'"
            )
        ignore = get.get("ignore-sigterm", "false").lower()
        if ignore not in ("true", "false"):
            raise ValueError(f"label {LABEL}ignore-sigterm must be true or false; got '{get['ignore-sigterm']}'")
        return cls(
            run_seconds=run_seconds,
            exit_code=exit_code,
            ignore_sigterm=ignore == "true",
            oom_after_seconds=_seconds(get, "oom-after-seconds"),
            health=health,
            healthy_after_seconds=_seconds(get, "healthy-after-seconds"),
            pull_error=get.get("pull-error"),
            pull_seconds=_seconds(get, "pull-seconds") or 0.0,
            start_error=get.get("start-error"),
            start_seconds=_seconds(get, "start-seconds") or 0.0,
            output=output,
            output_interval=interval,
            output_repeat=repeat,
            cpu_units=_amount(get, "cpu-units"),
            memory_mib=_amount(get, "memory-mib"),
        )


def _records(now: float, stream: str, line: str) -> bytes:
    """One line as output records, cut at 16 KiB as the shim cuts it."""
    stamp = f"{now:.9f} {stream} ".encode()
    data = line.encode("utf-8")
    pieces = [data[i : i + OUTPUT_RECORD_BYTES] for i in range(0, len(data), OUTPUT_RECORD_BYTES)] or [b""]
    return b"".join(stamp + piece + b"\n" for piece in pieces)


def _integer(values: Mapping[str, str], key: str, default: int) -> int:
    if key not in values:
        return default
    try:
        return int(values[key])
    except ValueError:
        raise ValueError(f"label {LABEL}{key} must be an integer; got '{values[key]}'") from None


def _amount(values: Mapping[str, str], key: str) -> float:
    """A non-negative number (0 when the label is absent)."""
    if key not in values:
        return 0.0
    try:
        amount = float(values[key])
    except ValueError:
        amount = -1.0
    if amount < 0 or not math.isfinite(amount):
        raise ValueError(f"label {LABEL}{key} must be a non-negative number; got '{values[key]}'")
    return amount


def _seconds(values: Mapping[str, str], key: str) -> float | None:
    if key not in values:
        return None
    try:
        seconds = float(values[key])
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise ValueError(f"label {LABEL}{key} must be a number of seconds; got '{values[key]}'")
    return seconds


class _Container:
    def __init__(self, spec: ContainerSpec, script: FakeScript, state: ContainerState) -> None:
        self.spec = spec
        self.script = script
        self.state = state
        self.health_override: bool | None = None
        self.timers: list[asyncio.Task[None]] = []
        self.signals: list[int] = []

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


class _Sandbox:
    def __init__(self, info: SandboxInfo, host: int | None) -> None:
        self.info = info
        self.host = host
        self.containers: dict[str, _Container] = {}


class FakeRuntime:
    name = "fake"

    def __init__(self, clock: Clock | None = None, *, output_dir: Path | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._output_dir = output_dir
        self._own_output_dir = False
        self.calls: list[tuple[str, ...]] = []
        self._sandboxes: dict[str, _Sandbox] = {}
        self._listeners: list[ExitListener] = []
        self._image_scripts: dict[str, FakeScript] = {}
        self._fail_sandbox: str | None = None
        self._counter = 0

    # -- scripting (unit tests) ------------------------------------------------------------

    def script_image(self, image: str, script: FakeScript) -> None:
        """Every container of ``image`` follows ``script`` (instead of its labels)."""
        self._image_scripts[image] = script

    def fail_next_sandbox(self, reason: str) -> None:
        self._fail_sandbox = reason

    def exit(self, task_id: str, name: str, exit_code: int, *, oom: bool = False) -> None:
        """Make a running container exit now."""
        self._exit(self._container(task_id, name), exit_code, oom=oom)

    def oom_kill(self, task_id: str, name: str) -> None:
        self.exit(task_id, name, 137, oom=True)

    def set_health(self, task_id: str, name: str, passing: bool | None) -> None:
        """Force the result of the container's health checks (``None`` goes back to its script)."""
        self._container(task_id, name).health_override = passing

    def container_signals(self, task_id: str, name: str) -> list[int]:
        return list(self._container(task_id, name).signals)

    def lose_everything(self) -> None:
        """Forget every sandbox and container, as a restart of the server does to this runtime."""
        for sandbox in self._sandboxes.values():
            for container in sandbox.containers.values():
                container.cancel_timers()
        self._sandboxes.clear()

    def output_path(self, task_id: str, name: str) -> Path:
        """Where the container's output records are (see the module docstring)."""
        if self._output_dir is None:
            self._output_dir = Path(tempfile.mkdtemp(prefix="ecslite-fake-output-"))
            self._own_output_dir = True
        return self._output_dir / task_id / f"{name}.log"

    # -- Runtime ---------------------------------------------------------------------------

    async def prepare_sandbox(self, spec: SandboxSpec) -> SandboxInfo:
        self.calls.append(("prepare_sandbox", spec.task_id))
        existing = self._sandboxes.get(spec.task_id)
        if existing is not None:
            return existing.info
        if self._fail_sandbox is not None:
            reason, self._fail_sandbox = self._fail_sandbox, None
            raise SandboxFailed(reason)
        host = self._free_host() if spec.network_mode == "awsvpc" else None
        self._counter += 1
        info = SandboxInfo(
            task_id=spec.task_id, sandbox_id=f"fake-sandbox-{self._counter}", created_at=self.clock.now()
        )
        if host is not None:
            address = _POOL.network_address + host
            info = replace(
                info,
                private_ipv4=str(address),
                mac_address="0a:58:" + ":".join(f"{b:02x}" for b in address.packed),
                subnet_cidr=str(_POOL),
                gateway=str(_POOL.network_address + 1),
            )
        self._sandboxes[spec.task_id] = _Sandbox(info, host)
        return info

    def _free_host(self) -> int:
        used = {s.host for s in self._sandboxes.values() if s.host is not None}
        host = _FIRST_HOST
        while host in used:
            host += 1
        if host >= _POOL.num_addresses - 1:
            raise SandboxFailed(f"ResourceInitializationError: no free address left in {_POOL}")
        return host

    async def sandbox(self, task_id: str) -> SandboxInfo | None:
        found = self._sandboxes.get(task_id)
        return found.info if found else None

    async def sandboxes(self) -> list[str]:
        return sorted(self._sandboxes)

    async def pull_image(self, spec: ContainerSpec) -> ImageInfo:
        self.calls.append(("pull_image", spec.task_id, spec.name, spec.image))
        try:
            script = self._script(spec)
        except ValueError:
            script = FakeScript()  # reported when the container is created
        if script.pull_seconds:
            await self.clock.sleep(script.pull_seconds)
        if script.pull_error is not None:
            raise ImagePullFailed(f"CannotPullContainerError: {script.pull_error}")
        digest = "sha256:" + hashlib.sha256(spec.image.encode()).hexdigest()
        return ImageInfo(image=spec.image, digest=digest, image_id=digest)

    async def start_container(self, spec: ContainerSpec) -> ContainerState:
        self.calls.append(("start_container", spec.task_id, spec.name))
        sandbox = self._sandboxes.get(spec.task_id)
        if sandbox is None:
            raise ContainerNotFound(f"{CANNOT_CREATE_PREFIX}: the task's sandbox does not exist")
        existing = sandbox.containers.get(spec.name)
        if existing is not None:
            return existing.state
        try:
            script = self._script(spec)
        except ValueError as bad:
            raise ContainerCreateFailed(f"{CANNOT_CREATE_PREFIX}: {bad}") from None
        if script.start_seconds:
            await self.clock.sleep(script.start_seconds)
        if script.start_error is not None:
            raise ContainerStartFailed(f"CannotStartContainerError: {script.start_error}")
        if self._sandboxes.get(spec.task_id) is not sandbox:
            raise ContainerNotFound(f"{CANNOT_CREATE_PREFIX}: the task's sandbox was removed while starting")
        self._counter += 1
        now = self.clock.now()
        state = ContainerState(
            task_id=spec.task_id,
            name=spec.name,
            runtime_id=spec.runtime_id,
            status=ContainerRunState.RUNNING,
            pid=10_000 + self._counter,
            started_at=now,
        )
        container = _Container(spec, script, state)
        sandbox.containers[spec.name] = container
        if script.run_seconds is not None:
            container.timers.append(
                asyncio.create_task(self._exit_later(container, now + script.run_seconds, script.exit_code))
            )
        if script.oom_after_seconds is not None:
            container.timers.append(
                asyncio.create_task(self._exit_later(container, now + script.oom_after_seconds, 137, oom=True))
            )
        if script.output:
            container.timers.append(asyncio.create_task(self._print(container)))
        return state

    async def _print(self, container: _Container) -> None:
        """Write the scripted output as the shim would, until done or the container exits."""
        script = container.script
        path = self.output_path(container.spec.task_id, container.spec.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        numbers = itertools.count(1)
        rounds = itertools.count() if script.output_repeat == 0 else range(script.output_repeat)
        for _ in rounds:
            for line in script.output:
                if not container.state.running:
                    return
                stream, text = (
                    ("stderr", line[len(STDERR_PREFIX) :]) if line.startswith(STDERR_PREFIX) else ("stdout", line)
                )
                with path.open("ab") as handle:
                    handle.write(_records(self.clock.now(), stream, text.replace("{n}", str(next(numbers)))))
                if script.output_interval:
                    await self.clock.sleep(script.output_interval)

    async def _exit_later(self, container: _Container, at: float, exit_code: int, *, oom: bool = False) -> None:
        await self.clock.sleep(at - self.clock.now())
        container.timers = [t for t in container.timers if t is not asyncio.current_task()]
        self._exit(container, exit_code, oom=oom)

    async def inspect(self, task_id: str, name: str) -> ContainerState | None:
        sandbox = self._sandboxes.get(task_id)
        container = sandbox.containers.get(name) if sandbox else None
        return container.state if container else None

    async def signal(self, task_id: str, name: str, signum: int) -> None:
        self.calls.append(("signal", task_id, name, str(signum)))
        container = self._container(task_id, name)
        container.signals.append(signum)
        if not container.state.running:
            return
        if signum == SIGTERM and container.script.ignore_sigterm:
            return
        self._exit(container, 128 + signum)

    async def exec(self, task_id: str, name: str, command: Sequence[str], timeout: float) -> ExecResult:
        self.calls.append(("exec", task_id, name))
        sandbox = self._sandboxes.get(task_id)
        container = sandbox.containers.get(name) if sandbox else None
        if container is None or not container.state.running:
            return ExecResult(exit_code=None, output="container is not running")
        passing = container.health_override
        if passing is None:
            passing = container.script.health == "HEALTHY"
            after = container.script.healthy_after_seconds
            if after is not None and container.state.started_at is not None:
                passing = self.clock.now() >= container.state.started_at + after
        return ExecResult(exit_code=0 if passing else 1, output="ok" if passing else "check failed")

    async def stats(self, task_id: str, name: str) -> ContainerStats | None:
        sandbox = self._sandboxes.get(task_id)
        container = sandbox.containers.get(name) if sandbox else None
        if container is None or not container.state.running:
            return None
        limit = container.spec.memory_mib * 1024 * 1024 if container.spec.memory_mib else None
        now = self.clock.now()
        busy = max(0.0, now - (container.state.started_at or now)) * container.script.cpu_units / 1024
        return ContainerStats(
            read_at=now,
            cpu_usage_ns=int(busy * 1e9),
            memory_usage_bytes=int(container.script.memory_mib * 1024 * 1024),
            memory_limit_bytes=limit,
        )

    async def destroy_sandbox(self, task_id: str) -> None:
        self.calls.append(("destroy_sandbox", task_id))
        sandbox = self._sandboxes.pop(task_id, None)
        if sandbox is None:
            return
        for container in sandbox.containers.values():
            container.cancel_timers()

    def on_exit(self, listener: ExitListener) -> None:
        self._listeners.append(listener)

    async def close(self) -> None:
        self.lose_everything()
        if self._own_output_dir and self._output_dir is not None:
            shutil.rmtree(self._output_dir, ignore_errors=True)

    # -- internals -------------------------------------------------------------------------

    def _script(self, spec: ContainerSpec) -> FakeScript:
        scripted = self._image_scripts.get(spec.image)
        return scripted if scripted is not None else FakeScript.from_labels(spec.labels)

    def _container(self, task_id: str, name: str) -> _Container:
        sandbox = self._sandboxes.get(task_id)
        container = sandbox.containers.get(name) if sandbox else None
        if container is None:
            raise ContainerNotFound(f"no container {name} in task {task_id}")
        return container

    def _exit(self, container: _Container, exit_code: int, *, oom: bool = False) -> None:
        if not container.state.running:
            return
        container.cancel_timers()
        container.state = replace(
            container.state,
            status=ContainerRunState.EXITED,
            exit_code=exit_code,
            finished_at=self.clock.now(),
            oom_killed=oom,
            pid=None,
        )
        for listener in list(self._listeners):
            try:
                listener(container.state.task_id, container.state.name)
            except Exception:
                # A listener's bug must not keep the exit from the other listeners.
                log.exception("exit listener failed", extra={"task_id": container.state.task_id})
