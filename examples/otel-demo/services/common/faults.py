"""Failure injection from ``FAULT_*`` variables (spec/otel-demo.md §2.4).

| Variable | Effect |
|---|---|
| ``FAULT_ERROR_RATE`` | probability of a 500 ``{"error": "injected fault"}`` with an ERROR span |
| ``FAULT_LATENCY_MS``, ``FAULT_LATENCY_JITTER_MS`` | added delay, uniform in ms ± jitter (never negative) |
| ``FAULT_SLOW_RATE``, ``FAULT_SLOW_MS`` | probability of a stall of ``FAULT_SLOW_MS`` (beyond callers' 2 s timeout) |
| ``FAULT_PATHS`` | comma list of paths the knobs apply to (``/orders`` covers ``/orders/…``); default: all but |
|  | ``/health`` |

``FAULT_STOCK_DRAIN`` (inventory) and ``FAULT_CRASH_AFTER_S`` (every service) are read where they act
(:mod:`services.inventory.store`, :mod:`services.common.lifecycle`).

The decision is pure (:meth:`Faults.decide`); each framework's adapter sleeps, answers and marks the
server span with ``demo.fault`` (``error``, ``stall`` or ``latency``: the most severe that applied).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

FAULT_ATTRIBUTE = "demo.fault"
INJECTED_ERROR = {"error": "injected fault"}
HEALTH_PATH = "/health"


class InjectedFault(Exception):
    """The exception recorded on a span whose request failed by ``FAULT_ERROR_RATE``."""


@dataclass(frozen=True, slots=True)
class FaultSettings:
    error_rate: float = 0.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 0.0
    paths: tuple[str, ...] | None = None  # None: every path but /health

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FaultSettings:
        raw_paths = env.get("FAULT_PATHS", "").strip()
        paths = tuple(p.strip().rstrip("/") or "/" for p in raw_paths.split(",") if p.strip()) or None
        return cls(
            error_rate=_probability(env, "FAULT_ERROR_RATE"),
            latency_ms=_non_negative(env, "FAULT_LATENCY_MS"),
            latency_jitter_ms=_non_negative(env, "FAULT_LATENCY_JITTER_MS"),
            slow_rate=_probability(env, "FAULT_SLOW_RATE"),
            slow_ms=_non_negative(env, "FAULT_SLOW_MS"),
            paths=paths,
        )

    @property
    def active(self) -> bool:
        return bool(self.error_rate or self.latency_ms or self.latency_jitter_ms or (self.slow_rate and self.slow_ms))

    def applies_to(self, path: str) -> bool:
        if self.paths is None:
            return path != HEALTH_PATH
        return any(path == p or p == "/" or path.startswith(p + "/") for p in self.paths)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    delay_s: float = 0.0  # latency, then any stall, before the request is handled
    stalled: bool = False
    error: bool = False

    @property
    def kind(self) -> str | None:
        if self.error:
            return "error"
        if self.stalled:
            return "stall"
        return "latency" if self.delay_s > 0 else None


class Faults:
    """Draws one :class:`FaultDecision` per request."""

    def __init__(self, settings: FaultSettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Faults:
        return cls(FaultSettings.from_env(env))

    def decide(self, path: str) -> FaultDecision | None:
        settings = self.settings
        if not settings.active or not settings.applies_to(path):
            return None
        delay_ms = 0.0
        if settings.latency_ms or settings.latency_jitter_ms:
            jitter = settings.latency_jitter_ms
            delay_ms = max(settings.latency_ms + self._rng.uniform(-jitter, jitter), 0.0)
        stalled = bool(settings.slow_rate and settings.slow_ms and self._rng.random() < settings.slow_rate)
        if stalled:
            delay_ms += settings.slow_ms
        error = bool(settings.error_rate and self._rng.random() < settings.error_rate)
        decision = FaultDecision(delay_s=delay_ms / 1000.0, stalled=stalled, error=error)
        return decision if decision.kind is not None else None


def mark_span(decision: FaultDecision, span: trace.Span | None = None) -> None:
    """Record the decision on the server span: ``demo.fault`` and, for errors, ERROR plus an exception event."""
    span = span or trace.get_current_span()
    kind = decision.kind
    if kind is None or not span.is_recording():
        return
    span.set_attribute(FAULT_ATTRIBUTE, kind)
    if decision.error:
        span.record_exception(InjectedFault("injected fault (FAULT_ERROR_RATE)"))
        span.set_status(Status(StatusCode.ERROR, "injected fault"))


def _number(env: Mapping[str, str], name: str) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return 0.0
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number; got {raw!r}") from None


def _probability(env: Mapping[str, str], name: str) -> float:
    value = _number(env, name)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability between 0 and 1; got {value}")
    return value


def _non_negative(env: Mapping[str, str], name: str) -> float:
    value = _number(env, name)
    if value < 0:
        raise ValueError(f"{name} must not be negative; got {value}")
    return value
