"""Running a LogQL pipeline over one log line (spec/telemetry.md §7.2 items 2–5), as Loki does:

- line filters test the current line (``|=``/``!=`` substrings, ``|~``/``!~`` unanchored regexes);
- ``json`` flattens nested keys with ``_`` (arrays skipped), ``logfmt`` reads ``k=v`` pairs,
  ``regexp``/``pattern`` take named captures, ``unpack`` lifts a packed JSON line; a parser that
  fails adds ``__error__`` (``JSONParserErr``, ``LogfmtParserErr``) and ``__error_details__`` and
  keeps the line; an extracted name that clashes with a stream label gets ``_extracted``;
- label filters compare strings, numbers, durations and byte sizes; as in Loki, a numeric filter
  lets a line that already carries ``__error__`` through, drops a line without the label, and
  keeps a line whose value does not convert, marked ``__error__="LabelFilterErr"``;
- ``line_format``/``label_format`` templates support field access (``{{.name}}``, ``{{ .name }}``,
  ``{{__line__}}``, ``{{__timestamp__}}``); anything else in a template is refused at parse time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import orjson

from ecslite.telemetry.query.logql_ast import (
    BoolExpr,
    Comparison,
    Decolorize,
    DropKeep,
    LabelExpr,
    LabelFilter,
    LabelFormat,
    LineFilter,
    LineFormat,
    LogQLError,
    LogQuery,
    Parser,
    Stage,
    Unwrap,
    bytes_value,
)
from ecslite.telemetry.query.params import go_duration_ns

ERROR = "__error__"
ERROR_DETAILS = "__error_details__"
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TEMPLATE_FIELD = re.compile(r"\{\{-?\s*(\.[A-Za-z_][A-Za-z0-9_]*|__line__|__timestamp__)\s*-?\}\}")
_LOGFMT = re.compile(r'\s*([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|[^\s]*))?')


class Entry:
    """One line moving through the pipeline: its text, labels (stream, structured metadata and
    extracted), and the unwrapped value when the query has ``| unwrap``."""

    __slots__ = ("labels", "line", "stream_names", "ts", "value")

    def __init__(self, ts: int, line: str, labels: dict[str, str], stream_names: frozenset[str]) -> None:
        self.ts = ts
        self.line = line
        self.labels = labels
        self.stream_names = stream_names
        self.value: float | None = None


class Pipeline:
    def __init__(self, query: LogQuery) -> None:
        self.stages = query.stages
        for stage in self.stages:
            if isinstance(stage, LineFormat):
                _check_template(stage.template)
            if isinstance(stage, LabelFormat):
                for _dst, source, is_template in stage.items:
                    if is_template:
                        _check_template(source)

    def run(self, entry: Entry) -> Entry | None:
        for stage in self.stages:
            if not _apply(stage, entry):
                return None
        return entry


def _apply(stage: Stage, entry: Entry) -> bool:
    if isinstance(stage, LineFilter):
        return _line_filter(stage, entry.line)
    if isinstance(stage, Parser):
        _parse(stage, entry)
        return True
    if isinstance(stage, LabelFilter):
        return _label_filter(stage.expr, entry)
    if isinstance(stage, LineFormat):
        entry.line = render(stage.template, entry)
        return True
    if isinstance(stage, LabelFormat):
        updates = {
            dst: render(src, entry) if is_template else entry.labels.get(src, "")
            for dst, src, is_template in stage.items
        }
        for dst, src, is_template in stage.items:
            if not is_template and src != dst:
                entry.labels.pop(src, None)
        for dst, value in updates.items():
            _set(entry.labels, dst, value)
        return True
    if isinstance(stage, DropKeep):
        _drop_keep(stage, entry)
        return True
    if isinstance(stage, Decolorize):
        entry.line = _ANSI.sub("", entry.line)
        return True
    if isinstance(stage, Unwrap):
        _unwrap(stage, entry)
        return True
    raise LogQLError(f"unsupported pipeline stage {type(stage).__name__}")


def _line_filter(stage: LineFilter, line: str) -> bool:
    if stage.op == "|=":
        return any(value in line for value in stage.values)
    if stage.op == "!=":
        return all(value not in line for value in stage.values)
    found = any(pattern.search(line) is not None for pattern in stage.patterns)
    return found if stage.op == "|~" else not found


# -- parsers ---------------------------------------------------------------------------------------


def _parse(stage: Parser, entry: Entry) -> None:
    if stage.kind == "json":
        _json(stage, entry)
    elif stage.kind == "logfmt":
        _logfmt(stage, entry)
    elif stage.kind == "unpack":
        _unpack(entry)
    else:
        assert stage.pattern is not None
        match = stage.pattern.fullmatch(entry.line) if stage.kind == "pattern" else stage.pattern.search(entry.line)
        if match is not None:
            for name, value in match.groupdict().items():
                if value is not None:
                    _extract(entry, name, value)


def _json(stage: Parser, entry: Entry) -> None:
    try:
        document = orjson.loads(entry.line)
    except orjson.JSONDecodeError as error:
        _error(entry, "JSONParserErr", f"Value looks like object, but can't find closing '}}' symbol: {error}")
        return
    if not isinstance(document, dict):
        _error(entry, "JSONParserErr", "Value is not an object")
        return
    if stage.params:
        for label, expression in stage.params:
            value = _json_path(document, expression)
            if value is not None:
                _extract(entry, label, value)
        return
    for name, value in _flatten(document, ""):
        _extract(entry, name, value)


def _flatten(document: dict[str, object], prefix: str) -> Iterable[tuple[str, str]]:
    for key, value in document.items():
        name = f"{prefix}_{key}" if prefix else key
        if isinstance(value, dict):
            yield from _flatten(value, name)
        elif isinstance(value, list):
            continue  # Loki skips arrays
        else:
            yield name, _scalar_text(value)


def _scalar_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def _json_path(document: object, expression: str) -> str | None:
    """``a.b[0]["c d"]`` paths of ``| json label="..."``."""
    current: object = document
    for part in re.findall(r'\[\s*"([^"]*)"\s*\]|\[(\d+)\]|([^.\[\]]+)', expression):
        key, index, name = part
        if index:
            if not isinstance(current, list) or int(index) >= len(current):
                return None
            current = current[int(index)]
        else:
            if not isinstance(current, dict):
                return None
            current = current.get(key or name)
        if current is None:
            return None
    if isinstance(current, dict | list):
        return orjson.dumps(current).decode()
    return _scalar_text(current)


def _logfmt(stage: Parser, entry: Entry) -> None:
    pairs: dict[str, str] = {}
    line = entry.line
    position = 0
    while position < len(line):
        match = _LOGFMT.match(line, position)
        if match is None or match.end() == position:
            break
        key, raw = match.group(1), match.group(2)
        position = match.end()
        if raw is None:
            value = ""  # a bare key: Loki extracts an empty value, so no label
        elif raw.startswith('"'):
            if len(raw) < 2 or not raw.endswith('"'):
                _error(entry, "LogfmtParserErr", f"logfmt syntax error at pos {position}: unterminated quoted value")
                return
            value = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        else:
            value = raw
        if '"' in key:
            _error(entry, "LogfmtParserErr", f"logfmt syntax error at pos {match.start(1) + 1}: unexpected '\"'")
            return
        pairs[key] = value
    if stage.params:
        for label, source in stage.params:
            if source in pairs:
                _extract(entry, label, pairs[source])
        return
    for key, value in pairs.items():
        _extract(entry, key, value)


def _unpack(entry: Entry) -> None:
    try:
        document = orjson.loads(entry.line)
    except orjson.JSONDecodeError as error:
        _error(entry, "JSONParserErr", str(error))
        return
    if not isinstance(document, dict):
        _error(entry, "JSONParserErr", "Value is not an object")
        return
    for key, value in document.items():
        if key == "_entry":
            entry.line = str(value)
        elif isinstance(value, str):
            _extract(entry, key, value)


def _extract(entry: Entry, name: str, value: str) -> None:
    name = _INVALID_LABEL.sub("_", name)
    if not name or name[0].isdigit():
        name = "_" + name
    if name in entry.stream_names:
        name += "_extracted"
    _set(entry.labels, name, value)


def _set(labels: dict[str, str], name: str, value: str) -> None:
    if value == "":
        labels.pop(name, None)
    else:
        labels[name] = value


def _error(entry: Entry, kind: str, details: str) -> None:
    if ERROR not in entry.labels:
        entry.labels[ERROR] = kind
        entry.labels[ERROR_DETAILS] = details


# -- label filters ---------------------------------------------------------------------------------


def _label_filter(expr: LabelExpr, entry: Entry) -> bool:
    if isinstance(expr, BoolExpr):
        if expr.op == "and":
            return _label_filter(expr.lhs, entry) and _label_filter(expr.rhs, entry)
        return _label_filter(expr.lhs, entry) or _label_filter(expr.rhs, entry)
    value = entry.labels.get(expr.name, "")
    if expr.kind == "string":
        if expr.op == "=":
            return value == expr.value
        if expr.op == "!=":
            return value != expr.value
        assert expr.pattern is not None
        found = expr.pattern.fullmatch(value) is not None
        return found if expr.op == "=~" else not found
    # Loki: a line that already failed passes (only string matchers on __error__ can drop it), a
    # missing label fails, a value that does not convert passes with __error__="LabelFilterErr".
    if ERROR in entry.labels:
        return True
    if expr.name not in entry.labels:
        return False
    number = _convert(value, expr.kind)
    if number is None:
        _error(entry, "LabelFilterErr", f"cannot convert {value!r} to {expr.kind}")
        return True
    return _compare(expr, number)


def _convert(value: str, kind: str) -> float | None:
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return None
    if kind == "duration":
        nanos = go_duration_ns(value)
        return None if nanos is None else nanos / 1e9
    return bytes_value(value)


def _compare(expr: Comparison, number: float) -> bool:
    target = float(expr.value)
    if expr.op in ("=", "=="):
        return number == target
    if expr.op == "!=":
        return number != target
    if expr.op == ">":
        return number > target
    if expr.op == ">=":
        return number >= target
    if expr.op == "<":
        return number < target
    return number <= target


def _drop_keep(stage: DropKeep, entry: Entry) -> None:
    def selected(name: str) -> bool:
        if name in stage.names:
            return True
        return any(m.name == name and m.matches(entry.labels.get(name, "")) for m in stage.matchers)

    for name in list(entry.labels):
        if selected(name) != stage.keep:
            del entry.labels[name]


def _unwrap(stage: Unwrap, entry: Entry) -> None:
    raw = entry.labels.get(stage.label, "")
    value: float | None
    if stage.conversion in ("duration", "duration_seconds"):
        nanos = go_duration_ns(raw)
        value = None if nanos is None else nanos / 1e9
    elif stage.conversion == "bytes":
        value = bytes_value(raw)
    else:
        try:
            value = float(raw)
        except ValueError:
            value = None
    if value is None or math.isnan(value):
        _error(entry, "SampleExtractionErr", f"cannot unwrap {raw!r} of label {stage.label}")
        return
    entry.value = value


# -- templates -------------------------------------------------------------------------------------


def _check_template(template: str) -> None:
    rest = _TEMPLATE_FIELD.sub("", template)
    if "{{" in rest or "}}" in rest:
        raise LogQLError(
            f"parse error : unsupported template {template!r}: ecslite supports field access only "
            "({{.label}}, {{__line__}}, {{__timestamp__}})"
        )


def render(template: str, entry: Entry) -> str:
    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "__line__":
            return entry.line
        if name == "__timestamp__":
            from datetime import UTC, datetime

            moment = datetime.fromtimestamp(entry.ts / 1e9, UTC)
            return moment.isoformat().replace("+00:00", "Z")
        return entry.labels.get(name[1:], "")

    return _TEMPLATE_FIELD.sub(field, template)
