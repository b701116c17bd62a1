"""``python -m services.orders``: telemetry first, then the app on uvicorn until SIGTERM."""

from __future__ import annotations

import sys

from services.common import otel_setup
from services.common.lifecycle import Termination, listen_address, start_crash_timer

SERVICE_NAME = "python-fastapi-service"


def main() -> int:
    telemetry = otel_setup.configure(SERVICE_NAME)
    import uvicorn

    from services.orders.app import create_app

    host, port = listen_address(8000)
    app = create_app(telemetry)
    termination = Termination()
    termination.install()  # uvicorn re-raises the signal it caught after its own graceful shutdown
    start_crash_timer(telemetry)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=5)
    )
    server.run()
    telemetry.shutdown(timeout_s=5.0)
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
