"""Opaque ``nextToken``s that survive restarts: each encodes the sort key of the last item served."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson

from ecslite.protocol.errors import AwsError

ErrorFactory = Callable[[str], AwsError]


def encode_token(key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": key})).decode("ascii")


def decode_token(token: str | None, error: ErrorFactory) -> Any:
    """The sort key a token carries; ``None`` without a token; ``error`` for a token we never made."""
    if token is None:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        return data["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeEncodeError):
        raise error("Invalid nextToken.") from None


def page_size(value: int | None, default: int, maximum: int, error: ErrorFactory, minimum: int = 1) -> int:
    if value is None:
        return default
    if not minimum <= value <= maximum:
        raise error(f"maxResults must be between {minimum} and {maximum}.")
    return value
