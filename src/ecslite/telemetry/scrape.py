"""Prometheus scraping of the container ports users mark (design.md "Telemetry pipeline"; otel-demo.md §2.5).

Which ports (the CloudWatch agent's ECS service discovery convention, and the seed's naming):

- a container's docker label ``ECS_PROMETHEUS_EXPORTER_PORT`` (its container port) with
  ``ECS_PROMETHEUS_METRICS_PATH`` (default ``/metrics``);
- a port mapping whose ``name`` ends in ``-metrics`` (the seed's ``java-metrics`` on 9464), at
  ``/metrics``.

Every ``interval`` (15 s) each target of each running task is fetched over HTTP from the host at
the task's address (awsvpc and bridge tasks have their own address on the host bridge; host-mode
tasks listen on the host's loopback), parsed with ``prometheus_client``'s text parser and stored
through the pipeline with the owning task's resource. Series get ``job`` = the container name,
``instance`` = ``<address>:<port>``, ``source="scrape"`` and ecslite's ``cluster``,
``task_family``, ``task_id`` and ``container`` labels; every scrape also writes ``up`` (1 or 0),
``scrape_duration_seconds`` and ``scrape_samples_scraped``, as Prometheus does. A sample's own
timestamp is kept; otherwise the scrape time is used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ecslite.clock import Clock
from ecslite.model.tasks import CONTAINERS_UP
from ecslite.periodic import Periodic
from ecslite.store import tasks as task_store
from ecslite.store.db import Database
from ecslite.telemetry.enrich import TaskOwners
from ecslite.telemetry.model import MetricBatch, MetricMetadata, Resource, Sample, Signal
from ecslite.telemetry.pipeline import Pipeline

log = logging.getLogger(__name__)

PORT_LABEL = "ECS_PROMETHEUS_EXPORTER_PORT"
PATH_LABEL = "ECS_PROMETHEUS_METRICS_PATH"
DEFAULT_PATH = "/metrics"
METRICS_PORT_SUFFIX = "-metrics"
TIMEOUT = 10.0
ACCEPT = "text/plain;version=0.0.4;q=0.9,*/*;q=0.1"


class ScrapeError(Exception):
    """The target did not answer with a parsable exposition."""


@dataclass(frozen=True, slots=True)
class Target:
    task_arn: str
    task_id: str
    cluster: str
    family: str
    container: str
    address: str
    port: int
    path: str

    @property
    def instance(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.instance}{self.path}"

    def labels(self) -> dict[str, str]:
        return {
            "job": self.container,
            "instance": self.instance,
            "source": "scrape",
            "cluster": self.cluster,
            "task_family": self.family,
            "task_id": self.task_id,
            "container": self.container,
        }


def targets_of(doc: Mapping[str, Any]) -> list[Target]:
    """The marked ports of a running task (see the module docstring)."""
    spec = doc["_spec"]
    mode = spec.get("networkMode")
    address = ((doc.get("_run") or {}).get("sandbox") or {}).get("privateIpv4")
    if mode == "host":
        address = "127.0.0.1"
    if not address:
        return []
    running = {c.get("name") for c in doc.get("containers") or () if c.get("lastStatus") == "RUNNING"}
    cluster = str(spec.get("clusterName") or str(spec.get("clusterArn", "")).rsplit("/", 1)[-1])
    found: dict[tuple[str, int], Target] = {}
    for container in spec["containers"]:
        name = container["name"]
        if name not in running:
            continue
        ports: list[tuple[int, str]] = []
        labels = container.get("dockerLabels") or {}
        marked = str(labels.get(PORT_LABEL) or "").strip()
        if marked.isdigit():
            path = str(labels.get(PATH_LABEL) or DEFAULT_PATH)
            ports.append((int(marked), path if path.startswith("/") else "/" + path))
        for mapping in container.get("portMappings") or ():
            if str(mapping.get("name") or "").endswith(METRICS_PORT_SUFFIX) and mapping.get("containerPort"):
                ports.append((int(mapping["containerPort"]), DEFAULT_PATH))
        for port, path in ports:
            found.setdefault(
                (name, port),
                Target(doc["taskArn"], str(spec["taskId"]), cluster, str(spec["family"]), name, address, port, path),
            )
    return list(found.values())


def running_targets(db: Database) -> list[Target]:
    out: list[Target] = []
    for arn in task_store.live_arns(db):
        doc = task_store.get(db, arn)
        if doc is None or doc.get("lastStatus") not in CONTAINERS_UP:
            continue
        try:
            out.extend(targets_of(doc))
        except (KeyError, TypeError, ValueError):
            log.exception("task document without what scraping needs", extra={"task": arn})
    return out


def parse(text: str, target_labels: Mapping[str, str], now_ms: int) -> tuple[list[Sample], list[MetricMetadata]]:
    """Samples and family metadata of a text exposition; target labels win over the exposition's."""
    samples: list[Sample] = []
    metadata: list[MetricMetadata] = []
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError) as error:
        raise ScrapeError(f"cannot parse the exposition: {error}") from None
    for family in families:
        metadata.append(MetricMetadata(family.name, family.type, family.documentation, family.unit))
        for sample in family.samples:
            labels = {**sample.labels, **target_labels, "__name__": sample.name}
            ts_ms = now_ms
            if sample.timestamp is not None:
                ts_ms = int(float(sample.timestamp) * 1000)
            value = float(sample.value)
            samples.append(Sample(tuple(sorted(labels.items())), ts_ms, value))
    return samples, metadata


