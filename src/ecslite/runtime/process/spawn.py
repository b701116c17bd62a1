"""Starting helper programs (the shim's ``serve`` and ``exec`` modes) from the event loop without
forking the server.

uvloop's ``create_subprocess_exec`` forks: with a server of 150 MB the fork copies its page tables
and blocks the loop for about 8 ms, once per task start (the shim) and once per health check (the
exec helper, every ``interval`` for every container with a check). :class:`subprocess.Popen` uses
``vfork`` and costs about 0.1 ms whatever the server's size. (Not ``os.posix_spawn``: glibc's leaves
its internal signals 32 and 33 ignored in the child, and the shim would pass that on to containers.)

A :class:`Spawned` helper is watched through its pidfd and its output pipe, both on the loop:

- Its exit is reaped with ``waitpid`` of its own pid once its pidfd is readable, never with
  ``waitpid(-1)``, so the loop's own child handling is not disturbed.
- The child starts as :mod:`subprocess` starts one (no signal blocked, none ignored, every other
  descriptor of the server closed), stdin on ``/dev/null``, and stdout and stderr on pipes (or
  stderr merged into stdout).
- Output is kept up to ``limit`` bytes per stream; the rest is read and dropped, so the helper never
  blocks on a full pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

_CHUNK = 65536


class _Stream:
    """One output pipe read on the loop until EOF; keeps the first ``limit`` bytes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, limit: int) -> None:
        self._loop = loop
        self._fd = fd
        self._limit = limit
        self.data = bytearray()
        self.eof: asyncio.Future[None] = loop.create_future()
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            room = self._limit - len(self.data)
            if room > 0:
                self.data += chunk[:room]

    def close(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        if not self.eof.done():
            self.eof.set_result(None)


class Spawned:
    """A helper started by :func:`spawn`: its exit and output, awaited on the loop."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, popen: subprocess.Popen[bytes], stdout: _Stream, stderr: _Stream | None
    ) -> None:
        self.pid = popen.pid
        self._popen = popen
        self.returncode: int | None = None
        self._loop = loop
        self._stdout = stdout
        self._stderr = stderr
        self._exited: asyncio.Future[int] = loop.create_future()
        # Our unreaped child: its pid cannot be reused, so the pidfd is always its own.
        self._pidfd = os.pidfd_open(self.pid)
        loop.add_reader(self._pidfd, self._reap)

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            code = -1  # reaped elsewhere: nobody here can know how it ended
        else:
            if pid == 0:
                return  # readable before the zombie is there: look again when told again
            code = os.waitstatus_to_exitcode(status)
        if self._pidfd >= 0:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        self.returncode = self._popen.returncode = code  # so Popen never waits for it again
        if not self._exited.done():
            self._exited.set_result(code)

    async def wait(self) -> int:
        """The exit code (negative: the signal that ended it)."""
        return await asyncio.shield(self._exited)

    async def output(self) -> tuple[bytes, bytes]:
        """stdout and stderr once both reached EOF (stderr empty when merged)."""
        # Shielded: a caller's timeout must not cancel the EOF another caller still waits for.
        await asyncio.shield(self._stdout.eof)
        if self._stderr is not None:
            await asyncio.shield(self._stderr.eof)
        return bytes(self._stdout.data), bytes(self._stderr.data) if self._stderr is not None else b""

    def kept(self) -> bytes:
        """What stdout has delivered so far."""
        return bytes(self._stdout.data)

    def kill_group(self) -> None:
        """SIGKILL the helper's process group (it leads one when spawned with ``new_session``)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def close_output(self) -> None:
        """Stop reading (a descendant may hold the pipes open for good)."""
        self._stdout.close()
        if self._stderr is not None:
            self._stderr.close()


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    new_session: bool = False,
    merge_stderr: bool = False,
    limit: int = 1 << 20,
) -> Spawned:
    """Start ``argv`` (``argv[0]`` an absolute path); call on the event loop's thread."""
    loop = asyncio.get_running_loop()
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = (-1, -1) if merge_stderr else os.pipe2(os.O_CLOEXEC)
    try:
        popen = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=subprocess.STDOUT if merge_stderr else err_w,
            start_new_session=new_session,
        )
    except BaseException:
        for fd in (out_r, err_r):
            if fd >= 0:
                os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w):
            if fd >= 0:
                os.close(fd)
    stdout = _Stream(loop, out_r, limit)
    stderr = None if merge_stderr else _Stream(loop, err_r, limit)
    return Spawned(loop, popen, stdout, stderr)
