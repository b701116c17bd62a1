"""Telemetry: OTLP and Forward receivers, the ingest pipeline, ECS enrichment, the embedded store
(spec/telemetry.md §0–§2, §8) and, built on them, the query APIs and exporters.

Records are defined in :mod:`ecslite.telemetry.model` (resources, scopes, metric samples),
:mod:`ecslite.telemetry.span_records` and :mod:`ecslite.telemetry.log_records`, their attribute
codec in :mod:`ecslite.telemetry.attributes`; the store's write and read interfaces in
:mod:`ecslite.telemetry.store`; receivers hand raw bodies to :mod:`ecslite.telemetry.pipeline`.
"""
