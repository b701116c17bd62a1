"""``python -m services.inventory``: telemetry first, then the Flask app on a threaded WSGI server.

SIGTERM stops accepting, waits for the requests in flight (≤ 5 s), flushes telemetry and exits 0.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from services.common import otel_setup
from services.common.lifecycle import listen_address, start_crash_timer

SERVICE_NAME = "nodejs-express-service"


class InFlight:
    """WSGI middleware counting the requests being served."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            self.count += 1
        try:
            return list(self.app(environ, start_response))
        finally:
            with self._lock:
                self.count -= 1

    def drain(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count and time.monotonic() < deadline:
            time.sleep(0.05)


def main() -> int:
    telemetry = otel_setup.configure(SERVICE_NAME)
    from werkzeug.serving import make_server

    from services.inventory.app import create_app

    host, port = listen_address(3000)
    app = InFlight(create_app(telemetry))
    server = make_server(host, port, app, threaded=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        # serve_forever runs on this thread: shutdown() must come from another one.
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    start_crash_timer(telemetry)
    try:
        server.serve_forever()
    finally:
        app.drain(5.0)
        server.server_close()
        telemetry.shutdown(timeout_s=5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
