"""Pure rendering helpers of the operator commands: ages, durations, sizes and waterfall geometry."""

from __future__ import annotations

import pytest

from ecslite.cli import render


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "0s"),
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (36000, "10h"),
        (86399, "23h"),
        (86400, "1d"),
        (10 * 86400, "10d"),
    ],
)
def test_ago_is_short_and_never_negative(seconds: float, text: str) -> None:
    assert render.ago(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2.5e-05, "25µs"),
        (0.00085, "850µs"),
        (0.0012345, "1.23ms"),
        (0.01234, "12.3ms"),
        (0.4567, "457ms"),
        (1.25, "1.25s"),
        (12.5, "12.5s"),
        (75.25, "1m15.2s"),
    ],
)
def test_duration_keeps_three_significant_figures(seconds: float, text: str) -> None:
    assert render.duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0, "0B"),
        (512, "512B"),
        (1536, "1.5KiB"),
        (200 * 1024, "200KiB"),
        (12.5 * 1024**2, "12.5MiB"),
        (3 * 1024**3, "3.0GiB"),
        (5000 * 1024**3, "5000GiB"),
    ],
)
def test_human_bytes_uses_binary_units(value: float | None, text: str) -> None:
    assert render.human_bytes(value) == text


def test_human_bytes_marks_rates() -> None:
    assert render.human_bytes(2048, per_second=True) == "2.0KiB/s"


def test_iso_has_milliseconds_in_utc() -> None:
    assert render.iso(1_700_000_000.2504) == "2023-11-14T22:13:20.250Z"
    assert render.iso(None) is None


def test_bar_span_places_spans_on_the_trace_line() -> None:
    assert render.bar_span(0, 100, 100, 50) == (0, 50)
    assert render.bar_span(50, 50, 100, 50) == (25, 25)
    assert render.bar_span(10, 20, 100, 10) == (1, 2)


def test_bar_span_gives_a_short_span_one_cell_and_never_runs_past_the_row() -> None:
    assert render.bar_span(99.9, 0.01, 100, 40) == (39, 1)
    assert render.bar_span(100, 0, 100, 40) == (39, 1)
    assert render.bar_span(30, 500, 100, 40) == (12, 28)
    assert render.bar_span(0, 0, 0, 40) == (0, 40)
    assert render.bar_span(0, 1, 1, 0) == (0, 0)


def test_bar_is_exactly_the_row_width() -> None:
    for start, length in ((0, 10), (3, 0), (9.99, 0.01), (5, 5)):
        text = render.bar(start, length, 10, 30, "red")
        assert len(text.plain) == 30
    assert render.bar(3, 0, 10, 30, "red").plain.strip() == render.BAR_EDGE


def test_column_widths_share_the_terminal_between_labels_and_bars() -> None:
    assert render.column_widths(["a" * 30, "b"], 120) == (30, 78)
    assert render.column_widths(["a" * 100], 120) == (60, 48)
    assert render.column_widths(["abc"], 60) == (3, 45)
    assert render.column_widths(["a" * 100], 40) == (20, 20)


def test_first_line_cuts_long_messages() -> None:
    assert render.first_line("one\ntwo") == "one"
    assert render.first_line("x" * 10, 5) == "xxxx…"
    assert render.first_line("   ") == ""
