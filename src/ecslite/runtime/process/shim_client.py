"""Talking to a task's shim: launching it, its line protocol, and the files it shares with us.

The shim (``shim/ecslite-shim.c``, whose header is the reference) serves one task directory:

- **Launch**: ``ecslite-shim serve DIR`` daemonizes and exits 0 printing the daemon's pid once it
  listens on ``DIR/shim.sock``, or exits 1 with the reason on stderr.
- **Protocol**: lines of space-separated words. The shim greets with
  ``hello ecslite-shim VERSION PID`` and answers requests in order, one line each:
  ``start NAME`` → ``ok PID STARTED_AT START_TICKS``; ``signal NAME SIGNUM`` → ``ok``; ``stop NAME``
  (the container's stop signal) → ``ok``; ``status`` →
  ``ok NAME,PID,STARTED_AT,running|exited,CODE,FINISHED_AT ...``; ``shutdown`` → ``ok``; any failure
  → ``err MESSAGE``. Between answers it pushes ``event exit NAME CODE FINISHED_AT``.
- **Files**: ``NAME.spec`` (written here, read by the shim at ``start``: NUL-terminated key and
  value strings, see :class:`LaunchSpec`), ``NAME.started`` and ``NAME.exit`` (records the shim
  writes atomically; an exit record is written before its event is sent, so nothing is lost while no
  client is connected), ``shim.pid``, and ``shim.lock``, which the shim holds with ``flock`` for its
  whole life: a lock nobody holds means no shim, whatever ``shim.pid`` says.

Invariant: a :class:`ShimClient` delivers events only through ``on_exit`` and never raises out of its
reader; a lost connection fails the requests waiting on it with :class:`ShimGone` and calls
``on_close`` once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecslite.runtime.process.spawn import spawn

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
SOCKET = "shim.sock"
PID_FILE = "shim.pid"
LOCK_FILE = "shim.lock"
# sun_path holds 108 bytes; longer socket paths are reached through the directory's descriptor.
MAX_SOCKET_PATH = 100
LAUNCH_TIMEOUT = 10.0

ExitCallback = Callable[[str, int, float], None]  # (container name, exit code, finished at)


class ShimError(Exception):
    """The shim refused a request or could not be reached; the message is the shim's."""


class ShimGone(ShimError):
    """The connection to the shim closed (the shim exited, or dropped us)."""