def _health(target_labels: Mapping[str, str], now_ms: int, up: bool, seconds: float, count: int) -> list[Sample]:
    def sample(name: str, value: float) -> Sample:
        return Sample(tuple(sorted({**target_labels, "__name__": name}.items())), now_ms, value)

    return [
        sample("up", 1.0 if up else 0.0),
        sample("scrape_duration_seconds", seconds),
        sample("scrape_samples_scraped", float(count)),
    ]


class Scraper(Periodic):
    """A server component: scrapes every marked port of every running task each ``interval`` seconds."""

    name = "telemetry-scrape"
    failure = "scraping failed"

    def __init__(
        self, db: Database, pipeline: Pipeline, owners: TaskOwners, clock: Clock, interval: float = 15.0
    ) -> None:
        super().__init__(clock, interval)
        self.db = db
        self.pipeline = pipeline
        self.owners = owners
        self.failures = 0
        self.refused = 0
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._task is None and self.interval > 0:
            self._client = httpx.AsyncClient(timeout=TIMEOUT, headers={"Accept": ACCEPT})
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run_pass(self) -> None:
        await self.scrape_once()

    async def scrape_once(self) -> int:
        """Scrape every target once; returns how many answered."""
        targets = await asyncio.to_thread(running_targets, self.db)
        results = await asyncio.gather(*(self._scrape(target) for target in targets))
        return sum(results)

    async def _scrape(self, target: Target) -> bool:
        assert self._client is not None
        now_ms = int(self.clock.now() * 1000)
        started = self.clock.monotonic()
        labels = target.labels()
        try:
            response = await self._client.get(target.url)
            if response.status_code != 200:
                raise ScrapeError(f"HTTP {response.status_code}")
            samples, metadata = await asyncio.to_thread(parse, response.text, labels, now_ms)
            up = True
        except (httpx.HTTPError, ScrapeError) as error:
            self.failures += 1
            log.info("scrape failed", extra={"target": target.url, "error": str(error)})
            samples, metadata, up = [], [], False
        seconds = max(0.0, self.clock.monotonic() - started)
        samples.extend(_health(labels, now_ms, up, seconds, len(samples)))
        self._submit(target, samples, metadata)
        return up

    def _submit(self, target: Target, samples: Sequence[Sample], metadata: Sequence[MetricMetadata]) -> None:
        batch = MetricBatch(Resource({"service.name": target.container}), samples, metadata)
        future = self.pipeline.submit_batches(Signal.METRICS, [batch], self.owners.get(target.task_arn), "scrape")
        if future is None:
            self.refused += 1  # the pipeline counted the refusal too (ecslite_receiver_refused_total)
