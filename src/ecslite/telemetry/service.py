"""The telemetry side of one server: store, pipeline, task owners and OTLP receivers, started and
stopped together as one server component (design.md "Telemetry pipeline").

Order: the store opens first and closes last; receivers stop accepting before the pipeline
drains, and the pipeline hands everything it accepted to the store before the store closes, so
a clean stop loses nothing that was answered with success.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.telemetry.enrich import TaskOwners
from ecslite.telemetry.model import Signal
from ecslite.telemetry.pipeline import Pipeline, PipelineSettings, tune_interpreter
from ecslite.telemetry.receivers.listeners import OtlpReceivers
from ecslite.telemetry.store import StoreSettings, TelemetryStore

DAY = 86400.0


class Telemetry:
    name = "telemetry"

    def __init__(self, settings: Settings, clock: Clock) -> None:
        tune_interpreter()  # this process ingests telemetry beside its event loop (pipeline.tune_interpreter)
        traces, logs, metrics = settings.telemetry_retention_days
        self.store = TelemetryStore(
            StoreSettings(
                directory=settings.telemetry_dir,
                retention_seconds={Signal.TRACES: traces * DAY, Signal.LOGS: logs * DAY, Signal.METRICS: metrics * DAY},
                max_bytes=settings.telemetry_max_bytes,
                max_pending=settings.telemetry_max_pending,
            ),
            clock,
        )
        self.pipeline = Pipeline(
            self.store,
            PipelineSettings(
                max_queue_bytes=settings.telemetry_max_queue_bytes,
                max_pending_items=settings.telemetry_max_pending,
                override_resource=settings.telemetry_override_resource,
            ),
            clock,
        )
        self.owners = TaskOwners()
        try:
            self.receivers = OtlpReceivers(
                self.pipeline,
                self.owners,
                grpc_port=settings.otlp_grpc_port,
                http_port=settings.otlp_http_port,
                implicit=settings.implicit_receivers,
            )
        except BaseException:
            self.pipeline.close()
            self.store.close()
            raise

    async def start(self) -> None:
        await self.receivers.start()

    async def stop(self) -> None:
        await self.receivers.stop()
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self.pipeline.close()
        self.store.close()

    async def reset(self) -> None:
        await asyncio.to_thread(self.store.clear)

    def stats(self) -> dict[str, Any]:
        return {
            "hostPorts": self.receivers.host_ports,
            "tasks": sorted(self.owners.all()),
            "pipeline": self.pipeline.counters(),
            "storeBytes": self.store.size_bytes(),
        }
