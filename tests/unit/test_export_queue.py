"""The export queue against an in-process HTTP receiver: batching, retries, bounds, persistence (§6.1)."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from ecslite.telemetry.export.queue import ExportQueue, QueueSettings
from ecslite.telemetry.export.retry import (
    ECSLITE_POLICY,
    Attempt,
    Outcome,
    RetryPolicy,
    classify,
    parse_retry_after,
    parse_retry_limit,
)
from ecslite.telemetry.export.senders import HttpSender
from tests.fixtures.http_sink import Answer, HttpSink

FAST = RetryPolicy(base=0.01, cap=0.05, limit=None, give_up_after=30.0)


class JoinSender(HttpSender):
    """Items are text lines; a batch is their newline-joined concatenation."""

    def encode(self, items: Sequence[bytes]) -> tuple[bytes, dict[str, str]]:
        return b"\n".join(items), {"Content-Type": "text/plain"}


def lines(sink: HttpSink) -> list[bytes]:
    return [line for request in sink.requests for line in request.body.split(b"\n")]


def make_queue(sink: HttpSink, **settings: object) -> ExportQueue:
    base = {"flush_interval": 0.05, "policy": FAST}
    base.update(settings)
    queue = ExportQueue(JoinSender("test", sink.url("/push")), QueueSettings(**base))  # type: ignore[arg-type]
    queue.start()
    return queue


# -- the retry policy ----------------------------------------------------------------------------


def test_full_jitter_delays_stay_within_base_and_capped_exponential() -> None:
    policy = RetryPolicy(base=5.0, cap=2000.0)
    rng = random.Random(7)
    for retry in range(1, 15):
        high = min(2000.0, 5.0 * 2**retry)
        delays = [policy.delay(retry, rng) for _ in range(200)]
        assert all(5.0 <= d <= high for d in delays), retry
        # Full jitter spreads over the whole range, not only its ends.
        assert max(delays) - min(delays) > (high - 5.0) * 0.5


def test_fluent_bit_policy_draws_whole_seconds() -> None:
    policy = RetryPolicy.fluent_bit("3")
    rng = random.Random(1)
    delays = [policy.delay(2, rng) for _ in range(100)]
    assert all(d == int(d) and 5 <= d <= 20 for d in delays)
    assert policy.limit == 3 and policy.give_up_after is None


@pytest.mark.parametrize(
    ("value", "limit"),
    [(None, 1), ("1", 1), ("5", 5), (0, 0), ("no_retries", 0), ("no_limits", None), ("False", None), ("off", None)],
)
def test_retry_limit_parses_fluent_bit_values(value: str | int | None, limit: int | None) -> None:
    assert parse_retry_limit(value) == limit


def test_retry_limit_refuses_words_fluent_bit_does_not_know() -> None:
    with pytest.raises(ValueError, match="invalid Retry_Limit 'sometimes'"):
        parse_retry_limit("sometimes")


def test_ecslite_policy_gives_up_after_thirty_minutes_not_after_a_count() -> None:
    assert not ECSLITE_POLICY.exhausted(10_000, 1799.0)
    assert ECSLITE_POLICY.exhausted(3, 1800.0)
    assert ECSLITE_POLICY.delay(30, random.Random(0)) <= 300.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    now = datetime(2025, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now.timestamp()) == pytest.approx(90.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DONE),
        (204, Outcome.DONE),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (400, Outcome.FAIL),
        (401, Outcome.FAIL),
        (404, Outcome.FAIL),
        (409, Outcome.FAIL),
        (413, Outcome.FAIL),
    ],
)
def test_statuses_are_classified_as_section_6_1_says(status: int, outcome: Outcome) -> None:
    assert classify(status).outcome is outcome


# -- delivery ------------------------------------------------------------------------------------


def test_items_are_delivered_in_order_in_one_batch() -> None:
    with HttpSink() as sink:
        queue = make_queue(sink)
        for i in range(5):
            queue.put(f"item {i}".encode())
        assert queue.flush(5)
        queue.close()
        assert lines(sink) == [f"item {i}".encode() for i in range(5)]
        assert len(sink.requests) == 1
        stats = queue.stats()
        assert (stats.sent_items, stats.sent_batches, stats.errors, stats.dropped) == (5, 1, 0, 0)


def test_batches_are_cut_at_the_size_limit() -> None:
    with HttpSink() as sink:
        queue = make_queue(sink, batch_bytes=100, flush_interval=10.0)
        for i in range(10):
            queue.put(bytes([65 + i]) * 40)
        assert queue.flush(5)
        queue.close()
        assert [len(r.body.split(b"\n")) for r in sink.requests] == [2, 2, 2, 2, 2]
        assert lines(sink) == [bytes([65 + i]) * 40 for i in range(10)]


def test_a_small_batch_waits_for_the_flush_interval() -> None:
    with HttpSink() as sink:
        queue = make_queue(sink, flush_interval=0.4)
        started = time.monotonic()
        queue.put(b"alone")
        sink.wait_for(1, timeout=5)
        waited = sink.requests[0].at - started
        queue.close()
        assert 0.35 <= waited < 3.0


def test_client_errors_are_not_retried() -> None:
    with HttpSink() as sink:
        sink.script(Answer(400, body=b"out of order sample"))
        queue = make_queue(sink)
        queue.put(b"refused")
        assert queue.flush(5)
        time.sleep(0.2)  # a retry, if any, would come within the policy's 50 ms cap
        queue.close()
        assert len(sink.requests) == 1
        stats = queue.stats()
        assert (stats.errors, stats.retries, stats.sent_items) == (1, 0, 0)
        assert stats.last_status == 400 and "out of order sample" in stats.last_error


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_server_errors_and_429_are_retried_until_delivered(status: int) -> None:
    with HttpSink() as sink:
        sink.script(status, status)
        queue = make_queue(sink)
        queue.put(b"kept")
        assert queue.flush(5)
        queue.close()
        assert [r.body for r in sink.requests] == [b"kept", b"kept", b"kept"]
        stats = queue.stats()
        assert (stats.retries, stats.sent_items, stats.errors) == (2, 1, 0)


def test_retry_after_is_honoured_over_the_jittered_wait() -> None:
    with HttpSink() as sink:
        sink.script(Answer(429, {"Retry-After": "1"}))
        queue = make_queue(sink)
        queue.put(b"later")
        assert queue.flush(10)
        queue.close()
        first, second = sink.requests
        assert second.at - first.at >= 0.95
        assert queue.stats().delays == [1.0]


def test_a_batch_is_dropped_and_counted_when_its_retries_run_out() -> None:
    with HttpSink() as sink:
        sink.script(503, 503, 503, 503)
        queue = make_queue(sink, policy=RetryPolicy(base=0.01, cap=0.02, limit=2, give_up_after=None))
        queue.put(b"doomed")
        assert queue.flush(5)
        queue.close()
        assert len(sink.requests) == 3  # the first attempt and two retries
        stats = queue.stats()
        assert (stats.retries_failed, stats.sent_items, stats.retries) == (1, 0, 2)


def test_connection_refused_is_retried_until_the_receiver_is_back() -> None:
    with HttpSink() as sink:
        sink.down()
        queue = make_queue(sink)
        for i in range(3):
            queue.put(f"during outage {i}".encode())
        time.sleep(0.3)
        assert queue.stats().retries >= 2
        sink.up()
        assert queue.flush(10)
        queue.close()
        assert lines(sink) == [f"during outage {i}".encode() for i in range(3)]


def test_a_full_queue_drops_the_oldest_items_and_counts_them() -> None:
    with HttpSink() as sink:
        sink.down()
        queue = make_queue(sink, max_bytes=100, batch_bytes=10)
        for i in range(20):
            queue.put(b"%02d" % i + b"x" * 8)  # 10 bytes each: ten fit
            time.sleep(0.005)
        time.sleep(0.2)
        stats = queue.stats()
        assert stats.dropped >= 9
        assert stats.queued_bytes <= 100 + 10  # the cap, plus the batch in flight
        sink.up()
        assert queue.flush(10)
        queue.close()
        delivered = lines(sink)
        assert delivered[-1] == b"19" + b"x" * 8  # the newest survive
        assert len(delivered) + queue.stats().dropped == 20


def test_a_persistent_queue_survives_a_restart_and_delivers_afterwards(tmp_path: Path) -> None:
    buffer = tmp_path / "queue.db"
    with HttpSink() as sink:
        sink.down()
        first = make_queue(sink, buffer_path=buffer)
        for i in range(4):
            first.put(f"persisted {i}".encode())
        time.sleep(0.1)
        first.close(timeout=0.1)
        assert first.stats().dropped == 0
        sink.up()
        second = make_queue(sink, buffer_path=buffer)
        assert second.flush(10)
        second.close()
        assert lines(sink) == [f"persisted {i}".encode() for i in range(4)]
        assert second.stats().queued_items == 0


def test_a_memory_queue_counts_what_it_could_not_deliver_at_shutdown() -> None:
    with HttpSink() as sink:
        sink.down()
        queue = make_queue(sink)
        queue.put(b"lost")
        queue.put(b"lost too")
        time.sleep(0.1)
        queue.close(timeout=0.1)
        assert queue.stats().dropped == 2


class Exploding:
    name = "exploding"

    def __init__(self) -> None:
        self.calls = 0

    def send(self, items: Sequence[bytes]) -> Attempt:
        self.calls += 1
        raise ValueError("encoder bug")

    def close(self) -> None:
        return None


def test_a_failing_encoder_drops_its_batch_and_the_worker_lives_on() -> None:
    sender = Exploding()
    queue = ExportQueue(sender, QueueSettings(flush_interval=0.01, policy=FAST))
    queue.start()
    queue.put(b"a")
    assert queue.flush(5)
    queue.put(b"b")
    assert queue.flush(5)
    queue.close()
    assert sender.calls == 2
    assert queue.stats().errors == 2
