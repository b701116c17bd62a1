"""ho11y's variables and the generator's additions (spec/otel-demo.md §3.1, §3.2), as plain values.

| Variable | Meaning |
|---|---|
| ``HO11Y_PORT`` | listen port (8765) |
| ``DOWNSTREAM0`` … ``DOWNSTREAM4`` | ``URL`` (GET), ``POST URL`` (a generated order) or ``DUMMY:<size>:<duration>`` |
| ``HO11Y_INJECT_FAILURE`` | any value: about half the calls fail with 400, 403, 301, 404 or 501 |
| ``HO11Y_CUTOFF_TPS`` | calls per second (measured per 0.5 s) above which ``/`` answers 429 |
| ``HO11Y_LOG_DEST`` | ``stdout``, else stderr |
| ``DISABLE_OM`` | set: ``/metrics`` never answers in the OpenMetrics format |
| ``OTEL_RESOURCE_ATTRIB`` | the service name (``ho11y-svc``); ``OTEL_SERVICE_NAME`` wins |
| ``HO11Y_EXIT_ON_DOWNSTREAM_ERROR`` | ``1``: a failing downstream ends the process with 1, as ho11y does |
| ``HO11Y_LOAD_RPS`` | self-invocations of ``/`` per second, Poisson arrivals (2; ``0`` turns them off) |
| ``HO11Y_LOAD_PROFILE`` | ``steady``; ``burst`` (×10 for the last 30 s of every 5 min); ``high`` (×20) |
| ``DOWNSTREAM_TIMEOUT_S`` | timeout of one downstream call (10 s) |
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

DOWNSTREAM_SLOTS = 5
BURST_FACTOR = 10.0
BURST_SECONDS = 30.0
BURST_PERIOD = 300.0
HIGH_FACTOR = 20.0
PROFILES = ("steady", "burst", "high")
# catalint/datasize, which ho11y uses: binary multiples, unit letters case-insensitive.
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtpeKMGTPE]?)[bB]?\s*")
# Go's time.ParseDuration: a sequence of decimal numbers, each with a unit.
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")


class SettingError(ValueError):
    """A variable the generator cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class Downstream:
    slot: int
    spec: str  # as written: the ``downstream`` label of ho11y's metrics
    method: str  # GET, POST or DUMMY
    url: str = ""
    size: int = 0  # DUMMY: bytes
    duration_s: float = 0.0  # DUMMY: the call's length


@dataclass(frozen=True, slots=True)
class Settings:
    port: int = 8765
    downstreams: tuple[Downstream, ...] = ()
    inject_failure: bool = False
    cutoff_tps: float | None = None
    log_to_stdout: bool = False
    openmetrics: bool = True
    service_name: str = "ho11y-svc"
    exit_on_downstream_error: bool = False
    load_rps: float = 2.0
    load_profile: str = "steady"
    timeout_s: float = 10.0
    unknown_product_share: float = 0.02  # orders for a product inventory does not know


def parse_size(text: str) -> int:
    match = _SIZE.fullmatch(text)
    if match is None:
        raise SettingError(f"cannot read {text!r} as a size such as 187kB")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def parse_duration(text: str) -> float:
    text = text.strip()
    if text in ("0", ""):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    total, position = 0.0, 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(body) or position == 0:
        raise SettingError(f"cannot read {text!r} as a Go duration such as 42ms or 1.5s")
    return sign * total


def parse_downstream(slot: int, spec: str) -> Downstream:
    text = spec.strip()
    if text.startswith("DUMMY"):
        parts = text.split(":")
        if len(parts) != 3:
            raise SettingError(f"DOWNSTREAM{slot}={spec!r}: a dummy is DUMMY:<size>:<duration>, e.g. DUMMY:187kB:42ms")
        try:
            return Downstream(slot, spec, "DUMMY", size=parse_size(parts[1]), duration_s=parse_duration(parts[2]))
        except SettingError as error:
            raise SettingError(f"DOWNSTREAM{slot}={spec!r}: {error}") from None
    method, _, rest = text.partition(" ")
    if method.upper() in ("GET", "POST") and rest.strip():
        method, url = method.upper(), rest.strip()
    else:
        method, url = "GET", text
    if not re.match(r"https?://", url):
        raise SettingError(f"DOWNSTREAM{slot}={spec!r}: expected a URL, 'POST URL' or DUMMY:<size>:<duration>")
    return Downstream(slot, spec, method, url=url)


