"""Code shared by the demo's services: OpenTelemetry set-up, failure injection, process life."""
