"""The export sink's checks and counters as pure functions (spec/telemetry.md §6.2–6.4)."""

from __future__ import annotations

import math

import orjson
import pytest

from ecslite.telemetry.sink import checks
from ecslite.telemetry.sink.counters import SinkCounters

NOW_NS = 1_750_000_000 * 1_000_000_000
JSON = {"content-type": "application/json"}


def push(streams: list[dict[str, object]]) -> checks.Verdict:
    return checks.check_loki("POST", "/loki/api/v1/push", JSON, orjson.dumps({"streams": streams}), NOW_NS)


def test_loki_entries_within_the_window_are_accepted() -> None:
    verdict = push([{"stream": {"job": "a"}, "values": [[str(NOW_NS - 10**9), "x"], [str(NOW_NS + 60 * 10**9), "y"]]}])
    assert (verdict.status, verdict.accepted, verdict.rejected) == (204, 2, 0)


def test_loki_entry_past_the_grace_period_is_too_new() -> None:
    at = NOW_NS + 11 * 60 * 10**9
    verdict = push([{"stream": {"job": "a"}, "values": [[str(at), "x"]]}])
    assert verdict.status == 400
    assert verdict.message == "entry for stream '{job=\"a\"}' has timestamp too new: 2025-06-15T15:17:40Z"


def test_loki_stream_with_sixteen_labels_is_refused() -> None:
    labels = {f"l{i:02d}": "v" for i in range(16)}
    verdict = push([{"stream": labels, "values": [[str(NOW_NS), "x"]]}])
    assert verdict.status == 400
    assert verdict.message.endswith("has 16 label names; limit 15")
    assert verdict.message.startswith('entry for stream \'{l00="v", l01="v"')


def test_loki_label_value_over_2048_bytes_is_refused() -> None:
    value = "v" * 2049
    verdict = push([{"stream": {"job": value}, "values": [[str(NOW_NS), "x"]]}])
    assert verdict.message == f"stream '{{job=\"{value}\"}}' has label value too long: '{value}'"


def test_loki_integer_timestamp_is_a_bad_request() -> None:
    verdict = push([{"stream": {"job": "a"}, "values": [[NOW_NS, "x"]]}])
    assert verdict.status == 400 and "invalid timestamp" in verdict.message


def test_loki_empty_label_value_is_accepted() -> None:
    # The seed's `cluster=${ECS_CLUSTER}` expands to an empty value (§6.5 row 5); Loki takes it.
    assert push([{"stream": {"cluster": "", "job": "a"}, "values": [[str(NOW_NS), "x"]]}]).status == 204


def test_loki_get_on_push_is_method_not_allowed() -> None:
    assert checks.check_loki("GET", "/loki/api/v1/push", {}, b"", NOW_NS).status == 405


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ((("__name__", "up"), ("job", "a")), None),
        ((("__name__", "up"), ("job", "")), "empty"),
        ((("job", "a"), ("__name__", "up")), "order"),
        ((("__name__", "up"), ("job", "a"), ("job", "b")), "duplicate"),
        ((("job", "a"),), "names"),
        ((("__name__", "up"), ("job-name", "a")), "names"),
    ],
)
def test_series_problem_follows_thanos_label_rules(labels: tuple[tuple[str, str], ...], problem: str | None) -> None:
    assert checks.series_problem(labels) == problem


def test_series_clock_refuses_older_and_changed_samples_and_takes_repeats() -> None:
    clock = checks.SeriesClock()
    series = (("__name__", "up"),)
    assert clock.append(series, [(1, 1.0), (2, 2.0)]) == (2, 0, 0)
    assert clock.append(series, [(2, 2.0), (1, 0.5), (2, 3.0), (3, 3.0)]) == (2, 1, 1)
    assert clock.append(series, [(3, math.nan)]) == (0, 0, 1)


def test_series_clock_forgets_the_oldest_series_past_its_limit() -> None:
    clock = checks.SeriesClock(limit=2)
    for name in ("a", "b", "c"):
        clock.append((("__name__", name),), [(10, 1.0)])
    assert clock.append((("__name__", "a"),), [(5, 1.0)]) == (1, 0, 0)
    assert clock.append((("__name__", "c"),), [(5, 1.0)]) == (0, 1, 0)


def test_remote_write_errors_are_joined_in_thanos_order() -> None:
    counts = {"order": 1, "duplicate": 0, "empty": 2, "names": 0, "sample_order": 3, "sample_duplicate": 0}
    assert checks._rw_errors(counts) == [
        "add 1 series: out of order labels",
        "add 2 series: label set contains a label with empty name or value",
        "add 3 samples: out of order sample",
    ]


def test_otlp_error_message_is_read_from_a_json_status() -> None:
    verdict = checks.check_otlp("POST", "/v1/traces", JSON, b"[1, 2]")
    assert verdict.status == 400
    assert verdict.message == "invalid JSON: the body must be an object"


def test_counters_keep_per_source_and_total_figures() -> None:
    counters = SinkCounters()
    counters.record("arn:task/a", "loki", 100, checks.Verdict(204, accepted=3), at=1.0)
    counters.record("arn:task/a", "loki", 50, checks.Verdict(400, b"bad\n", rejected=2), at=2.0)
    counters.record("host", "remote_write", 10, checks.Verdict(200, accepted=1), at=3.0)
    loki = counters.of("arn:task/a")["loki"]
    assert (loki["requests"], loki["records"], loki["rejected"], loki["bytes"], loki["errors"]) == (2, 3, 2, 150, 1)
    assert (loki["lastStatus"], loki["lastError"], loki["lastAt"]) == (400, "bad", 2.0)
    assert set(counters.totals()) == {"loki", "remote_write"}
    assert counters.of("arn:task/b") == {}


def test_counters_drop_the_oldest_source_past_the_bound() -> None:
    counters = SinkCounters(max_sources=2)
    for source in ("a", "b", "c"):
        counters.record(source, "loki", 1, checks.Verdict(204, accepted=1))
    assert set(counters.sources()) == {"b", "c"}
    assert counters.totals()["loki"]["requests"] == 3
