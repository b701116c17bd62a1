"""The generator's HTTP side (spec/otel-demo.md §3): ``GET /`` as ho11y answers it, ``GET /metrics``, the
downstream calls and the self-invoking load loop.

Differences from ho11y (§3.2): a downstream that fails (connection error, timeout, 5xx) leaves an
ERROR CLIENT span with an ``exception`` event and ``error.type``, counts in the answer's ``errors``
and the call still answers 200 — the process exits only with ``HO11Y_EXIT_ON_DOWNSTREAM_ERROR=1``;
a downstream's duration covers the whole call; ``POST`` downstreams send a generated order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import random
from collections.abc import Awaitable
from typing import Any

import aiohttp
import prometheus_client
from aiohttp import web
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from opentelemetry.trace import Span
from prometheus_client.openmetrics import exposition as openmetrics

from services.common.otel_setup import Telemetry
from services.loadgen.settings import Downstream, Settings, load_rate, xray_trace_id

log = logging.getLogger("ho11y")
FAILURE_CODES = (400, 403, 301, 404, 501)
PRODUCTS = ("Laptop", "Mouse", "Keyboard")
UNKNOWN_PRODUCT = "Monitor"  # not in the seed's tables: inventory says "Product not found"
THROTTLE_PERIOD_S = 0.5
MAX_SELF_CALLS_IN_FLIGHT = 64
compact = functools.partial(json.dumps, separators=(",", ":"))

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # the Go client ho11y uses has no *_created series
INVOKES = prometheus_client.Counter("ho11y", "Total ho11y invokes.", ["http_status_code"])
RAND_GAUGE = prometheus_client.Gauge("ho11y_randval", "A random value.")
RAND_HISTOGRAM = prometheus_client.Histogram(
    "ho11y_randhist",
    "A histogram of normally distributed random numbers.",
    buckets=[-2 + 0.5 * i for i in range(10)],
)
PAYLOADS = prometheus_client.Summary(
    "ho11y_downstream_payload_bytes", "HTTP body size received from a downstream.", ["downstream"]
)
DURATIONS = prometheus_client.Histogram(
    "ho11y_downstream_duration_seconds",
    "Duration taken for invoking a downstream.",
    buckets=[0.0001 * 2**k for k in range(10)],
)


class DownstreamFailed(Exception):
    """A downstream answered with a server error."""


def generated_order(rng: random.Random, unknown_share: float = 0.02) -> dict[str, Any]:
    """An order for ``POST`` downstreams: a seed product (``unknown_share`` of them, 2 % by default,
    an unknown one), quantity 1–5."""
    product = UNKNOWN_PRODUCT if rng.random() < unknown_share else rng.choice(PRODUCTS)
    return {"user_id": rng.randint(1, 1000), "product_name": product, "quantity": rng.randint(1, 5)}


def record_server_error(span: Span, params: Any) -> None:
    """aiohttp client response hook: a 5xx answer also gets the ``exception`` event (§3.2)."""
    response = getattr(params, "response", None)
    if response is not None and response.status >= 500 and span.is_recording():
        span.record_exception(DownstreamFailed(f"{response.method} {response.url} answered {response.status}"))


class Generator:
    def __init__(self, settings: Settings, telemetry: Telemetry, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.telemetry = telemetry
        self.rng = rng or random.Random()
        self.invokes_in_period = 0
        self.tps = 0.0
        self.session: aiohttp.ClientSession | None = None
        self.self_session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.self_calls: set[asyncio.Task[None]] = set()

    # -- GET / ------------------------------------------------------------------------------------

    async def invoke(self, request: web.Request) -> web.Response:
        span = trace.get_current_span()
        trace_id = xray_trace_id(span.get_span_context().trace_id)
        if self.settings.cutoff_tps is not None:
            self.invokes_in_period += 1
            if self.tps > self.settings.cutoff_tps:
                INVOKES.labels("429").inc()
                log.info(f"Throttle engaged, got {self.tps} TPS with a {self.settings.cutoff_tps:g} TPS cutoff point")
                return web.Response(status=429)
        if self.settings.inject_failure and self.rng.randrange(100) > 50:
            code = self.rng.choice(FAILURE_CODES)
            INVOKES.labels(str(code)).inc()
            return web.Response(status=code)
        log.info("ho11y was invoked", extra={"event": "invoke", "traceID": trace_id, "remote": request.remote})
        INVOKES.labels("200").inc()
        errors = await self.call_downstreams(trace_id)
        body: dict[str, Any] = {"traceId": trace_id}
        if errors:
            body["errors"] = errors
        return web.json_response(body, dumps=compact)

    async def call_downstreams(self, trace_id: str) -> int:
        errors = 0
        for downstream in self.settings.downstreams:
            loop = asyncio.get_running_loop()
            started = loop.time()
            size, failure = 0, None
            if downstream.method == "DUMMY":
                await asyncio.sleep(downstream.duration_s)
                size = downstream.size
            else:
                size, failure = await self._call(downstream)
            duration = downstream.duration_s if downstream.method == "DUMMY" else loop.time() - started
            fields = {"event": "downstream", "body_bytes": size, "duration_sec": duration}
            if failure is None:
                log.info(f"ho11y invoked {downstream.spec}", extra=fields)
            else:
                errors += 1
                log.error(f"ho11y downstream {downstream.spec} failed: {failure}", extra={**fields, "error": failure})
                if self.settings.exit_on_downstream_error:
                    self._exit(downstream, failure)
            PAYLOADS.labels(downstream.spec).observe(size)
            DURATIONS.observe(duration, exemplar={"traceid": trace_id})
        return errors

    async def _call(self, downstream: Downstream) -> tuple[int, str | None]:
        """The body size and, for a failed call, why (the client span records the failure itself)."""
        assert self.session is not None
        payload = (
            generated_order(self.rng, self.settings.unknown_product_share) if downstream.method == "POST" else None
        )
        try:
            async with self.session.request(downstream.method, downstream.url, json=payload) as response:
                body = await response.read()
        except TimeoutError:
            return 0, f"timed out after {self.settings.timeout_s:g} s"
        except aiohttp.ClientError as error:
            return 0, f"{type(error).__name__}: {error}"
        if response.status >= 500:
            return len(body), f"answered {response.status}"
        return len(body), None

    def _exit(self, downstream: Downstream, failure: str) -> None:
        log.error(f"HTTP {downstream.method} to {downstream.url} failed: {failure}; exiting (ho11y behaviour)")
        self.telemetry.flush(timeout_s=1.0)
        os._exit(1)

    # -- GET /metrics ---------------------------------------------------------------------------

    async def metrics(self, request: web.Request) -> web.Response:
        # promhttp's negotiation: OpenMetrics (with exemplars) only for scrapers that ask for it.
        if self.settings.openmetrics and "application/openmetrics-text" in request.headers.get("Accept", ""):
            payload = openmetrics.generate_latest(prometheus_client.REGISTRY)  # type: ignore[no-untyped-call]
            content_type = openmetrics.CONTENT_TYPE_LATEST
        else:
            payload, content_type = prometheus_client.generate_latest(), prometheus_client.CONTENT_TYPE_LATEST
        response = web.Response(body=payload)
        response.headers["Content-Type"] = content_type  # with its version parameter, as promhttp sends it
        return response

    # -- background work ------------------------------------------------------------------------

    async def start(self, app: web.Application) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        self.session = aiohttp.ClientSession(timeout=timeout)
        self.self_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self._spawn(self._random_values())
        if self.settings.cutoff_tps is not None:
            self._spawn(self._measure_tps())
        if self.settings.load_rps > 0:
            self._spawn(self._self_load())

    async def stop(self, app: web.Application) -> None:
        for task in [*self.tasks, *self.self_calls]:
            task.cancel()
        for task in [*self.tasks, *self.self_calls]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for session in (self.session, self.self_session):
            if session is not None:
                await session.close()

    def _spawn(self, work: Awaitable[None]) -> None:
        self.tasks.append(asyncio.ensure_future(work))

    async def _random_values(self) -> None:
        while True:
            RAND_GAUGE.set(self.rng.gauss(0.0, 1.0))
            RAND_HISTOGRAM.observe(self.rng.gauss(0.0, 1.0))
            await asyncio.sleep(5)

    async def _measure_tps(self) -> None:
        while True:
            self.tps = self.invokes_in_period / THROTTLE_PERIOD_S
            self.invokes_in_period = 0
            await asyncio.sleep(THROTTLE_PERIOD_S)

    async def _self_load(self) -> None:
        """Poisson arrivals at :func:`load_rate`, each a ``GET /`` of this process from outside any trace."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        url = f"http://127.0.0.1:{self.settings.port}/"
        while True:
            rate = load_rate(self.settings, loop.time() - began)
            await asyncio.sleep(self.rng.expovariate(rate))
            if len(self.self_calls) >= MAX_SELF_CALLS_IN_FLIGHT:
                continue  # a stuck downstream must not pile up calls without bound
            task = asyncio.ensure_future(self._self_call(url))
            self.self_calls.add(task)
            task.add_done_callback(self.self_calls.discard)

    async def _self_call(self, url: str) -> None:
        assert self.self_session is not None
        # No client span and no propagated context: each call starts a trace at the server span,
        # as a call from outside would.
        with suppress_http_instrumentation():
            try:
                async with self.self_session.get(url) as response:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as error:
                log.warning(f"self-invocation of {url} failed: {type(error).__name__}: {error}")


def create_app(settings: Settings, telemetry: Telemetry) -> web.Application:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor

    AioHttpServerInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=telemetry.tracer_provider, response_hook=record_server_error)
    generator = Generator(settings, telemetry)
    app = web.Application()
    app.router.add_get("/", generator.invoke)
    app.router.add_get("/metrics", generator.metrics)
    app.on_startup.append(generator.start)
    app.on_cleanup.append(generator.stop)
    app["generator"] = generator
    return app
