"""The awslogs driver's pure rules (ecslite.model.awslogs): options as Docker validates them, stream
names, output records, events and batches."""

from __future__ import annotations

import itertools
import re

import pytest

from ecslite.model.awslogs import (
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    AwslogsConfig,
    EventBuilder,
    LoggerArgsError,
    awslogs_config,
    dropped_window,
    parse_records,
    parse_size,
    parse_sourced_records,
    split_message,
    strftime_regex,
)

TASK = "0123456789abcdef0123456789abcdef"
BASE = {"awslogs-group": "/ecs/web", "awslogs-region": "eu-west-1"}


def config(options: dict[str, str], default_mode: str = "blocking") -> AwslogsConfig:
    return awslogs_config(
        {**BASE, **options}, container="web", task_id=TASK, runtime_id="c0ffee", default_mode=default_mode
    )


def refused(**options: str) -> str:
    with pytest.raises(LoggerArgsError) as caught:
        awslogs_config(options, container="web", task_id=TASK, runtime_id="c0ffee")
    return str(caught.value)


def record(seconds: float, line: str, source: str = "stdout") -> bytes:
    return f"{seconds:.9f} {source} {line}\n".encode()


# -- options ---------------------------------------------------------------------------------------


def test_stream_is_prefix_container_task_or_the_runtime_id_without_prefix() -> None:
    with_prefix = config({"awslogs-stream-prefix": "ecs"})
    without = config({})
    assert (with_prefix.stream, without.stream) == (f"ecs/web/{TASK}", "c0ffee")
    assert (with_prefix.group, with_prefix.region) == ("/ecs/web", "eu-west-1")


def test_create_group_takes_go_booleans_and_refuses_others_with_dockers_text() -> None:
    assert config({"awslogs-create-group": "True"}).create_group
    assert not config({"awslogs-create-group": "0"}).create_group
    assert refused(**BASE, **{"awslogs-create-group": "yes"}) == (
        "must specify valid value for log opt 'awslogs-create-group': "
        'strconv.ParseBool: parsing "yes": invalid syntax'
    )


def test_datetime_format_and_multiline_pattern_together_are_refused() -> None:
    assert refused(**BASE, **{"awslogs-datetime-format": "%Y", "awslogs-multiline-pattern": "^x"}) == (
        "you cannot configure log opt 'awslogs-datetime-format' and 'awslogs-multiline-pattern' at the same time"
    )


def test_mode_and_max_buffer_size_are_checked_as_docker_does() -> None:
    assert refused(**BASE, mode="fast") == "logger: logging mode not supported: fast"
    assert refused(**BASE, **{"max-buffer-size": "4m"}) == (
        "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
    )
    assert refused(**BASE, mode="non-blocking", **{"max-buffer-size": "lots"}) == (
        "error parsing option max-buffer-size: invalid size: 'lots'"
    )
    chosen = config({"mode": "non-blocking", "max-buffer-size": "4m"})
    assert (chosen.mode, chosen.max_buffer_bytes) == ("non-blocking", 4 * 1024 * 1024)


def test_mode_defaults_to_the_account_setting_given() -> None:
    assert config({}, default_mode="non-blocking").mode == "non-blocking"
    assert config({"mode": "blocking"}, default_mode="non-blocking").mode == "blocking"


def test_missing_group_and_bad_flush_interval_are_refused() -> None:
    assert refused(**{"awslogs-region": "us-east-1"}) == "must specify a value for log opt 'awslogs-group'"
    assert refused(**BASE, **{"awslogs-force-flush-interval-seconds": "0"}) == (
        "must specify a positive integer for log opt 'awslogs-force-flush-interval-seconds': 0"
    )


def test_a_pattern_that_does_not_compile_is_refused() -> None:
    assert refused(**BASE, **{"awslogs-multiline-pattern": "(unclosed"}).startswith(
        'awslogs could not parse multiline pattern key "(unclosed": '
    )


