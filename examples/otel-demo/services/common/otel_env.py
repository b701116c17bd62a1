"""What the OpenTelemetry environment variables of a container mean (spec/otel-demo.md §2.2).

Pure functions over a mapping of variables, so the rules are testable without the SDK:

- Protocol per signal: ``OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL``, else ``OTEL_EXPORTER_OTLP_PROTOCOL``,
  else ``grpc``. ``grpc`` and ``http/protobuf`` are supported; ``http/json`` has no Python exporter
  and falls back to ``http/protobuf`` with a warning.
- Endpoint per signal: ``OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`` is used as it is (for HTTP too: no
  ``/v1/<signal>`` is added, which is why the seed's Java container, HTTP by default with
  ``http://localhost:4317``, posts to ``/``); else ``OTEL_EXPORTER_OTLP_ENDPOINT`` (HTTP appends
  ``/v1/<signal>``); else ``http://localhost:4317`` (gRPC) or ``http://localhost:4318/v1/<signal>``.
- ``http://`` is plaintext, ``https://`` TLS. A bare ``host:port`` (ho11y's form,
  ``OTEL_EXPORTER_OTLP_ENDPOINT=collector:4317``) is plaintext too, as ho11y dials it, unless
  ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_INSECURE=false`` asks for TLS.
- Exporters: ``OTEL_<SIGNAL>_EXPORTER`` (comma list; ``otlp`` by default; ``none`` disables;
  ``console`` prints; metrics may name ``prometheus``).
- Propagators: ``OTEL_PROPAGATORS`` (default ``tracecontext,baggage,xray``).
- Sampler: ``OTEL_TRACES_SAMPLER`` (default ``always_on``) and ``OTEL_TRACES_SAMPLER_ARG``.
- Batching: metric export every 10 s (``OTEL_METRIC_EXPORT_INTERVAL``, SDK default 60 s); spans and
  log records batched for 1 s (``OTEL_BSP_SCHEDULE_DELAY``, ``OTEL_BLRP_SCHEDULE_DELAY``).
- ``OTEL_PYTHON_DISTRO=aws_distro`` / ``OTEL_PYTHON_CONFIGURATOR=aws_configurator`` name ADOT, which
  these services do not install: :func:`adot_notice` gives the one warning to log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

SIGNALS = ("traces", "metrics", "logs")
GRPC = "grpc"
HTTP_PROTOBUF = "http/protobuf"
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
DEFAULT_PROPAGATORS = ("tracecontext", "baggage", "xray")
DEFAULT_SAMPLER = "always_on"
# Defaults the demo sets where the SDK's would be too slow for a local loop (§2.2).
DEFAULTS = {
    "OTEL_METRIC_EXPORT_INTERVAL": "10000",
    "OTEL_BSP_SCHEDULE_DELAY": "1000",
    "OTEL_BLRP_SCHEDULE_DELAY": "1000",
    # Stable HTTP semantic conventions: http.server.request.duration in seconds (§2.5).
    "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
}
ADOT_VALUES = {"OTEL_PYTHON_DISTRO": "aws_distro", "OTEL_PYTHON_CONFIGURATOR": "aws_configurator"}


@dataclass(frozen=True, slots=True)
class SignalExport:
    """Where and how one signal is exported over OTLP."""

    signal: str
    protocol: str  # GRPC or HTTP_PROTOBUF
    endpoint: str  # gRPC: scheme://host:port; HTTP: the full URL the exporter posts to
    insecure: bool
    warnings: tuple[str, ...] = ()


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def signal_protocol(env: Mapping[str, str], signal: str) -> tuple[str, tuple[str, ...]]:
    name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    value = _get(env, name) or _get(env, "OTEL_EXPORTER_OTLP_PROTOCOL") or GRPC
    if value in (GRPC, HTTP_PROTOBUF):
        return value, ()
    if value == "http/json":
        return HTTP_PROTOBUF, (f"OTLP protocol http/json has no Python exporter; {signal} use http/protobuf",)
    return GRPC, (f"unknown OTLP protocol {value!r} for {signal}; using grpc",)


def _with_scheme(endpoint: str, env: Mapping[str, str], signal: str) -> tuple[str, bool]:
    """The endpoint with a scheme, and whether it is plaintext."""
    if "://" in endpoint:
        return endpoint, urlsplit(endpoint).scheme != "https"
    insecure_setting = (
        _get(env, f"OTEL_EXPORTER_OTLP_{signal.upper()}_INSECURE") or _get(env, "OTEL_EXPORTER_OTLP_INSECURE")
    ).lower()
    secure = insecure_setting == "false"
    return ("https://" if secure else "http://") + endpoint, not secure


def signal_export(env: Mapping[str, str], signal: str) -> SignalExport:
    """The OTLP destination of ``signal`` under the rules of the module docstring."""
    protocol, warnings = signal_protocol(env, signal)
    specific = _get(env, f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    generic = _get(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if specific:
        endpoint, insecure = _with_scheme(specific, env, signal)
    elif generic:
        endpoint, insecure = _with_scheme(generic, env, signal)
        if protocol == HTTP_PROTOBUF:
            endpoint = endpoint.rstrip("/") + f"/v1/{signal}"
    elif protocol == HTTP_PROTOBUF:
        endpoint, insecure = f"{DEFAULT_HTTP_ENDPOINT}/v1/{signal}", True
    else:
        endpoint, insecure = DEFAULT_GRPC_ENDPOINT, True
    return SignalExport(signal, protocol, endpoint, insecure, warnings)


def exporters(env: Mapping[str, str], signal: str) -> tuple[str, ...]:
    """The exporter names ``OTEL_<SIGNAL>_EXPORTER`` lists (``otlp`` when unset, empty for ``none``)."""
    raw = _get(env, f"OTEL_{signal.upper()}_EXPORTER") or "otlp"
    names = tuple(dict.fromkeys(part.strip().lower() for part in raw.split(",") if part.strip()))
    return () if "none" in names else names


def propagators(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _get(env, "OTEL_PROPAGATORS")
    if not raw:
        return DEFAULT_PROPAGATORS
    names = tuple(dict.fromkeys(part.strip().lower() for part in raw.split(",") if part.strip()))
    return () if "none" in names else names


def sampler(env: Mapping[str, str]) -> tuple[str, float | None]:
    """The sampler name and its ratio argument (``None`` when the sampler takes none)."""
    name = (_get(env, "OTEL_TRACES_SAMPLER") or DEFAULT_SAMPLER).lower()
    if "traceidratio" not in name:
        return name, None
    try:
        ratio = float(_get(env, "OTEL_TRACES_SAMPLER_ARG") or "1.0")
    except ValueError:
        ratio = 1.0
    return name, min(max(ratio, 0.0), 1.0)


def with_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """The variables the demo sets when the container does not (``DEFAULTS``)."""
    return {name: value for name, value in DEFAULTS.items() if not _get(env, name)}


def adot_notice(env: Mapping[str, str]) -> str | None:
    """The warning for variables that name the AWS Distro for OpenTelemetry, or ``None``."""
    named = [f"{name}={_get(env, name)}" for name in ADOT_VALUES if _get(env, name)]
    if not named:
        return None
    return (
        f"{' and '.join(named)} name the AWS Distro for OpenTelemetry (ADOT), which this image does not "
        "install; the plain OpenTelemetry SDK is configured from the same OTEL_* variables instead"
    )


def service_name(env: Mapping[str, str], default: str) -> str:
    """``OTEL_SERVICE_NAME``, else ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``, else ``default``."""
    explicit = _get(env, "OTEL_SERVICE_NAME")
    if explicit:
        return explicit
    for item in _get(env, "OTEL_RESOURCE_ATTRIBUTES").split(","):
        key, _, value = item.partition("=")
        if key.strip() == "service.name" and value.strip():
            return value.strip()
    return default
