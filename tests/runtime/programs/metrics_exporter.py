"""A Prometheus exporter like the seed's java-service on 9464, built with ``prometheus_client``.

    python3 metrics_exporter.py PORT

Serves ``/metrics`` on PORT (all addresses): ``demo_orders_total{status}`` counts up (ok five
times as often as error), ``demo_queue_depth`` is 7, and ``http_server_request_duration_seconds``
is a histogram with buckets 0.1, 0.5 and 1 that gets 0.05 and 0.3 alternately. Stops on SIGTERM.
"""

import signal
import sys
import time

from prometheus_client import Counter, Gauge, Histogram, start_http_server

ORDERS = Counter("demo_orders", "Orders created", ["status"])
DEPTH = Gauge("demo_queue_depth", "Orders waiting")
DURATION = Histogram("http_server_request_duration_seconds", "Request duration", buckets=(0.1, 0.5, 1.0))


def main() -> None:
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    DEPTH.set(7)
    start_http_server(port)
    print(f"metrics on {port}", flush=True)
    tick = 0
    while True:
        tick += 1
        ORDERS.labels(status="error" if tick % 6 == 0 else "ok").inc()
        DURATION.observe(0.05 if tick % 2 else 0.3)
        time.sleep(0.1)


if __name__ == "__main__":
    main()
