"""Rendering shared by the operator commands: tables, colours for ECS statuses, times, sizes, JSON,
and the trace waterfall's geometry.

Everything a command prints comes from a plain row (a dict with stable keys) built first, so the
table and ``--json`` always say the same thing. Tables fit a terminal's width; written to a pipe or
a file they are as wide as their rows (``COLUMNS`` still wins), so ``grep`` and ``awk`` never see a
cell cut short. Times are shown relative to now (``3m``) in tables
and as ISO 8601 in UTC in JSON. The functions that compute (``ago``, ``duration``, ``bar_span``,
``human_bytes``) are pure, so they are unit-tested without a terminal.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {
    "RUNNING": "green",
    "ACTIVE": "green",
    "COMPLETED": "green",
    "PROVISIONING": "yellow",
    "PENDING": "yellow",
    "ACTIVATING": "yellow",
    "IN_PROGRESS": "yellow",
    "DEACTIVATING": "magenta",
    "STOPPING": "magenta",
    "DEPROVISIONING": "magenta",
    "DRAINING": "magenta",
    "STOPPED": "dim",
    "INACTIVE": "dim",
    "FAILED": "red",
}
HEALTH_STYLES = {"HEALTHY": "green", "UNHEALTHY": "red", "UNKNOWN": "dim"}
BAR = "█"
BAR_EDGE = "▏"  # a span too short for one cell still shows where it starts
UNBOUNDED_WIDTH = 4096
FOLD_MIN = 24


def stdout_console() -> Console:
    """The console for tables: the terminal's width, or no practical limit off a terminal."""
    console = Console(highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        return Console(highlight=False, width=UNBOUNDED_WIDTH)
    return console


def print_table(console: Console, renderable: Any) -> None:
    """Print a table; off a terminal without the padding rich adds after the last cell of a row."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    console.file.flush()


def terminal_console() -> Console:
    """The console for drawings scaled to the width (the trace waterfall): 80 columns off a terminal."""
    return Console(highlight=False)


def styled(value: str | None, styles: dict[str, str] | None = None) -> Text:
    """A status word in its colour (``-`` when absent)."""
    if not value:
        return Text("-", style="dim")
    return Text(value, style=(styles or STATUS_STYLES).get(value, ""))


def health(value: str | None) -> Text:
    return styled(value, HEALTH_STYLES)


def stack_style(status: str | None) -> str:
    """A CloudFormation status's colour by its suffix, as the console's: failures (and rollbacks, even
    completed ones) red, work under way yellow, deletes dim."""
    text = str(status or "")
    if text.endswith("_FAILED") or (text.startswith(("ROLLBACK", "UPDATE_ROLLBACK")) and text.endswith("_COMPLETE")):
        return "red"
    if text.endswith("_IN_PROGRESS"):
        return "yellow"
    if text.startswith("DELETE_"):
        return "dim"
    return "green" if text.endswith("_COMPLETE") else ""


def stack_status(status: str | None) -> Text:
    return Text(status or "-", style=stack_style(status))


def iso(epoch: float | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, for JSON output."""
    if epoch is None:
        return None
    stamp = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def clock_time(epoch: float) -> str:
    """Local wall-clock time of an event, with the date when it is not today."""
    stamp = dt.datetime.fromtimestamp(epoch)
    if stamp.date() == dt.date.today():
        return stamp.strftime("%H:%M:%S")
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


def ago(seconds: float) -> str:
    """A short age: ``42s``, ``5m``, ``3h``, ``2d`` (``0s`` for the future, clocks being clocks)."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        hours, minutes = divmod(int(seconds // 60), 60)
        return f"{hours}h{minutes:02d}m" if hours < 10 and minutes else f"{hours}h"
    return f"{int(seconds // 86400)}d"


def duration(seconds: float) -> str:
    """A span or trace duration with three significant figures: ``850µs``, ``12.3ms``, ``1.25s``."""
    if seconds < 0.001:
        return f"{seconds * 1_000_000:.0f}µs"
    if seconds < 1:
        return f"{_three(seconds * 1000)}ms"
    if seconds < 60:
        return f"{_three(seconds)}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:04.1f}s"


def _three(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def human_bytes(value: float | None, *, per_second: bool = False) -> str:
    """Bytes in binary units: ``512B``, ``1.5KiB``, ``12MiB``, ``2.0GiB``; ``-`` when unknown."""
    if value is None:
        return "-"
    suffix = "/s" if per_second else ""
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(amount) < 1024 or unit == "GiB":
            text = f"{amount:.0f}" if unit == "B" or amount >= 100 else f"{amount:.1f}"
            return f"{text}{unit}{suffix}"
        amount /= 1024
    raise AssertionError("unreachable")


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def bar_span(start: float, length: float, total: float, width: int) -> tuple[int, int]:
    """Where a span's bar goes in a row of ``width`` cells: (first cell, cells), at least one cell.

    ``start`` is the offset from the trace's start and ``length`` the span's duration, in the same
    unit as ``total`` (the trace's duration). The bar never runs past the row.
    """
    if width <= 0:
        return 0, 0
    if total <= 0:
        return 0, width
    first = min(width - 1, max(0, int(start / total * width)))
    end = min(width, max(first + 1, round((start + length) / total * width)))
    return first, end - first


def bar(start: float, length: float, total: float, width: int, style: str) -> Text:
    """The bar of one span as text ``width`` cells wide."""
    first, cells = bar_span(start, length, total, width)
    text = Text(" " * first)
    text.append(BAR * cells if cells > 1 or length > 0 else BAR_EDGE, style=style)
    text.append(" " * max(0, width - first - cells))
    return text


def table(*columns: str, title: str | None = None) -> Table:
    """A borderless table in the commands' common look; columns named ``!X`` never wrap."""
    out = Table(box=None, header_style="bold", pad_edge=False, title=title, title_justify="left")
    for column in columns:
        if column.startswith("!"):
            out.add_column(column[1:], no_wrap=True)
        elif column.startswith(">"):
            out.add_column(column[1:], justify="right", no_wrap=True)
        else:
            out.add_column(column, overflow="fold")
    return out


def fitted_table(
    console: Console,
    columns: Sequence[str],
    rows: Iterable[Sequence[Text | str]],
    *,
    optional: Sequence[str] = (),
) -> Table:
    """A :func:`table` of ``rows`` that fits ``console``: while the rows need more than its width,
    the ``optional`` columns (named without their ``!``/``>`` mark) go, first named first, so a
    narrow terminal keeps the columns that matter whole rather than every column cut short. A
    wrapping column counts for at most :data:`FOLD_MIN` cells, as it can fold onto more lines."""
    rows = [list(row) for row in rows]
    names = [c.lstrip("!>") for c in columns]
    keep = list(range(len(columns)))
    for name in optional:
        if _needed(columns, rows, keep) <= console.width:
            break
        if name in names and names.index(name) in keep:
            keep.remove(names.index(name))
    out = table(*(columns[i] for i in keep))
    for row in rows:
        out.add_row(*(row[i] for i in keep))
    return out


def _needed(columns: Sequence[str], rows: Sequence[Sequence[Text | str]], keep: Sequence[int]) -> int:
    total = 2 * max(0, len(keep) - 1)  # the table's padding between columns
    for index in keep:
        cells = [columns[index].lstrip("!>"), *(row[index] for row in rows)]
        widest = max(cell.cell_len if isinstance(cell, Text) else cell_len(cell) for cell in cells)
        total += widest if columns[index][:1] in ("!", ">") else min(widest, FOLD_MIN)
    return total


def print_json(data: Any) -> None:
    """JSON on stdout, indented, keys in the order the rows give them."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def print_json_line(data: Any) -> None:
    """One JSON object per line (for streams such as ``events -f --json``)."""
    sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()


def joined(parts: Iterable[Text | str], separator: str = ", ") -> Text:
    out = Text()
    for index, part in enumerate(parts):
        if index:
            out.append(separator, style="dim")
        out.append(part if isinstance(part, Text) else Text(part))
    return out


def first_line(text: str, limit: int = 160) -> str:
    """The first line of a message, cut to ``limit`` characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def column_widths(labels: Sequence[str], total: int, *, minimum_bar: int = 20) -> tuple[int, int]:
    """(label width, bar width) for a waterfall ``total`` cells wide: labels get what they need up
    to half the row, the bar the rest (never less than ``minimum_bar``)."""
    longest = max((len(label) for label in labels), default=10)
    label = min(longest, max(10, total // 2))
    return label, max(minimum_bar, total - label - 12)
