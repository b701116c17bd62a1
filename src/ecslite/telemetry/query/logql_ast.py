"""LogQL syntax: the pipeline stages, log queries and log range aggregations that
:mod:`.logql` parses and :mod:`.logql_pipeline` / :mod:`.loki` run, with the literal helpers
(durations, byte sizes, Go string escapes) both sides need (spec/telemetry.md §7.2).

A metric query is a tree of PromQL nodes (:mod:`.promql_ast`) whose leaves are :class:`LogRange`,
so vector operations evaluate with the PromQL engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ecslite.telemetry.query.params import go_duration_ns, prometheus_duration_ms
from ecslite.telemetry.query.promql_ast import Node
from ecslite.telemetry.store.matchers import Matcher

_BYTES = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
    "tb": 1000**4,
    "tib": 1024**4,
    "pb": 1000**5,
    "pib": 1024**5,
}


class LogQLError(ValueError):
    pass


# -- log queries -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineFilter:
    op: str  # |= != |~ !~
    values: tuple[str, ...]  # or-chained alternatives
    patterns: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True, slots=True)
class Parser:
    kind: str  # json | logfmt | regexp | pattern | unpack
    params: tuple[tuple[str, str], ...] = ()  # json/logfmt: (label, expression)
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class LineFormat:
    template: str


@dataclass(frozen=True, slots=True)
class LabelFormat:
    items: tuple[tuple[str, str, bool], ...]  # (destination, source label or template, is template)


@dataclass(frozen=True, slots=True)
class DropKeep:
    keep: bool
    names: tuple[str, ...]
    matchers: tuple[Matcher, ...] = ()


@dataclass(frozen=True, slots=True)
class Decolorize:
    pass


@dataclass(frozen=True, slots=True)
class Comparison:
    name: str
    op: str
    value: str | float
    kind: str  # string | number | duration | bytes
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class BoolExpr:
    op: str  # and | or
    lhs: LabelExpr
    rhs: LabelExpr


LabelExpr = Comparison | BoolExpr


@dataclass(frozen=True, slots=True)
class LabelFilter:
    expr: LabelExpr


@dataclass(frozen=True, slots=True)
class Unwrap:
    label: str
    conversion: str = ""  # "" | bytes | duration | duration_seconds


Stage = LineFilter | Parser | LineFormat | LabelFormat | DropKeep | Decolorize | LabelFilter | Unwrap


@dataclass(frozen=True, slots=True)
class LogQuery:
    matchers: tuple[Matcher, ...]
    stages: tuple[Stage, ...] = ()

    def pushdown(self) -> tuple[str, ...]:
        """``|=`` needles that hold for the stored line (before any stage that rewrites the line)."""
        needles: list[str] = []
        for stage in self.stages:
            if isinstance(stage, LineFilter):
                if stage.op == "|=" and len(stage.values) == 1 and stage.values[0]:
                    needles.append(stage.values[0])
                continue
            if isinstance(stage, LineFormat | Decolorize) or (isinstance(stage, Parser) and stage.kind == "unpack"):
                break
        return tuple(needles)

    @property
    def filters_beyond_pushdown(self) -> bool:
        return any(not (isinstance(s, LineFilter) and s.op == "|=" and len(s.values) == 1) for s in self.stages)


@dataclass(eq=False, slots=True)
class LogRange(Node):
    """A range aggregation over log lines: the leaf of every LogQL metric query."""

    function: str
    query: LogQuery
    range_ms: int
    offset_ms: int = 0
    param: float | None = None  # quantile_over_time's φ
    unwrap: Unwrap | None = None
    grouping: tuple[str, ...] | None = None  # by/without on the range aggregation itself
    without: bool = False


@dataclass(frozen=True, slots=True)
class MetricQuery:
    root: Node
    ranges: list[LogRange] = field(default_factory=list)


Parsed = LogQuery | MetricQuery


def duration_ms(text: str) -> int | None:
    ms = prometheus_duration_ms(text)
    if ms is not None:
        return ms
    nanos = go_duration_ns(text)
    return None if nanos is None else nanos // 1_000_000


def bytes_value(text: str) -> float | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)", text.strip())
    if match is None:
        return None
    unit = match.group(2).lower() or "b"
    if unit in ("k", "m", "g", "t", "p"):
        unit += "b"
    factor = _BYTES.get(unit if unit.endswith("b") else unit + "b")
    return None if factor is None else float(match.group(1)) * factor


def unquote(raw: str) -> str:
    if raw.startswith("`"):
        return raw[1:-1]
    out: list[str] = []
    i, body = 0, raw[1:-1]
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f"}
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in escapes:
                out.append(escapes[nxt])
                i += 2
                continue
            if nxt in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
                i += 2 + width
                continue
            out.append("\\" + nxt)  # kept as written, so regexes such as "\." still work
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)
