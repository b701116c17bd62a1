"""OTLP receivers: the listeners, the OTLP/HTTP connection handler and the gRPC backend (spec §1)."""
