"""A command inside a running container on a new terminal: ECS Exec's process side (spec/ecs.md §11.4).

The shim's ``exec`` mode enters the container (:mod:`.exec`); here it runs with a pseudo-terminal as
its standard streams. Seeing a terminal, the shim makes the command (its child, in the container's PID
namespace) the leader of a new session with that terminal as its controlling terminal, so it has job
control, gets SIGINT from Ctrl-C and SIGWINCH on resize. The helper itself runs in a session of its
own, so ending the session can kill its whole group.

The terminal's master side is read and written without blocking on the event loop. ecslite keeps the
slave side open itself, so the master never reads EIO: on Linux a master can read EIO while the last
lines a short command wrote are still in the terminal's buffer, and they would be lost. Output ends
once the command has exited and the terminal has stayed empty for a moment; the exit code is the
helper's, which is the command's (128 + signal when a signal ended it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Sequence
from pathlib import Path

from ecslite.runtime.process.exec import ExecTarget, exec_argv

READ_SIZE = 65536
# How long the terminal must stay empty after the command exits before its output counts as complete.
SETTLE_SECONDS = 0.05


def set_window(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", max(rows, 1), max(cols, 1), 0, 0))


class PtyProcess:
    """The running command: output from the terminal, input to it, its size and its exit."""

    def __init__(self, process: asyncio.subprocess.Process, master: int, slave: int) -> None:
        self.process = process
        self.master = master
        self._slave = slave
        self._output: asyncio.Queue[bytes] = asyncio.Queue()
        self._pending = bytearray()
        self._closed = False
        self._ended = False
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(master, self._readable)
        self._end_watch = asyncio.ensure_future(self._end_after_exit())

    def _readable(self) -> None:
        self._read_available()

    def _read_available(self) -> bool:
        """Move what the terminal holds now to the output queue; True if there was anything."""
        got = False
        while not self._ended:
            try:
                data = os.read(self.master, READ_SIZE)
            except BlockingIOError:
                break
            except OSError as error:
                if error.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            got = True
            self._output.put_nowait(data)
        return got

    async def _end_after_exit(self) -> None:
        await self.process.wait()
        # The command is gone; what it wrote last may still be crossing the terminal's buffer.
        while self._read_available():
            await asyncio.sleep(SETTLE_SECONDS)
        await asyncio.sleep(SETTLE_SECONDS)
        self._read_available()
        self._end()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self._loop.remove_reader(self.master)
        with contextlib.suppress(OSError):
            os.close(self._slave)
        self._output.put_nowait(b"")

    async def read(self) -> bytes:
        if self._closed:
            return b""
        data = await self._output.get()
        if not data:
            self._output.put_nowait(b"")  # later reads see the end too
        return data

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        was_empty = not self._pending
        self._pending += data
        if was_empty:
            self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                written = os.write(self.master, self._pending)
            except BlockingIOError:
                self._loop.add_writer(self.master, self._writable)
                return
            except OSError:
                self._pending.clear()  # the terminal is gone: input has nowhere to go
                return
            del self._pending[:written]
        self._loop.remove_writer(self.master)

    def _writable(self) -> None:
        self._flush()

    def resize(self, rows: int, cols: int) -> None:
        if not self._closed:
            with contextlib.suppress(OSError):
                set_window(self.master, rows, cols)

    async def wait(self) -> int:
        code = await self.process.wait()
        return code if code >= 0 else 128 - code

    def kill(self) -> None:
        """End the session: hang up its terminal (the shell inside gets SIGHUP), then kill the helper."""
        self.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._end_watch.cancel()
        self._end()
        self._loop.remove_writer(self.master)
        os.close(self.master)


async def spawn_on_terminal(
    shim: Path, target: ExecTarget, command: Sequence[str], *, rows: int, cols: int
) -> PtyProcess:
    """Start ``command`` in the container of ``target`` on a new pseudo-terminal of ``rows`` × ``cols``."""
    master, slave = os.openpty()
    try:
        set_window(slave, rows, cols)
        os.set_blocking(master, False)
        environment = dict(target.env)
        environment.setdefault("TERM", "xterm")  # as docker exec -t does when the image sets none
        process = await asyncio.create_subprocess_exec(
            *exec_argv(shim, target, command),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=environment,
            start_new_session=True,
        )
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    return PtyProcess(process, master, slave)
