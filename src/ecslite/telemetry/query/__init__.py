"""Query APIs for Grafana (spec/telemetry.md §7): Prometheus (PromQL), Loki (LogQL), Tempo and Jaeger,
all reading the embedded telemetry store. :mod:`ecslite.telemetry.query.routes` mounts them."""
