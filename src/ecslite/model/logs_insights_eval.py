"""Running a parsed Logs Insights query over log events.

Events are fed newest first (Insights' default order). Commands up to the first ``stats``, ``sort``,
``dedup`` or ``limit`` run per event as it arrives; events that get through them are the query's
matched records. A ``stats`` aggregates them as they come, so a big scan keeps one accumulator per
group rather than every record; anything else after that runs on the collected rows.

Each record is a dict of fields: ``@timestamp``, ``@message``, ``@logStream``, ``@log``,
``@ingestionTime``, ``@ptr`` and, for messages that are JSON, every scalar in them under its
dotted path (``user.id``, ``tags.0``). Result rows list their fields in display order and leave
out fields without a value; rows of non-aggregated queries end with ``@ptr``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ecslite.model.logs_insights import (
    Binary,
    Call,
    Command,
    Dedup,
    Display,
    Duration,
    Expr,
    Field,
    Fields,
    Filter,
    InList,
    Limit,
    Literal,
    MalformedQuery,
    Parse,
    Query,
    Regex,
    Sort,
    Stats,
    Unary,
)
from ecslite.model.logs_insights_values import (
    AGGREGATE_ARITY,
    FUNCTIONS,
    SPECIAL_FUNCTIONS,
    Accumulator,
    Instant,
    arithmetic,
    ceil_time,
    compare,
    floor_time,
    to_number,
    to_text,
    truthy,
)

DEFAULT_LIMIT = 10_000
MAX_DISCOVERED_FIELDS = 200  # Insights discovers at most 200 fields per JSON event
BUILT_INS = ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime")

Record = dict[str, Any]
Row = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class InsightsEvent:
    timestamp: int
    ingestion_time: int
    message: str
    log_stream: str
    log: str  # "<account id>:<log group name>", as Insights shows @log
    ptr: str


@dataclass(slots=True)
class QueryResult:
    rows: list[Row] = field(default_factory=list)
    records_matched: int = 0
    records_scanned: int = 0
    bytes_scanned: int = 0


# -- checking a query before it runs ------------------------------------------------------------------


def check_query(query: Query) -> None:
    """Reject unknown functions, wrong argument counts and misplaced aggregates (MalformedQuery)."""
    for command in query.commands:
        for expr, in_stats in _expressions(command):
            _check_expr(expr, in_stats, inside_aggregate=False)


def _expressions(command: Command) -> list[tuple[Expr, bool]]:
    if isinstance(command, Fields):
        return [(item.expr, False) for item in command.items]
    if isinstance(command, Filter):
        return [(command.condition, False)]
    if isinstance(command, Parse):
        return [(command.source, False)]
    if isinstance(command, Stats):
        return [(item.expr, True) for item in command.aggregates] + [(item.expr, False) for item in command.groups]
    if isinstance(command, Sort):
        return [(key.expr, False) for key in command.keys]
    return []


def _check_expr(expr: Expr, in_stats: bool, inside_aggregate: bool) -> None:
    if isinstance(expr, Call):
        name = expr.name
        if name in AGGREGATE_ARITY:
            if not in_stats or inside_aggregate:
                raise MalformedQuery(f"Aggregate function {name}() can only be used in stats.")
            low, high = AGGREGATE_ARITY[name]
            inside_aggregate = True
        elif name in SPECIAL_FUNCTIONS:
            low, high = SPECIAL_FUNCTIONS[name]
        elif name in FUNCTIONS:
            low, high_or_none = FUNCTIONS[name][1], FUNCTIONS[name][2]
            high = high_or_none if high_or_none is not None else 1 << 16
        else:
            raise MalformedQuery(f"Unknown function: {name}")
        if not expr.star and not low <= len(expr.args) <= high:
            raise MalformedQuery(f"Function {name}() takes {_arity(low, high)}, got {len(expr.args)}.")
        if name in ("bin",) and not isinstance(expr.args[0], Duration):
            raise MalformedQuery("bin() takes a time period such as 5m.")
        if name in ("datefloor", "dateceil") and not isinstance(expr.args[1], Duration):
            raise MalformedQuery(f"{name}() takes a time period such as 1h as its second argument.")
        for arg in expr.args:
            _check_expr(arg, in_stats, inside_aggregate)
    elif isinstance(expr, Unary):
        _check_expr(expr.operand, in_stats, inside_aggregate)
    elif isinstance(expr, Binary):
        _check_expr(expr.left, in_stats, inside_aggregate)
        _check_expr(expr.right, in_stats, inside_aggregate)
    elif isinstance(expr, InList):
        for item in (expr.needle, *expr.items):
            _check_expr(item, in_stats, inside_aggregate)


def _arity(low: int, high: int) -> str:
    if low == high:
        return f"{low} argument{'s' if low != 1 else ''}"
    if high >= 1 << 16:
        return f"at least {low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"


# -- records ------------------------------------------------------------------------------------------


def make_record(event: InsightsEvent) -> Record:
    record: Record = {
        "@timestamp": Instant(event.timestamp),
        "@message": event.message,
        "@logStream": event.log_stream,
        "@log": event.log,
        "@ingestionTime": Instant(event.ingestion_time),
    }
    text = event.message.lstrip()
    if text[:1] == "{":
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict):
            _flatten(doc, "", record, [0])
    record["@ptr"] = event.ptr
    return record


def _flatten(node: Any, prefix: str, out: Record, count: list[int]) -> None:
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        if count[0] >= MAX_DISCOVERED_FIELDS:
            return
        name = f"{prefix}{key}"
        if isinstance(value, dict | list):
            _flatten(value, name + ".", out, count)
        elif value is not None and name not in out:
            out[name] = value
            count[0] += 1


# -- expressions --------------------------------------------------------------------------------------


def evaluate(expr: Expr, record: Record) -> Any:
    if isinstance(expr, Field):
        return record.get(expr.name)
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Binary):
        return _binary(expr, record)
    if isinstance(expr, Call):
        return _call(expr, record)
    if isinstance(expr, Unary):
        value = evaluate(expr.operand, record)
        if expr.op == "not":
            return not truthy(value)
        number = to_number(value)
        return None if number is None else -number
    if isinstance(expr, InList):
        needle = evaluate(expr.needle, record)
        found = needle is not None and any(compare("=", needle, evaluate(i, record)) for i in expr.items)
        return found != expr.negate
    if isinstance(expr, Regex):
        return expr.pattern.pattern
    return f"{expr.count}{expr.unit}"


def _binary(expr: Binary, record: Record) -> Any:
    op = expr.op
    if op == "and":
        return truthy(evaluate(expr.left, record)) and truthy(evaluate(expr.right, record))
    if op == "or":
        return truthy(evaluate(expr.left, record)) or truthy(evaluate(expr.right, record))
    left = evaluate(expr.left, record)
    if op in ("like", "not like", "=~"):
        if left is None:
            return False
        text = to_text(left)
        if isinstance(expr.right, Regex):
            found = expr.right.pattern.search(text) is not None
        else:
            needle = evaluate(expr.right, record)
            found = needle is not None and to_text(needle) in text
        return found != (op == "not like")
    right = evaluate(expr.right, record)
    if op in ("=", "!=", "<", "<=", ">", ">="):
        return compare(op, left, right)
    return arithmetic(op, left, right)


def _call(expr: Call, record: Record) -> Any:
    name = expr.name
    if name in ("ispresent", "isempty", "isblank"):
        value = evaluate(expr.args[0], record)
        if name == "ispresent":
            return value is not None
        text = None if value is None else to_text(value)
        return text is None or (text.strip() == "" if name == "isblank" else text == "")
    if name == "bin":
        period = expr.args[0]
        assert isinstance(period, Duration)
        stamp = record.get("@timestamp")
        return Instant(floor_time(stamp.ms, period.count, period.unit)) if isinstance(stamp, Instant) else None
    if name in ("datefloor", "dateceil"):
        value, period = evaluate(expr.args[0], record), expr.args[1]
        assert isinstance(period, Duration)
        ms = to_number(value)
        if ms is None:
            return None
        rounder = floor_time if name == "datefloor" else ceil_time
        return Instant(rounder(int(ms), period.count, period.unit))
    function = FUNCTIONS[name][0]
    return function(*(evaluate(arg, record) for arg in expr.args))


# -- running ------------------------------------------------------------------------------------------


def _is_blocking(command: Command) -> bool:
    return isinstance(command, Stats | Sort | Dedup | Limit)


class _Aggregation:
    """One ``stats`` command fed record by record."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.calls: list[Call] = []
        for item in stats.aggregates:
            _collect_aggregates(item.expr, self.calls)
        self.groups: dict[tuple[Any, ...], list[Accumulator]] = {}

    def add(self, record: Record) -> None:
        key = tuple(evaluate(group.expr, record) for group in self.stats.groups)
        accumulators = self.groups.get(key)
        if accumulators is None:
            accumulators = self.groups[key] = [self._accumulator(call) for call in self.calls]
        stamp = record.get("@timestamp")
        ms = stamp.ms if isinstance(stamp, Instant) else 0
        for call, accumulator in zip(self.calls, accumulators, strict=True):
            value = None if call.star or not call.args else evaluate(call.args[0], record)
            accumulator.add(value, ms)

    @staticmethod
    def _accumulator(call: Call) -> Accumulator:
        parameter = None
        if call.name == "pct":
            parameter = to_number(evaluate(call.args[1], {}))
        return Accumulator(call.name, call.star or not call.args, None if parameter is None else float(parameter))

    def rows(self) -> list[Record]:
        binned = [i for i, g in enumerate(self.stats.groups) if isinstance(g.expr, Call) and g.expr.name == "bin"]
        keys = list(self.groups)
        if binned:
            # Time series come newest first, like the raw events.
            keys.sort(key=lambda k: tuple(k[i].ms if isinstance(k[i], Instant) else -1 for i in binned), reverse=True)
        out = []
        for key in keys:
            results = {id(call): acc.result() for call, acc in zip(self.calls, self.groups[key], strict=True)}
            row: Record = {group.name: value for group, value in zip(self.stats.groups, key, strict=True)}
            for item in self.stats.aggregates:
                row[item.name] = _finish(item.expr, results, row)
            out.append(row)
        return out