def from_env(env: Mapping[str, str]) -> Settings:
    downstreams = tuple(
        parse_downstream(slot, env[f"DOWNSTREAM{slot}"])
        for slot in range(DOWNSTREAM_SLOTS)
        if env.get(f"DOWNSTREAM{slot}", "").strip()
    )
    cutoff_raw = env.get("HO11Y_CUTOFF_TPS")
    cutoff = None
    if cutoff_raw is not None:
        try:
            cutoff = float(int(cutoff_raw))
        except ValueError:
            raise SettingError(
                f"HO11Y_CUTOFF_TPS={cutoff_raw!r}: expected a whole number of calls per second"
            ) from None
    profile = env.get("HO11Y_LOAD_PROFILE", "").strip().lower() or "steady"
    if profile not in PROFILES:
        raise SettingError(f"HO11Y_LOAD_PROFILE={profile!r}: expected one of {', '.join(PROFILES)}")
    rps_raw = env.get("HO11Y_LOAD_RPS", "").strip()
    try:
        rps = float(rps_raw) if rps_raw else 2.0
    except ValueError:
        raise SettingError(f"HO11Y_LOAD_RPS={rps_raw!r}: expected a number of calls per second") from None
    if rps < 0:
        raise SettingError(f"HO11Y_LOAD_RPS={rps_raw!r}: must not be negative")
    timeout_raw = env.get("DOWNSTREAM_TIMEOUT_S", "").strip()
    share_raw = env.get("HO11Y_UNKNOWN_PRODUCT_SHARE", "").strip()
    try:
        unknown_share = float(share_raw) if share_raw else 0.02
    except ValueError:
        raise SettingError(f"HO11Y_UNKNOWN_PRODUCT_SHARE={share_raw!r}: expected a share from 0 to 1") from None
    if not 0 <= unknown_share <= 1:
        raise SettingError(f"HO11Y_UNKNOWN_PRODUCT_SHARE={share_raw!r}: expected a share from 0 to 1")
    return Settings(
        port=int(env.get("HO11Y_PORT", "").strip() or 8765),
        downstreams=downstreams,
        inject_failure=bool(env.get("HO11Y_INJECT_FAILURE", "")),
        cutoff_tps=cutoff,
        log_to_stdout=env.get("HO11Y_LOG_DEST") == "stdout",
        openmetrics="DISABLE_OM" not in env,
        service_name=env.get("OTEL_RESOURCE_ATTRIB", "").strip() or "ho11y-svc",
        exit_on_downstream_error=env.get("HO11Y_EXIT_ON_DOWNSTREAM_ERROR", "").strip() == "1",
        load_rps=rps,
        load_profile=profile,
        timeout_s=float(timeout_raw) if timeout_raw else 10.0,
        unknown_product_share=unknown_share,
    )


def load_rate(settings: Settings, elapsed_s: float) -> float:
    """Calls per second the load loop aims at ``elapsed_s`` after it started."""
    base = settings.load_rps
    if settings.load_profile == "high":
        return base * HIGH_FACTOR
    if settings.load_profile == "burst" and elapsed_s % BURST_PERIOD >= BURST_PERIOD - BURST_SECONDS:
        return base * BURST_FACTOR
    return base


def xray_trace_id(trace_id: int) -> str:
    """The X-Ray form ``1-<8 hex>-<24 hex>`` of a 128-bit trace id (ho11y's ``getXrayTraceID``)."""
    text = f"{trace_id:032x}"
    return f"1-{text[:8]}-{text[8:]}"
