"""Pure helpers of the operator commands: ages, durations, sizes, waterfall geometry, tables fitted to
the width, the one-line "cannot reach" message and top's series per task."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table

from ecslite.cli import render, top
from ecslite.cli.client import unreachable


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


def _header(console: Console, table: Table) -> list[str]:
    with console.capture() as captured:
        console.print(table)
    return captured.get().splitlines()[0].split()


def test_fitted_table_keeps_every_column_when_the_rows_fit() -> None:
    console = Console(width=200, force_terminal=False)
    rows = [["0123456789abcdef0123456789abcdef", "prod", "RUNNING", "2/2 running, 1 healthy"]]

    table = render.fitted_table(console, ["!TASK", "!CLUSTER", "!STATUS", "CONTAINERS"], rows, optional=("CLUSTER",))

    assert _header(console, table) == ["TASK", "CLUSTER", "STATUS", "CONTAINERS"]


def test_fitted_table_leaves_out_optional_columns_in_order_until_the_rows_fit() -> None:
    rows = [["0123456789abcdef0123456789abcdef", "production", "web:12", "RUNNING", "2/2 running"]]
    columns = ["!TASK", "!CLUSTER", "!DEFINITION", "!STATUS", "CONTAINERS"]
    # 32 + 10 + 10 + 7 + 11 and 2 cells between columns: 78 for all, 66 without DEFINITION.
    wide = render.fitted_table(Console(width=78), columns, rows, optional=("DEFINITION", "CLUSTER"))
    narrower = render.fitted_table(Console(width=77), columns, rows, optional=("DEFINITION", "CLUSTER"))
    narrowest = render.fitted_table(Console(width=60), columns, rows, optional=("DEFINITION", "CLUSTER"))

    assert [c.header for c in wide.columns] == ["TASK", "CLUSTER", "DEFINITION", "STATUS", "CONTAINERS"]
    assert [c.header for c in narrower.columns] == ["TASK", "CLUSTER", "STATUS", "CONTAINERS"]
    assert [c.header for c in narrowest.columns] == ["TASK", "STATUS", "CONTAINERS"]


def test_fitted_table_counts_a_wrapping_column_at_its_folded_width() -> None:
    rows = [["abc", "x" * 100]]

    table = render.fitted_table(Console(width=40), ["!ID", "MESSAGE"], rows, optional=("ID",))

    assert [c.header for c in table.columns] == ["ID", "MESSAGE"]  # 3 + 2 + 24 cells fit in 40


def test_print_table_off_a_terminal_has_no_trailing_padding() -> None:
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    table = render.table("!NAME", "NOTE")
    table.add_row("a-long-name", "x")
    table.add_row("b", "a longer note")

    render.print_table(console, table)

    assert console.file.getvalue() == "NAME         NOTE\na-long-name  x\nb            a longer note\n"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        ("[Errno 111] Connection refused", "connection refused"),
        ("All connection attempts failed", "all connection attempts failed"),
        ("[Errno -2] Name or service not known.", "name or service not known"),
        ("", "no answer"),
    ],
)
def test_unreachable_names_the_endpoint_and_why_in_one_line(reason: str, text: str) -> None:
    assert unreachable("http://127.0.0.1:4577", reason) == (
        f"Cannot reach ecslite at http://127.0.0.1:4577: {text}. Start it with: ecslite server --detach"
    )


def test_top_arranges_series_per_task_with_the_sample_time_not_the_query_time() -> None:
    def series(name: str, value: str, **labels: str) -> dict[str, object]:
        return {"metric": {"__name__": name, "job": "ecslite", **labels}, "value": [2000.5, value]}

    result = [
        series("ecs_task_cpu_utilized", "512", task_id="t1"),
        series("ecs_task_memory_utilized_mebibytes", "64", task_id="t1"),
        series("ecs_container_cpu_utilized", "500", task_id="t1", container="app"),
        series("ecs_container_pids", "3", task_id="t1", container="app"),
        series("ecs_task_memory_utilized_mebibytes", "8", task_id="t2"),
        series("ecs_task_cpu_utilized", "1", container="app"),  # no task: not ecslite's own series
    ]
    sampled = [{"metric": {"task_id": "t1"}, "value": [2000.5, "1999.25"]}]

    found = top.samples_by_task(result, sampled)

    assert found == {
        "t1": {
            "task": {"cpuUnits": 512.0, "memoryMiB": 64.0},
            "containers": {"app": {"cpuUnits": 500.0, "pids": 3.0}},
            "sampledAt": 1999.25,
        },
        "t2": {"task": {"memoryMiB": 8.0}, "containers": {}, "sampledAt": None},
    }