def _collect_aggregates(expr: Expr, out: list[Call]) -> None:
    if isinstance(expr, Call) and expr.name in AGGREGATE_ARITY:
        out.append(expr)
    elif isinstance(expr, Call):
        for arg in expr.args:
            _collect_aggregates(arg, out)
    elif isinstance(expr, Unary):
        _collect_aggregates(expr.operand, out)
    elif isinstance(expr, Binary):
        _collect_aggregates(expr.left, out)
        _collect_aggregates(expr.right, out)


def _finish(expr: Expr, results: dict[int, Any], row: Record) -> Any:
    """An aggregate item's value: aggregate calls replaced by their results, the rest evaluated."""
    if isinstance(expr, Call) and expr.name in AGGREGATE_ARITY:
        return results[id(expr)]
    if isinstance(expr, Call):
        substituted = Call(expr.name, tuple(Literal(_finish(a, results, row)) for a in expr.args), expr.star)
        return _call(substituted, row)
    if isinstance(expr, Unary):
        return evaluate(Unary(expr.op, Literal(_finish(expr.operand, results, row))), row)
    if isinstance(expr, Binary):
        left, right = Literal(_finish(expr.left, results, row)), Literal(_finish(expr.right, results, row))
        return evaluate(Binary(expr.op, left, right), row)
    return evaluate(expr, row)


