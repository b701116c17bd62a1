"""What several benchmark scripts need: owning and releasing what a run creates, stopping a process
by pid, a free loopback port, CPU time of a process, and an ecslite server started for ingest runs.

The scripts run as ``python benchmarks/<name>.py``, so this module is imported as ``common``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class Owned:
    """Every process, bridge and directory a run creates, released in reverse order."""

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def add(self, what: str, undo: Callable[[], None]) -> None:
        self._undo.append((what, undo))

    def release(self) -> None:
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception as error:  # a failed clean-up must not hide the others
                print(f"clean-up of {what} failed: {error}", file=sys.stderr)


def stop_pid(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; a child of ours is reaped on the way."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def writer_pid(server_pid: int) -> int | None:
    """The telemetry writer process (the server's child running ecslite.telemetry.store.writer_child)."""
    for line in Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split():
        if b"writer_child" in Path(f"/proc/{line}/cmdline").read_bytes():
            return int(line)
    return None


def start_ingest_server(data_dir: Path, args: Sequence[str], ports: Sequence[int]) -> subprocess.Popen[bytes]:
    """``ecslite server --runtime fake --data-dir data_dir *args``, once every one of ``ports`` accepts
    connections; its output goes to ``data_dir/bench.log``, shown when it does not come up in 30 s."""
    command = [sys.executable, "-m", "ecslite", "server", "--runtime", "fake", "--data-dir", str(data_dir), *args]
    log = open(data_dir / "bench.log", "wb")  # noqa: SIM115 - handed to the child
    server = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 30
    while True:
        try:
            for port in ports:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit(f"ecslite did not start: {(data_dir / 'bench.log').read_text()[-2000:]}") from None
            time.sleep(0.1)
