"""Request parameters of the query APIs: GET query strings and POST form bodies read alike, and the
time and duration formats Prometheus, Loki, Tempo and Jaeger accept (spec/telemetry.md §7).

- Prometheus times: Unix seconds with a fraction (rounded to the millisecond) or RFC 3339.
- Loki times: additionally Unix nanoseconds (an integer of more than 13 digits, Grafana's form).
- Durations: ``[0-9]+(ms|s|m|h|d|w|y)`` compounds (``1h30m``) or float seconds.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from urllib.parse import parse_qsl

from starlette.requests import Request

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}
_DURATION = re.compile(r"(?:(\d+)(ms|s|m|h|d|w|y))+")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_ORDER = ("y", "w", "d", "h", "m", "s", "ms")
MIN_TIME_MS = -9_223_309_901_257_974  # Prometheus' MinTime / MaxTime (API defaults)
MAX_TIME_MS = 9_223_309_901_257_974


class BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f'invalid parameter "{name}": {message}')
        self.name = name
        self.detail = message


class Params:
    """A request's parameters, query string first, then the form body (POST)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    @classmethod
    async def read(cls, request: Request) -> Params:
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if content_type.startswith("application/x-www-form-urlencoded"):
                body = (await request.body()).decode("utf-8", "replace")
                pairs += parse_qsl(body, keep_blank_values=True)
        return cls(pairs)

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


def parse_prometheus_time(text: str, name: str) -> int:
    """Milliseconds from Unix seconds (fraction rounded to ms) or RFC 3339."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            whole = math.trunc(seconds)
            return int(whole) * 1000 + round((seconds - whole) * 1000)
    moment = _rfc3339(text)
    if moment is None:
        raise BadParameter(name, f'cannot parse "{text}" to a valid timestamp')
    return moment


def _rfc3339(text: str) -> int | None:
    nanos = _rfc3339_ns(text)
    return None if nanos is None else nanos // 1_000_000


def parse_duration_ms(text: str, name: str) -> int:
    """Prometheus ``parseDuration``: float seconds, or a ``1h30m``-style duration."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or abs(seconds * 1e9) > 2**63:
            raise BadParameter(name, f'cannot parse "{text}" to a valid duration. It overflows int64')
        return round(seconds * 1000)
    ms = prometheus_duration_ms(text)
    if ms is None:
        raise BadParameter(name, f'cannot parse "{text}" to a valid duration')
    return ms


def prometheus_duration_ms(text: str) -> int | None:
    """``model.ParseDuration``: units in descending order, each at most once (``1h30m``)."""
    if text == "0":
        return 0
    if not text or _DURATION.fullmatch(text) is None:
        return None
    total = 0
    last = -1
    for number, unit in _DURATION_PART.findall(text):
        position = _ORDER.index(unit)
        if position <= last:
            return None
        last = position
        total += int(number) * _UNITS_MS[unit]
    return total


def go_duration_ns(text: str) -> int | None:
    """Go's ``time.ParseDuration`` (``1.2s``, ``100ms``, ``1h30m``), as Jaeger and Tempo read them."""
    sign = 1
    if text.startswith(("-", "+")):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        return None
    position = 0
    total = 0.0
    for match in _GO_DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _GO_UNITS_NS[match.group(2)]
        position = match.end()
    if position != len(text) or position == 0:
        return None
    return sign * round(total)


def parse_loki_time_ns(text: str, name: str) -> int:
    """Loki times: Unix nanoseconds (integers of more than 13 digits), seconds with a fraction, or
    RFC 3339."""
    if re.fullmatch(r"-?\d+", text):
        value = int(text)
        return value if len(text.lstrip("-")) > 13 else value * 1_000_000_000
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return round(seconds * 1e9)
    moment = _rfc3339_ns(text)
    if moment is None:
        raise BadParameter(name, f'cannot parse "{text}" to a valid timestamp')
    return moment


def _rfc3339_ns(text: str) -> int | None:
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)", text)
    if match is None:
        return None
    zone = "+00:00" if match.group(3) in ("Z", "z") else match.group(3)
    try:
        base = datetime.fromisoformat(match.group(1).replace("t", "T") + zone)
    except ValueError:
        return None
    fraction = match.group(2) or ""
    nanos = int((fraction[1:] + "000000000")[:9]) if fraction else 0
    return int(base.timestamp()) * 1_000_000_000 + nanos


def parse_int(text: str | None, name: str, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise BadParameter(name, f'cannot parse "{text}" to a valid integer') from None