class QueryRun:
    """Feed events (newest first) with :meth:`feed`, then take :meth:`result`."""

    def __init__(self, query: Query, limit: int | None = None) -> None:
        self.query = query
        self.limit = limit or DEFAULT_LIMIT
        commands = list(query.commands)
        split = next((i for i, c in enumerate(commands) if _is_blocking(c)), len(commands))
        self.prefix = commands[:split]
        self.tail = commands[split:]
        self.aggregation = _Aggregation(self.tail[0]) if self.tail and isinstance(self.tail[0], Stats) else None
        if self.aggregation is not None:
            self.tail = self.tail[1:]
        # Without anything order-dependent after the per-event commands, only the first rows count.
        self.keep = None if any(isinstance(c, Sort | Dedup | Stats) for c in self.tail) else self._first_limit()
        self.records: list[Record] = []
        self.result_stats = QueryResult()

    def _first_limit(self) -> int:
        limits = [c.count for c in self.tail if isinstance(c, Limit)]
        return min([self.limit, *limits])

    def feed(self, events: Iterable[InsightsEvent]) -> None:
        stats = self.result_stats
        for event in events:
            stats.records_scanned += 1
            stats.bytes_scanned += len(event.message.encode("utf-8"))
            record = make_record(event)
            if not self._through_prefix(record):
                continue
            stats.records_matched += 1
            if self.aggregation is not None:
                self.aggregation.add(record)
            elif self.keep is None or len(self.records) < self.keep:
                self.records.append(record)

    def _through_prefix(self, record: Record) -> bool:
        for command in self.prefix:
            if isinstance(command, Filter):
                if not truthy(evaluate(command.condition, record)):
                    return False
            elif isinstance(command, Fields | Parse):
                _apply_per_record(command, record)
        return True

    def result(self) -> QueryResult:
        records = self.aggregation.rows() if self.aggregation is not None else self.records
        for command in self.tail:
            records = _apply_blocking(command, records)
        records = records[: self.limit]
        columns, with_ptr = self._columns()
        rows = []
        for record in records:
            names = columns if columns is not None else [n for n in record if n != "@ptr"]
            row = [(name, to_text(record[name])) for name in names if record.get(name) is not None]
            if with_ptr and record.get("@ptr") is not None:
                row.append(("@ptr", str(record["@ptr"])))
            rows.append(row)
        self.result_stats.rows = rows
        return self.result_stats

    def _columns(self) -> tuple[list[str] | None, bool]:
        """The fields rows show (None: all of a record's fields) and whether ``@ptr`` ends them."""
        columns: list[str] | None = None
        aggregated = False
        for command in self.query.commands:
            if isinstance(command, Display):
                columns = list(command.names)
            elif isinstance(command, Stats):
                columns = [item.name for item in (*command.groups, *command.aggregates)]
                aggregated = True
            elif isinstance(command, Fields):
                names = [item.name for item in command.items]
                columns = (columns or []) + [n for n in names if n not in (columns or [])]
        return columns, not aggregated


