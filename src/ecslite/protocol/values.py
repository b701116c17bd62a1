"""Converting wire values to and from the Python values providers work with.

Providers hold timestamps as epoch seconds (``float``) or ``datetime``; blobs as ``bytes``. Each
protocol puts them on the wire its own way: JSON as epoch numbers and base64, XML as ISO 8601.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from ecslite.protocol.errors import SerializationError

UTC = dt.UTC


def to_epoch(value: Any) -> float:
    """A timestamp from a provider as epoch seconds rounded to the millisecond."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return round(float(value.timestamp()), 3)
    return round(float(value), 3)


def to_iso(value: Any) -> str:
    """A timestamp as ISO 8601 in UTC with milliseconds, the way query services send them."""
    stamp = dt.datetime.fromtimestamp(to_epoch(value), UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


# Years 1 to 9999, what a datetime (and so every timestamp ecslite writes back) can represent.
_EARLIEST = dt.datetime(1, 1, 2, tzinfo=UTC).timestamp()
_LATEST = dt.datetime(9999, 12, 30, tzinfo=UTC).timestamp()


def parse_timestamp(value: Any, path: str) -> float:
    """Epoch seconds from a wire timestamp: a number, or an ISO 8601 / epoch string."""
    if isinstance(value, bool):
        raise SerializationError(f"Expected a timestamp at '{path}' but got a boolean.")
    if isinstance(value, int | float):
        return _in_range(float(value), value, path)
    if isinstance(value, str):
        text = value.strip()
        try:
            return _in_range(float(text), value, path)
        except ValueError:
            pass
        try:
            stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise SerializationError(f"Unable to parse timestamp '{value}' at '{path}'.") from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return _in_range(stamp.timestamp(), value, path)
    raise SerializationError(f"Expected a timestamp at '{path}'.")


def _in_range(seconds: float, value: Any, path: str) -> float:
    # Also refuses NaN and infinities ("nan" parses as a float), which compare false to both bounds.
    if not _EARLIEST <= seconds <= _LATEST:
        raise SerializationError(f"Timestamp '{value}' at '{path}' is out of range.")
    return seconds


def parse_blob(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise SerializationError(f"Expected a base64 string at '{path}'.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SerializationError(f"Invalid base64 data at '{path}'.") from None


def blob_text(value: bytes | str) -> str:
    data = value.encode() if isinstance(value, str) else value
    return base64.b64encode(data).decode("ascii")
