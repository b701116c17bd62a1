"""The OpenTelemetry demo's services in Python (spec/otel-demo.md §2, §3); run as ``python -m services.<name>``."""