def _apply_parse(command: Parse, record: Record) -> None:
    source = evaluate(command.source, record)
    if source is None:
        return
    found = command.pattern.search(to_text(source))
    if found is None:
        return
    for index, name in enumerate(command.names, start=1):
        value = found.group(name) if name in command.pattern.groupindex else found.group(index)
        if value is not None:
            record[name] = value


def _apply_blocking(command: Command, records: list[Record]) -> list[Record]:
    if isinstance(command, Limit):
        return records[: command.count]
    if isinstance(command, Sort):
        for key in reversed(command.keys):
            present = [r for r in records if evaluate(key.expr, r) is not None]
            missing = [r for r in records if evaluate(key.expr, r) is None]
            present.sort(key=_sort_key(key.expr), reverse=key.descending)
            records = present + missing
        return records
    if isinstance(command, Dedup):
        seen: set[tuple[str, ...]] = set()
        kept = []
        for record in records:
            marker = tuple(to_text(record.get(name)) for name in command.names)
            if marker not in seen:
                seen.add(marker)
                kept.append(record)
        return kept
    if isinstance(command, Stats):
        aggregation = _Aggregation(command)
        for record in records:
            aggregation.add(record)
        return aggregation.rows()
    kept_records = []
    for record in records:
        if isinstance(command, Filter) and not truthy(evaluate(command.condition, record)):
            continue
        if isinstance(command, Fields | Parse):
            record = dict(record)
            _apply_per_record(command, record)
        kept_records.append(record)
    return kept_records


def _apply_per_record(command: Fields | Parse, record: Record) -> None:
    if isinstance(command, Parse):
        _apply_parse(command, record)
        return
    for item in command.items:
        value = evaluate(item.expr, record)
        if value is None:
            record.pop(item.name, None)
        else:
            record[item.name] = value


def _sort_key(expr: Expr) -> Callable[[Record], tuple[int, Any]]:
    def key(record: Record) -> tuple[int, Any]:
        value = evaluate(expr, record)
        number = to_number(value) if not isinstance(value, str) or to_number(value) is not None else None
        if number is not None:
            return (0, number)
        return (1, to_text(value))

    return key


def run_query(query: Query, events: Iterable[InsightsEvent], limit: int | None = None) -> QueryResult:
    """The whole query over ``events`` (newest first) in one call: for tests and small inputs."""
    runner = QueryRun(query, limit)
    runner.feed(events)
    return runner.result()
