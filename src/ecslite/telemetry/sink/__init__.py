"""ecslite's export sink: stands in for the Loki, Tempo and Thanos a router task exports to when those
hosts do not exist locally (spec/otel-demo.md §4.1 step 2). It checks and counts what arrives and
stores nothing (:mod:`.listener`, :mod:`.checks`, :mod:`.counters`)."""

from ecslite.telemetry.sink.listener import ExportSink, SinkPorts

__all__ = ["ExportSink", "SinkPorts"]
