"""``python -m services.notifications``: telemetry (OTLP and Prometheus readers) first, then the aiohttp
app until SIGTERM; aiohttp finishes the requests in flight (≤ 5 s) before the flush."""

from __future__ import annotations

import sys

from services.common import otel_setup
from services.common.lifecycle import listen_address, start_crash_timer

SERVICE_NAME = "java-spring-boot-service"


def main() -> int:
    # Two readers (§2.5): OTLP to the router, Prometheus text on OTEL_EXPORTER_PROMETHEUS_PORT (9464).
    telemetry = otel_setup.configure(SERVICE_NAME, prometheus=True)
    from aiohttp import web

    from services.notifications.app import create_app

    host, port = listen_address(8081)
    app = create_app(telemetry)
    start_crash_timer(telemetry)
    try:
        web.run_app(app, host=host, port=port, print=None, access_log=None, shutdown_timeout=5.0)
    finally:
        telemetry.shutdown(timeout_s=5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
