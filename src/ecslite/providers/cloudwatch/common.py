"""State and helpers shared by CloudWatch's groups of operations (the mixins of ``CloudWatchProvider``)."""

from __future__ import annotations

from typing import Any

from ecslite.clock import Clock
from ecslite.model.scaling import TimeScale
from ecslite.providers.cloudwatch.datapoints import MetricReader
from ecslite.providers.cloudwatch.errors import InvalidNextToken
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.store.db import Database


def alarm_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


def next_token(key: Any) -> str:
    return encode_token(key)


def token_key(token: str | None) -> Any:
    return decode_token(token, lambda message: InvalidNextToken())


class CloudWatchBase:
    """Holds the store, the clock, the metric reader and the time scale (``--metrics-period``)."""

    def __init__(self, db: Database, clock: Clock, reader: MetricReader, scale: TimeScale | None = None) -> None:
        self.db = db
        self.clock = clock
        self.reader = reader
        self.scale = scale or TimeScale()

    def now(self) -> float:
        return round(self.clock.now(), 3)