def test_strftime_sequences_become_dockers_expressions_and_unknown_ones_vanish() -> None:
    assert strftime_regex("%Y-%m-%d %H:%M:%S") == (
        r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[1,2][0-9]|3[0,1]) (?:[0,1][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    )
    assert strftime_regex("[%b %Q%L]") == r"[(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \.\d{3}]"


def test_sizes_are_binary_multiples() -> None:
    assert [parse_size(s) for s in ("100", "512k", "1m", "1.5g", "2MiB", "3 kb")] == [
        100,
        512 * 1024,
        1024**2,
        int(1.5 * 1024**3),
        2 * 1024**2,
        3 * 1024,
    ]
    with pytest.raises(ValueError, match="invalid size: '-1m'"):
        parse_size("-1m")


# -- records ---------------------------------------------------------------------------------------


def test_records_give_millisecond_times_lines_and_the_offset_after_each() -> None:
    data = record(1_750_000_000.123456789, "hello") + b"garbage\n" + record(1_750_000_001.9999, "x y", "stderr")
    records, ends = parse_records(data + b"1750000002.000000000 stdout partial", base=100)
    assert records == [(1_750_000_000_123, "hello"), (1_750_000_001_999, "x y")]
    assert ends == [100 + len(record(1_750_000_000.123456789, "hello")), 100 + len(data)]
    sourced, used = parse_sourced_records(data + b"1750000002.000000000 stdout partial")
    assert sourced == [(1_750_000_000_123, "stdout", "hello"), (1_750_000_001_999, "stderr", "x y")]
    assert used == len(data)


def test_dropped_window_only_in_non_blocking_mode_past_the_buffer() -> None:
    assert dropped_window(100, 2000, "blocking", 1000) is None
    assert dropped_window(100, 1100, "non-blocking", 1000) is None
    assert dropped_window(100, 1101, "non-blocking", 1000) == 1100


# -- events and batches --------------------------------------------------------------------------------


def test_one_event_per_line_in_file_order_even_when_the_clock_steps_back() -> None:
    builder = EventBuilder()
    builder.add([(1000, "a"), (1005, "b"), (1003, "c")], [10, 20, 30])
    [batch] = builder.take()
    assert batch.events == [(1000, "a"), (1005, "b"), (1005, "c")]
    assert (batch.commit, batch.last_ts, builder.commit) == (30, 1005, 30)


def test_batches_stop_at_ten_thousand_events_and_commit_what_they_hold() -> None:
    builder = EventBuilder()
    count = MAX_BATCH_EVENTS + 5
    builder.add([(1000 + i, f"line {i}") for i in range(count)], list(range(1, count + 1)))
    first, second = builder.take()
    assert (len(first.events), len(second.events)) == (MAX_BATCH_EVENTS, 5)
    assert (first.commit, second.commit) == (MAX_BATCH_EVENTS, count)
    assert second.events[0] == (1000 + MAX_BATCH_EVENTS, f"line {MAX_BATCH_EVENTS}")


def test_batches_stay_under_a_mebibyte_and_within_a_day() -> None:
    builder = EventBuilder()
    big = "x" * 200_000
    builder.add([(1000, big)] * 6, [1, 2, 3, 4, 5, 6])
    assert [len(b.events) for b in builder.take()] == [5, 1]  # 5 × (200,000 + 26) bytes ≤ 1,048,576
    day = 24 * 3600 * 1000
    builder = EventBuilder()
    builder.add([(0, "a"), (day, "b"), (day + 1, "c")], [7, 8, 9])
    assert [[m for _, m in b.events] for b in builder.take()] == [["a", "b"], ["c"]]


def test_an_event_over_256_kib_is_split_without_breaking_a_character() -> None:
    message = "é" * (MAX_EVENT_BYTES // 2 + 10)  # two bytes each
    pieces = split_message(message)
    assert "".join(pieces) == message
    assert [len(p.encode()) for p in pieces] == [MAX_EVENT_BYTES, len(message.encode()) - MAX_EVENT_BYTES]
    builder = EventBuilder()
    builder.add([(5, message)], [99])
    [batch] = builder.take()
    assert [m for _, m in batch.events] == pieces
    assert {ts for ts, _ in batch.events} == {5}


def test_multiline_events_gather_lines_until_the_pattern_starts_the_next() -> None:
    builder = EventBuilder(re.compile(r"^\d{4}-\d\d-\d\d "))
    lines = [
        (1000, "2024-01-01 ERROR boom"),
        (1001, "  at main.py:3"),
        (1002, "  at lib.py:9"),
        (1003, "2024-01-01 INFO next"),
    ]
    builder.add(lines, [10, 20, 30, 40])
    [batch] = builder.take()
    assert batch.events == [(1000, "2024-01-01 ERROR boom\n  at main.py:3\n  at lib.py:9\n")]
    # The event still pending is not committed: its line is read again after a restart.
    assert (batch.commit, builder.commit, builder.pending_since_ms()) == (30, 30, 1003)
    builder.flush()
    [last] = builder.take()
    assert (last.events, last.commit) == ([(1003, "2024-01-01 INFO next\n")], 40)


def test_a_multiline_event_past_the_size_limit_is_cut_and_keeps_its_first_time() -> None:
    builder = EventBuilder(re.compile("^START"))
    chunk = "x" * 100_000
    builder.add([(1, "START"), (2, chunk), (3, chunk), (4, chunk)], [1, 2, 3, 4])
    builder.flush()
    events = [e for b in builder.take() for e in b.events]
    assert [ts for ts, _ in events] == [1, 1]
    assert events[0][1] == f"START\n{chunk}\n{chunk}\n"
    assert events[1][1] == f"{chunk}\n"


def test_skipping_dropped_output_commits_past_it() -> None:
    builder = EventBuilder()
    builder.add([(1, "kept")], [10])
    builder.skip_to(500)
    [batch] = builder.take()
    assert (batch.events, batch.commit) == ([(1, "kept")], 500)


def general_path(data: bytes) -> tuple[list[tuple[int, str]], int]:
    builder = EventBuilder()
    consumed = data.rfind(b"\n") + 1
    builder.add(*parse_records(data[:consumed]))
    return [e for b in builder.take() for e in b.events], builder.commit


def test_the_fast_path_gives_what_the_general_one_gives() -> None:
    lines = [record(1_750_000_000 + i / 7, f"line {i} " + "é" * (i % 3)) for i in range(25_000)]
    lines[100] = b"not a record\n"
    lines[20_000] = record(1_749_999_999.5, "the clock stepped back")
    lines[20_100] = b"1750000100.5 stdout few decimals\n"
    lines[20_200] = record(1_750_000_101, "\xff invalid").replace("ÿ".encode(), b"\xff")
    data = b"".join(lines) + b"1750000200.000000000 stdout no newline yet"
    builder = EventBuilder()
    taken = 0
    while chunk := data[taken : taken + 300_000]:
        used = builder.add_output(chunk, taken)
        if not used:
            break
        taken += used
    batches = builder.take()
    assert ([e for b in batches for e in b.events], builder.commit) == general_path(data)
    assert taken == builder.commit == len(data) - len(b"1750000200.000000000 stdout no newline yet")
    ends = set(itertools.accumulate(len(line) for line in lines))
    assert all(b.commit in ends for b in batches)
    assert any(b.full for b in batches) and not all(b.full for b in batches)  # both paths were taken
    assert all(
        len(b.events) <= MAX_BATCH_EVENTS and sum(len(m.encode()) + 26 for _, m in b.events) <= 1_048_576
        for b in batches
    )