# -- spec files -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bind:
    source: str
    target: str
    readonly: bool = False


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """Everything the shim needs to start one container process, as the spec file holds it."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    rlimits: tuple[tuple[str, int, int], ...] = ()  # (ECS ulimit name, soft, hard); -1 = unlimited
    cgroups: tuple[str, ...] = ()
    netns: str | None = None
    hostname: str | None = None
    binds: tuple[Bind, ...] = ()
    rootfs: str | None = None
    # The container's writable layer over ``rootfs`` (an overlay), so one image's containers share none.
    rootfs_upper: str | None = None
    readonly: bool = False
    init: bool = False
    stop_signal: int = 15  # what a stop sends first (the image's STOPSIGNAL)
    notes: Mapping[str, str] = field(default_factory=dict)  # x-* keys: kept for the runtime, ignored by the shim

    def encode(self) -> bytes:
        records: list[tuple[str, str]] = [("arg", arg) for arg in self.argv]
        records += [("env", f"{key}={value}") for key, value in self.env.items()]
        records += [("cwd", self.cwd), ("uid", str(self.uid)), ("gid", str(self.gid))]
        records.append(("groups", ",".join(str(g) for g in self.groups)))
        records += [("rlimit", f"{name} {soft} {hard}") for name, soft, hard in self.rlimits]
        records += [("cgroup", directory) for directory in self.cgroups]
        for bind in self.binds:
            records.append(("bind", f"{'ro' if bind.readonly else 'rw'}\n{bind.source}\n{bind.target}"))
        optional = {
            "netns": self.netns,
            "hostname": self.hostname,
            "rootfs": self.rootfs,
            "rootfs_upper": self.rootfs_upper,
        }
        records += [(key, value) for key, value in optional.items() if value is not None]
        records += [(key, "1") for key, on in (("readonly", self.readonly), ("init", self.init)) if on]
        records.append(("stop_signal", str(self.stop_signal)))
        records += [(f"x-{key}", value) for key, value in self.notes.items()]
        out = bytearray()
        for key, value in records:
            for text in (key, value):
                data = text.encode()
                if b"\0" in data:
                    raise ValueError(f"spec value for {key} contains a NUL byte")
                out += data + b"\0"
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> LaunchSpec:
        parts = data.split(b"\0")
        if parts and parts[-1] == b"":
            parts.pop()
        if len(parts) % 2:
            raise ValueError("spec file ends inside a record")
        argv: list[str] = []
        env: dict[str, str] = {}
        values: dict[str, str] = {}
        rlimits: list[tuple[str, int, int]] = []
        cgroups: list[str] = []
        binds: list[Bind] = []
        notes: dict[str, str] = {}
        for raw_key, raw_value in zip(parts[::2], parts[1::2], strict=True):
            key, value = raw_key.decode(), raw_value.decode()
            if key == "arg":
                argv.append(value)
            elif key == "env":
                name, _, val = value.partition("=")
                env[name] = val
            elif key == "rlimit":
                name, soft, hard = value.split(" ")
                rlimits.append((name, int(soft), int(hard)))
            elif key == "cgroup":
                cgroups.append(value)
            elif key == "bind":
                mode, source, target = value.split("\n")
                binds.append(Bind(source, target, mode == "ro"))
            elif key.startswith("x-"):
                notes[key[2:]] = value
            else:
                values[key] = value
        return cls(
            argv=tuple(argv),
            env=env,
            cwd=values.get("cwd", "/"),
            uid=int(values.get("uid", "0")),
            gid=int(values.get("gid", "0")),
            groups=tuple(int(g) for g in values.get("groups", "").split(",") if g),
            rlimits=tuple(rlimits),
            cgroups=tuple(cgroups),
            netns=values.get("netns"),
            hostname=values.get("hostname"),
            binds=tuple(binds),
            rootfs=values.get("rootfs"),
            rootfs_upper=values.get("rootfs_upper"),
            readonly=values.get("readonly") == "1",
            init=values.get("init") == "1",
            stop_signal=int(values.get("stop_signal", "15")),
            notes=notes,
        )


# -- records --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartedRecord:
    pid: int
    started_at: float
    start_ticks: int = 0  # the process's start time since boot: with the pid, it names the process for good


@dataclass(frozen=True, slots=True)
class ExitRecord:
    code: int | None  # None: unknown (the shim died before it could see the exit)
    signal: int
    finished_at: float
    reason: str | None = None  # set by the runtime when it, not the shim, wrote the record


def _fields(path: Path) -> dict[str, str] | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def read_started(path: Path) -> StartedRecord | None:
    values = _fields(path)
    if values is None:
        return None
    return StartedRecord(
        pid=int(values["pid"]), started_at=float(values["started_at"]), start_ticks=int(values.get("start_ticks", 0))
    )


def read_exit(path: Path) -> ExitRecord | None:
    values = _fields(path)
    if values is None:
        return None
    code = values.get("code", "")
    return ExitRecord(
        code=int(code) if code.lstrip("-").isdigit() else None,
        signal=int(values.get("signal", "0")),
        finished_at=float(values["finished_at"]),
        reason=values.get("reason") or None,
    )


def write_exit(path: Path, record: ExitRecord) -> None:
    """An exit record written by the runtime (the shim is gone), in the shim's format."""
    lines = [
        f"code={'' if record.code is None else record.code}",
        f"signal={record.signal}",
        f"finished_at={record.finished_at:.9f}",
    ]
    if record.reason:
        lines.append(f"reason={record.reason.replace(chr(10), ' ')}")
    write_atomic(path, ("\n".join(lines) + "\n").encode())


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode), "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # exactly this mode, whatever the umask
        handle.write(data)
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class ShimContainer:
    """A container as the shim's ``status`` reports it."""

    name: str
    pid: int
    started_at: float
    exit_code: int | None = None  # None while it runs
    finished_at: float | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None


# -- the shim process -----------------------------------------------------------------------------


