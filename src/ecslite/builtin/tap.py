"""How a built-in image inside a task reaches ecslite: the task-side gateway at
``http://169.254.170.2:4578`` (:mod:`ecslite.builtin.gateway`).

169.254.170.2 is the address every task already reaches for the metadata endpoint (routed through
its gateway to the host bridge, spec/ecs.md §9), so no setting is needed; the server knows the
calling task from the connection's source address. ``ECSLITE_GATEWAY`` overrides the URL (tests,
a built-in run by hand) and ``ECSLITE_GATEWAY=off`` turns the tap off: the image then only feeds
the outputs its configuration names.

Routes used (all answers JSON):

- ``GET /v1/context``: the task and, for a FireLens router, the generated configuration.
- ``POST /v1/otlp/{traces|metrics|logs}``: an OTLP export request as received (same
  ``Content-Type`` and ``Content-Encoding``); 200, 400 (bad data) or 503 + ``Retry-After`` (full).
- ``POST /v1/forward``: Forward-mode messages, concatenated msgpack; 200 or 503.
- ``POST /v1/cloudwatch-logs``: ``{"logGroupName", "logStreamName", "events": [[ms, message]],
  "createGroup"}`` into ecslite's CloudWatch Logs.
- ``POST /v1/diagnostics``: ``{"container", "messages": [...]}``, the image's warnings.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import httpx

log = logging.getLogger(__name__)

GATEWAY_ADDRESS = "169.254.170.2"
GATEWAY_PORT = 4578
GATEWAY_URL = f"http://{GATEWAY_ADDRESS}:{GATEWAY_PORT}"
VARIABLE = "ECSLITE_GATEWAY"


class Tap:
    """A client of the gateway; every call is safe to make when the gateway is absent."""

    def __init__(self, url: str | None = None) -> None:
        configured = os.environ.get(VARIABLE, "") if url is None else url
        self.enabled = configured.strip().lower() not in ("off", "none", "0")
        self.url = (configured.strip() or GATEWAY_URL).rstrip("/")
        self._sync = httpx.Client(timeout=30.0) if self.enabled else None
        self._async: httpx.AsyncClient | None = None
        self.full_until = 0.0
        self.failures = 0
        self._warned = False

    def _client(self) -> httpx.AsyncClient:
        if self._async is None:
            self._async = httpx.AsyncClient(timeout=30.0)
        return self._async

    def _unreachable(self, error: Exception) -> None:
        self.failures += 1
        if not self._warned:
            self._warned = True
            log.warning(
                "ecslite's gateway at %s cannot be reached (%s); telemetry goes only to the configured outputs",
                self.url,
                error,
            )

    def context(self, attempts: int = 20, delay: float = 0.25) -> dict[str, Any] | None:
        """The task context, retried briefly (the gateway may start a moment after the task)."""
        if self._sync is None:
            return None
        last: Exception | None = None
        for _ in range(attempts):
            try:
                response = self._sync.get(f"{self.url}/v1/context", timeout=5.0)
            except httpx.HTTPError as error:
                last = error
                time.sleep(delay)
                continue
            if response.status_code == 200:
                data: dict[str, Any] = response.json()
                return data
            log.warning("ecslite's gateway answered %s to /v1/context: %s", response.status_code, response.text)
            return None
        if last is not None:
            self._unreachable(last)
        return None

    async def otlp(self, signal: str, body: bytes, content_type: str, encoding: str) -> tuple[int, str, float]:
        """Status, message and Retry-After seconds of handing an OTLP request to ecslite."""
        if not self.enabled:
            return 200, "", 0.0
        headers = {"Content-Type": content_type or "application/x-protobuf"}
        if encoding:
            headers["Content-Encoding"] = encoding
        try:
            response = await self._client().post(f"{self.url}/v1/otlp/{signal}", content=body, headers=headers)
        except httpx.HTTPError as error:
            self._unreachable(error)
            return 200, "", 0.0  # no gateway: routing goes on without the tap
        return response.status_code, response.text, float(response.headers.get("retry-after") or 0)

    def forward(self, body: bytes) -> tuple[int, float]:
        """Status and Retry-After of handing Forward messages to ecslite (blocking; worker threads)."""
        if self._sync is None:
            return 200, 0.0
        try:
            response = self._sync.post(
                f"{self.url}/v1/forward", content=body, headers={"Content-Type": "application/msgpack"}
            )
        except httpx.HTTPError as error:
            self._unreachable(error)
            return 200, 0.0
        return response.status_code, float(response.headers.get("retry-after") or 0)

    async def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        if not self.enabled:
            return 0, None
        try:
            response = await self._client().post(f"{self.url}{path}", json=payload)
        except httpx.HTTPError as error:
            self._unreachable(error)
            return 0, None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    async def close(self) -> None:
        if self._async is not None:
            await self._async.aclose()
        if self._sync is not None:
            self._sync.close()
