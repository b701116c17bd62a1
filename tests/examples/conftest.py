"""Fixtures for the OpenTelemetry demo's tests: its services' cached virtualenvs, an ecslite server whose
host OTLP receivers they export to, and the four services wired to each other on free ports."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import RunningServer, start_server, stop_server
from tests.examples.otel_demo import SERVICES, ServiceProcess, ensure_venv, services_running
from tests.fixtures.ports import free_port


@pytest.fixture(scope="session")
def demo_venvs() -> dict[str, Path]:
    """Every service's virtualenv (two built at a time on a cold cache; instant once cached)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(SERVICES, pool.map(ensure_venv, SERVICES), strict=True))


@dataclass
class TelemetryServer:
    server: RunningServer
    grpc_port: int
    http_port: int

    @property
    def url(self) -> str:
        return self.server.endpoint

    @property
    def otlp_grpc(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"


@pytest.fixture(scope="module")
def telemetry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelemetryServer]:
    grpc_port, http_port = free_port(), free_port()
    server = start_server(
        tmp_path_factory.mktemp("otel-demo-server"),
        "--otlp-grpc-port",
        str(grpc_port),
        "--otlp-http-port",
        str(http_port),
    )
    yield TelemetryServer(server, grpc_port, http_port)
    stop_server(server)


@dataclass
class Demo:
    services: dict[str, ServiceProcess]
    telemetry: TelemetryServer
    prometheus_port: int

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]


def demo_environment(
    telemetry: TelemetryServer, ports: dict[str, int], prometheus_port: int
) -> dict[str, dict[str, str]]:
    """The task definition's variables of each container, with OTLP and the peers on this host's ports."""
    common = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": telemetry.otlp_grpc,
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": telemetry.otlp_grpc,
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": telemetry.otlp_grpc,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "INVENTORY_URL": f"http://127.0.0.1:{ports['inventory']}",
        "PRICING_URL": f"http://127.0.0.1:{ports['pricing']}",
        "NOTIFICATIONS_URL": f"http://127.0.0.1:{ports['notifications']}",
    }
    return {
        "orders": {
            **common,
            "OTEL_PYTHON_DISTRO": "aws_distro",
            "OTEL_PYTHON_CONFIGURATOR": "aws_configurator",
            "OTEL_SERVICE_NAME": "python-fastapi-service",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_METRICS_EXEMPLAR_FILTER": "always_on",
            "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
            "OTEL_PYTHON_LOG_CORRELATION": "true",
        },
        "inventory": {**common, "OTEL_SERVICE_NAME": "nodejs-express-service", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        # The seed gives go-service only the generic endpoint and no service name.
        "pricing": {
            "OTEL_EXPORTER_OTLP_ENDPOINT": telemetry.otlp_grpc,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        },
        "notifications": {
            **common,
            "OTEL_SERVICE_NAME": "java-spring-boot-service",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(prometheus_port),
            "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        },
    }


@pytest.fixture(scope="module")
def demo(
    telemetry_server: TelemetryServer, demo_venvs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    ports = {name: free_port() for name in ("orders", "inventory", "pricing", "notifications")}
    prometheus_port = free_port()
    specs = demo_environment(telemetry_server, ports, prometheus_port)
    # Peers first, so orders' first calls find them.
    ordered = {name: specs[name] for name in ("pricing", "notifications", "inventory", "orders")}
    with services_running(ordered, tmp_path_factory.mktemp("otel-demo-logs"), ports) as running:
        yield Demo(running, telemetry_server, prometheus_port)