def shim_alive(task_dir: Path) -> bool:
    """True while a shim holds the task directory's lock."""
    try:
        fd = os.open(task_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_shim_pid(task_dir: Path) -> int | None:
    try:
        return int((task_dir / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


async def launch_shim(binary: Path, task_dir: Path) -> int:
    """Start the task's shim and return its pid once it listens; :class:`ShimError` says why not."""
    # Spawned, not forked (see .spawn): a fork of the server would block the loop for milliseconds.
    process = spawn([str(binary), "serve", str(task_dir)])
    try:
        await asyncio.wait_for(asyncio.gather(process.wait(), process.output()), LAUNCH_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        process.close_output()
        raise ShimError(f"the shim did not start within {LAUNCH_TIMEOUT:g} seconds") from None
    except BaseException:
        process.kill()
        process.close_output()
        raise
    out, err = await process.output()
    if process.returncode != 0:
        raise ShimError(err.decode(errors="replace").strip().removeprefix("ecslite-shim: ") or "the shim failed")
    return int(out.decode().strip())


async def make_zygote(client: ShimClient | None, cgroups: Sequence[Path]) -> bool:
    """Ask the shim for a zygote in ``cgroups``; False (logged) when it cannot have one: the next
    container then starts the usual way, joining its cgroups itself."""
    dirs = [str(d) for d in cgroups]
    if client is None or any(" " in d or "\n" in d for d in dirs):
        return False
    try:
        await client.zygote(dirs)
    except ShimError as error:
        log.warning("no zygote for the next container", extra={"shim_pid": client.pid, "error": str(error)})
        return False
    return True


# -- the connection -------------------------------------------------------------------------------


class ShimClient:
    """One connection to a shim. Requests may be sent concurrently; answers come back in order."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pid: int,
        on_exit: ExitCallback,
        on_close: Callable[[], None],
    ) -> None:
        self.pid = pid
        self._reader = reader
        self._writer = writer
        self._on_exit = on_exit
        self._on_close = on_close
        self._pending: deque[asyncio.Future[list[str]]] = deque()
        self._closed = False
        self._task = asyncio.create_task(self._read_loop(), name=f"shim-{pid}")

    @classmethod
    async def connect(cls, task_dir: Path, on_exit: ExitCallback, on_close: Callable[[], None]) -> ShimClient:
        path = task_dir / SOCKET
        dirfd: int | None = None
        if len(str(path)) > MAX_SOCKET_PATH:
            dirfd = os.open(task_dir, os.O_PATH | os.O_CLOEXEC)
            path = Path(f"/proc/self/fd/{dirfd}/{SOCKET}")
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
        except OSError as error:
            raise ShimGone(f"cannot connect to the shim in {task_dir}: {error.strerror or error}") from None
        finally:
            if dirfd is not None:
                os.close(dirfd)
        try:
            hello = (await asyncio.wait_for(reader.readline(), LAUNCH_TIMEOUT)).decode().split()
        except (TimeoutError, OSError):
            hello = []
        if len(hello) != 4 or hello[:2] != ["hello", "ecslite-shim"] or not hello[3].isdigit():
            writer.close()
            raise ShimGone(f"the shim in {task_dir} did not greet (got {' '.join(hello)!r})")
        if hello[2] != str(PROTOCOL_VERSION):
            writer.close()
            raise ShimError(f"the shim in {task_dir} speaks protocol {hello[2]}, not {PROTOCOL_VERSION}")
        return cls(reader, writer, int(hello[3]), on_exit, on_close)

    @property
    def closed(self) -> bool:
        return self._closed

    def rebind(self, on_exit: ExitCallback, on_close: Callable[[], None]) -> None:
        """Hand the connection to a new owner (a spare sandbox's shim taken over by a task)."""
        self._on_exit = on_exit
        self._on_close = on_close

    async def start(self, name: str, *, zygote: bool = False) -> StartedRecord:
        """Start container ``name``; with ``zygote``, from the zygote (its cgroups now ``name``'s)."""
        words = await self._request(f"start {name} zygote" if zygote else f"start {name}")
        ticks = int(words[2]) if len(words) > 2 else 0
        return StartedRecord(pid=int(words[0]), started_at=float(words[1]), start_ticks=ticks)

    async def zygote(self, cgroups: Sequence[str]) -> int:
        """Have the shim make a zygote that joins ``cgroups`` (no spaces in them); its pid."""
        words = await self._request(" ".join(("zygote", *cgroups)))
        return int(words[0])

    async def signal(self, name: str, signum: int) -> None:
        await self._request(f"signal {name} {signum}")

    async def stop(self, name: str) -> None:
        """Send the container's stop signal (its spec's ``stop_signal``)."""
        await self._request(f"stop {name}")

    async def status(self) -> list[ShimContainer]:
        entries = []
        for item in await self._request("status"):
            name, pid, started, state, code, finished = item.split(",")
            exited = state == "exited"
            entries.append(
                ShimContainer(
                    name=name,
                    pid=int(pid),
                    started_at=float(started),
                    exit_code=int(code) if exited else None,
                    finished_at=float(finished) if exited else None,
                )
            )
        return entries

    async def shutdown(self) -> None:
        await self._request("shutdown")

    async def close(self) -> None:
        self._closed = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
        self._fail_pending(ShimGone("the connection to the shim was closed"))

    async def _request(self, line: str) -> list[str]:
        if self._closed:
            raise ShimGone("the connection to the shim is closed")
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        # Queued in the same step as the write: answers come back in the order requests were written.
        self._pending.append(future)
        self._writer.write(line.encode() + b"\n")
        return await future

    async def _read_loop(self) -> None:
        try:
            while True:
                raw = await self._reader.readline()
                if not raw.endswith(b"\n"):
                    break
                self._dispatch(raw.decode(errors="replace").rstrip("\n"))
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            log.info("shim connection failed", extra={"shim_pid": self.pid, "error": str(error)})
        finally:
            was_closed = self._closed
            self._closed = True
            self._fail_pending(ShimGone("the shim closed the connection"))
            if not was_closed:
                self._on_close()

    def _dispatch(self, line: str) -> None:
        words = line.split(" ")
        if words[0] == "event":
            if len(words) == 5 and words[1] == "exit":
                self._on_exit(words[2], int(words[3]), float(words[4]))
            return
        if not self._pending:
            log.warning("unexpected line from the shim", extra={"shim_pid": self.pid, "line": line})
            return
        future = self._pending.popleft()
        if future.done():
            return
        if words[0] == "ok":
            future.set_result(words[1:])
        else:
            future.set_exception(ShimError(line.removeprefix("err ")))

    def _fail_pending(self, error: ShimError) -> None:
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)
