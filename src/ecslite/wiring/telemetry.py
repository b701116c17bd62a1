"""Telemetry's components: the pipeline and its store, the exporters' tap, RED metrics from spans,
the forward receiver, task ownership of what arrives, the built-in images' gateway and the export
sink (process runtime), runtime metrics and Prometheus scrapes."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ecslite.runtime.base import Runtime
from ecslite.runtime.fake import FakeRuntime
from ecslite.wiring import Core

if TYPE_CHECKING:
    from ecslite.builtin.gateway import TaskGateway
    from ecslite.providers.logs.provider import LogsProvider
    from ecslite.telemetry.export.tap import ExportTap
    from ecslite.telemetry.receivers.forward import ForwardReceiver
    from ecslite.telemetry.service import Telemetry
    from ecslite.telemetry.sink import ExportSink


@dataclass(frozen=True, slots=True)
class TelemetryParts:
    telemetry: Telemetry
    exports: ExportTap
    forward: ForwardReceiver
    gateway: TaskGateway | None  # process runtime only
    sink: ExportSink | None  # process runtime only


def add_telemetry(core: Core, logs: LogsProvider) -> TelemetryParts:
    from ecslite.control.telemetry_owners import TelemetryOwnersFeed
    from ecslite.telemetry.export.tap import ExportTap
    from ecslite.telemetry.red import SpanMetrics
    from ecslite.telemetry.runtime_metrics import RuntimeMetrics
    from ecslite.telemetry.scrape import Scraper
    from ecslite.telemetry.service import Telemetry

    settings, components = core.settings, core.components
    telemetry = Telemetry(settings, core.clock)
    # The exporters' tap starts before the telemetry pipeline and stops after it, so what the
    # pipeline drains at shutdown still goes out (telemetry.export.tap).
    exports = ExportTap.from_settings(settings, telemetry.store)
    components.append(exports)
    components.append(telemetry)
    # RED metrics and service graph edges from spans (§9.2, §9.3): after the telemetry component,
    # so its last flush reaches the store before the store closes.
    components.append(SpanMetrics(telemetry.store, core.clock))
    forward = _add_forward_receiver(core, telemetry)
    components.append(TelemetryOwnersFeed(core.db, telemetry.owners, functools.partial(_netns_path, core.runtime)))
    gateway = _add_task_gateway(core, telemetry, logs)
    sink = _add_export_sink(core, telemetry, gateway)
    # A short --metrics-period needs samples often enough to fill its periods.
    interval = min(settings.runtime_metrics_interval, settings.metrics_period / 5)
    components.append(RuntimeMetrics(core.db, core.runtime, telemetry.store, core.clock, interval))
    # The fake runtime's task addresses lead nowhere real: a scrape would go out through the
    # host's default route, so there is nothing to scrape there (elb/fake_network.py, same rule).
    if not isinstance(core.runtime, FakeRuntime):
        pipeline, owners = telemetry.pipeline, telemetry.owners
        components.append(Scraper(core.db, pipeline, owners, core.clock, settings.scrape_interval))
    return TelemetryParts(telemetry, exports, forward, gateway, sink)


def _add_forward_receiver(core: Core, telemetry: Telemetry) -> ForwardReceiver:
    from ecslite.telemetry.receivers.forward import ForwardReceiver

    forward = ForwardReceiver(telemetry.pipeline, telemetry.owners, port=core.settings.forward_port)
    core.components.append(forward)
    return forward


def _add_task_gateway(core: Core, telemetry: Telemetry, logs: LogsProvider) -> TaskGateway | None:
    """Built-in images inside tasks reach ecslite at 169.254.170.2 (process runtime only)."""
    output_path = getattr(core.runtime, "output_path", None)
    if core.runtime.name != "process" or output_path is None:
        return None
    from ecslite.builtin.gateway import TaskGateway

    gateway = TaskGateway(
        core.db,
        core.settings,
        telemetry.pipeline,
        telemetry.owners,
        logs=logs,
        output_path=output_path,
    )
    core.components.append(gateway)
    return gateway


def _add_export_sink(core: Core, telemetry: Telemetry, gateway: TaskGateway | None) -> ExportSink | None:
    """Loki, Tempo and Thanos stand-ins on the VPC bridge's subnet gateways (process runtime only;
    ecslite.telemetry.sink)."""
    if core.runtime.name != "process" or gateway is None:
        return None
    from ecslite.model.vpc import default_layout
    from ecslite.telemetry.sink import ExportSink

    layout = default_layout(core.settings.vpc_cidr)
    gateways = [str(cidr.network_address + 1) for _, cidr in layout.subnets]
    gateways.append(str(layout.bridge_range.network_address + 1))
    sink = ExportSink(gateways, device=core.settings.bridge, owners=telemetry.owners)
    core.components.append(sink)
    from ecslite.control.sink_gateways import SinkGatewaysFeed

    # Subnets made with CreateSubnet are served at their gateways too, until deleted.
    core.components.append(SinkGatewaysFeed(core.db, sink))
    return sink


def _netns_path(runtime: Runtime, task_id: str) -> str | None:
    """The task's network namespace, where the runtime has one (the process runtime)."""
    network = getattr(runtime, "network", None)
    sandbox = network.sandbox(task_id) if network is not None else None
    path = getattr(sandbox, "netns_path", None)
    return str(path) if path else None
