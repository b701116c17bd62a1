"""Process life of a demo service: its private data directory, SIGTERM and ``FAULT_CRASH_AFTER_S``
(spec/otel-demo.md §2.2, §2.4).

- ``DATA_DIR`` holds the service's SQLite file. Unset, each process gets a fresh private directory
  (removed when it exits): on the process runtime the image map's directory is shared by every task,
  where Docker would give each container its own filesystem; the Dockerfiles set ``/app/data``.
- SIGTERM: the server finishes its requests, then :meth:`Telemetry.shutdown` flushes (≤ 5 s) and the
  process exits 0. :class:`Termination` records the signal for servers that hand it back.
- ``FAULT_CRASH_AFTER_S``: after that many seconds the process logs, flushes for at most a second
  and exits 1 (an essential container: ECS replaces the task).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType

from services.common.otel_setup import Telemetry

log = logging.getLogger("lifecycle")


def data_dir(service: str) -> Path:
    configured = os.environ.get("DATA_DIR", "").strip()
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix=f"otel-demo-{service}-"))
    atexit.register(shutil.rmtree, path, True)
    return path


class Termination:
    """Remembers SIGTERM/SIGINT; servers that re-raise the signal after their own shutdown land here."""

    def __init__(self) -> None:
        self.received = threading.Event()
        self.signal_name = ""

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        self.received.set()


def start_crash_timer(telemetry: Telemetry) -> threading.Timer | None:
    raw = os.environ.get("FAULT_CRASH_AFTER_S", "").strip()
    if not raw:
        return None
    seconds = float(raw)
    if seconds <= 0:
        raise ValueError(f"FAULT_CRASH_AFTER_S must be positive; got {raw!r}")

    def crash() -> None:
        log.error("Crashing on purpose after %s s (FAULT_CRASH_AFTER_S)", raw, extra={"demo.fault": "crash"})
        telemetry.flush(timeout_s=1.0)
        os._exit(1)

    timer = threading.Timer(seconds, crash)
    timer.daemon = True
    timer.start()
    return timer


def listen_address(default_port: int) -> tuple[str, int]:
    """``HOST`` (``0.0.0.0``) and ``PORT`` (the seed's port): tests on the host pick free ports."""
    host = os.environ.get("HOST", "").strip() or "0.0.0.0"
    port = int(os.environ.get("PORT", "").strip() or default_port)
    return host, port


def downstream_timeout(default: float = 2.0) -> float:
    raw = os.environ.get("DOWNSTREAM_TIMEOUT_S", "").strip()
    return float(raw) if raw else default
