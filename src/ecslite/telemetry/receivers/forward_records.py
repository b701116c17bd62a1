"""Forward (and FireLens) records as telemetry log records (spec/telemetry.md §2.3, §4.7).

One record becomes one :class:`~ecslite.telemetry.log_records.LogRecord`:

- ``body``: the record's ``log`` (a FireLens/Docker line) without its trailing newline; a record
  without ``log`` is kept whole as its JSON text (what Fluent Bit's JSON line format would send).
- time: the entry's time (EventTime or seconds); observed time: when it was received.
- detail: the attributes only (the body is the record's ``body``, model.LogDetail).
- attributes: every other key of the record (``source``, ``container_id``, ``container_name``,
  ``ecs_*``, ...), plus ``log.iostream`` from ``source`` and ``fluent.tag``.
- severity and trace context (§2.3): a JSON line lifts ``level``/``severity``/``levelname`` and
  ``trace_id``/``traceId``/``otelTraceID``, ``span_id``/``spanId``/``otelSpanID``; a text line takes
  the first ``trace_id=…``, ``"traceId": "…"``, ``otelTraceID=…`` or X-Ray ``1-…-…`` match, likewise
  span ids, and the first level word in its first 64 characters. A structured record's own
  ``level``/``severity`` keys count too.

Resources (§2.1): the owning task is the listener's, else the one a FireLens record names in
``ecs_task_arn``; the container is the one the record's ``container_name`` names, and the resource's
``service.name`` is that container's ``OTEL_SERVICE_NAME``, else its name, so stdout lines and the
container's OTLP telemetry share a service. Records from no task get ``service.name`` = the first
component of the tag. Resources are enriched here (:func:`~ecslite.telemetry.enrich.enrich`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import msgpack
import orjson

from ecslite.telemetry.attributes import DETAIL_MSGPACK
from ecslite.telemetry.enrich import TaskOwner, TaskOwners, enrich
from ecslite.telemetry.log_records import LogBatch, LogDetail, LogRecord, encode_log_detail
from ecslite.telemetry.model import Resource, Scope

if TYPE_CHECKING:
    from ecslite.telemetry.receivers.forward import ForwardMessage

SCOPE = Scope("ecslite.forward")
SEVERITIES = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "NOTICE": 10,
    "WARN": 13,
    "WARNING": 13,
    "ERROR": 17,
    "FATAL": 21,
    "CRITICAL": 21,
}
LEVEL_KEYS = ("level", "severity", "levelname")
TRACE_KEYS = ("trace_id", "traceId", "otelTraceID")
SPAN_KEYS = ("span_id", "spanId", "otelSpanID")
# Without a leading \b the search can skip ahead by first letter (three times faster); the
# boundary before a match is checked by hand (_level).
_LEVEL_WORD = re.compile(r"(TRACE|DEBUG|INFO|WARNING|WARN|ERROR|FATAL|CRITICAL)\b")
_TEXT_TRACE = (
    re.compile(r"trace_id=([0-9a-f]{32})"),
    re.compile(r'"trace_?[iI][dD]"\s*:\s*"([0-9a-fA-F]{32})"'),
    re.compile(r"otelTraceID=([0-9a-f]{32})"),
)
_XRAY_TRACE = re.compile(r"1-([0-9a-f]{8})-([0-9a-f]{24})")
_TEXT_SPAN = (
    re.compile(r"span_id=([0-9a-f]{16})"),
    re.compile(r'"span_?[iI][dD]"\s*:\s*"([0-9a-fA-F]{16})"'),
    re.compile(r"otelSpanID=([0-9a-f]{16})"),
)
_DETAIL_PREFIX = bytes([DETAIL_MSGPACK])


def clean(value: str) -> str:
    """A string safe to store: undecodable bytes kept by the decoder as surrogates become U+FFFD."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _value(value: Any) -> Any:
    """A record value as an attribute value (bytes from Docker's driver become text)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_key(k): _value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return clean(key)
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    return str(key)


def _hex_id(value: Any, length: int) -> bytes:
    if type(value) is not str or len(value) != length * 2:
        return b""
    try:
        found = bytes.fromhex(value)
    except ValueError:
        return b""
    # fromhex skips whitespace between bytes: only 2 × length hex digits give length bytes.
    return found if len(found) == length else b""


def _severity(text: Any) -> tuple[int, str]:
    if not isinstance(text, str) or not text:
        return 0, ""
    number = SEVERITIES.get(text.upper())
    return (number, text) if number is not None else (0, text)


def scan_line(line: str) -> tuple[int, str, bytes, bytes]:
    """Severity number and text, trace id and span id found in a log line (§2.3)."""
    if line.startswith("{"):
        found = _scan_json(line)
        if found is not None:
            return found
    severity, severity_text = 0, ""
    trace_id = span_id = b""
    word = _LEVEL_WORD.search(line, 0, 64)
    if word is not None:
        at = word.start()
        # Most level words stand alone: the loop in _level only for one glued to what precedes it.
        level = word.group(1) if at == 0 or not _is_word(line[at - 1]) else _level(line, at + 1)
        if level is not None:
            severity_text = level
            severity = SEVERITIES[level]
    # The patterns in §2.3's order, behind substring tests: most lines carry no trace context, and
    # every trace pattern holds "race" (trace_id=, "traceId", otelTraceID=).
    match = None
    if "race" in line:
        if "trace_id=" in line:
            match = _TEXT_TRACE[0].search(line)
        if match is None and '"' in line:
            match = _TEXT_TRACE[1].search(line)
        if match is None and "otelTraceID=" in line:
            match = _TEXT_TRACE[2].search(line)
    if match is not None:
        trace_id = bytes.fromhex(match.group(1))
    elif "1-" in line:
        xray = _XRAY_TRACE.search(line)
        if xray is not None:
            trace_id = bytes.fromhex(xray.group(1) + xray.group(2))
    if "pan" in line:
        for pattern in _TEXT_SPAN:
            found_span = pattern.search(line)
            if found_span is not None:
                span_id = bytes.fromhex(found_span.group(1))
                break
    return severity, severity_text, trace_id, span_id


def _is_word(character: str) -> bool:
    return character.isalnum() or character == "_"


def _level(line: str, start: int = 0) -> str | None:
    """The first level word standing alone in the first 64 characters (``\\b…\\b``) from ``start``."""
    while True:
        found = _LEVEL_WORD.search(line, start, 64)
        if found is None:
            return None
        at = found.start()
        if not at or not _is_word(line[at - 1]):
            return found.group(1)
        start = at + 1


def _scan_json(line: str) -> tuple[int, str, bytes, bytes] | None:
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(parsed) is not dict:
        return None
    severity, severity_text = 0, ""
    trace_id = span_id = b""
    for key in LEVEL_KEYS:
        if key in parsed:
            text = parsed[key]
            if type(text) is str and text:
                severity, severity_text = SEVERITIES.get(text.upper(), 0), text
            break
    for key in TRACE_KEYS:
        if key in parsed:
            trace_id = _hex_id(parsed[key], 16)
            break
    for key in SPAN_KEYS:
        if key in parsed:
            span_id = _hex_id(parsed[key], 8)
            break
    return severity, severity_text, trace_id, span_id


_local = threading.local()


def _packer() -> msgpack.Packer:
    """This thread's packer (a reused one packs a quarter faster than ``msgpack.packb``)."""
    packer: msgpack.Packer | None = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(use_bin_type=True)
    return packer


_SIMPLE_VALUES = frozenset({str, int, float, bool, type(None)})
_STR = frozenset({str})
_new_record = tuple.__new__


def to_log_record(time_ns: int, record: dict[Any, Any], tag: str, observed_ns: int) -> LogRecord:
    """One Forward entry as a log record (see the module docstring)."""
    line = record.get("log")
    # The common record (a text line, flat text keys and values, valid UTF-8) takes the fast path;
    # msgpack's own encoding check stands in for cleaning each string.
    if (
        type(line) is str
        and _STR.issuperset(map(type, record))
        and _SIMPLE_VALUES.issuperset(map(type, record.values()))
    ):
        attributes = dict(record)
        del attributes["log"]
        body = line[:-1] if line.endswith("\n") else line
        if body.endswith("\r"):
            body = body[:-1]
        try:
            return _record(time_ns, observed_ns, body, attributes, tag, False)
        except UnicodeEncodeError:
            pass  # a string with undecodable bytes: cleaned below
    return _general_record(time_ns, record, tag, observed_ns)


def _general_record(time_ns: int, record: dict[Any, Any], tag: str, observed_ns: int) -> LogRecord:
    attributes: dict[str, Any] = {}
    line: str | None = None
    nested = False
    for key, value in record.items():
        name = key if type(key) is str and key.isascii() else _key(key)
        kind = type(value)
        if kind is str:
            if not value.isascii():
                value = clean(value)
        elif kind is bytes:
            value = value.decode("utf-8", "replace")
        elif kind is dict or kind is list:
            nested = True
            value = _value(value)
        elif not (kind is int or kind is float or kind is bool or value is None):
            value = _value(value)
        if name == "log" and line is None and type(value) is str:
            line = value
            continue
        attributes[name] = value
    if line is None:
        body = orjson.dumps(attributes, default=str).decode()
    else:
        body = line[:-1] if line.endswith("\n") else line
        if body.endswith("\r"):
            body = body[:-1]
    return _record(time_ns, observed_ns, body, attributes, tag, nested)


def _record(time_ns: int, observed_ns: int, body: str, attributes: dict[str, Any], tag: str, nested: bool) -> LogRecord:
    severity, severity_text, trace_id, span_id = scan_line(body)
    if not severity_text:
        for key in LEVEL_KEYS:
            if key in attributes:
                severity, severity_text = _severity(attributes[key])
                break
    stream = _finish_attributes(attributes, tag)
    if not body.isascii():
        body.encode()  # UnicodeEncodeError for undecodable bytes: the caller cleans them
    # The detail holds no body: the record's text body is the whole of it (model.LogDetail).
    if nested:
        detail = encode_log_detail(LogDetail(attributes))
    else:
        detail = _DETAIL_PREFIX + _packer().pack([attributes, None, 0])
    return _new_record(
        LogRecord, (time_ns, observed_ns, severity, severity_text, body, trace_id, span_id, 0, stream, detail, "")
    )


def container_name(record: dict[Any, Any]) -> str | None:
    """The container a FireLens/Docker record names (Docker's ``/name`` form loses its slash)."""
    value = record.get("container_name")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or not value:
        return None
    return value[1:] if value.startswith("/") else value


class _Detail:
    """What every record with one tag and one set of attributes (all but ``log``) shares: the
    detail blob, the stream, and the severity its attributes give a line that names none."""

    __slots__ = ("blob", "severity", "stream")

    def __init__(self, blob: bytes, stream: str, severity: tuple[int, str]) -> None:
        self.blob, self.stream, self.severity = blob, stream, severity


class _Shape:
    """Records of one tag with one key order (text keys, ``log`` among them): ``values`` picks every
    value but the line's, the key of :attr:`details`."""

    __slots__ = ("details", "names", "values")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.values = itemgetter(*names)
        self.details: dict[Any, _Detail] = {}


MAX_SHAPES = 1024  # tags × key orders remembered; past it the cache starts again
MAX_DETAILS = 16_384  # attribute sets remembered in all (a few MiB); past it likewise


def _new_detail(shape: _Shape, values: Any, tag: str) -> _Detail | None:
    """The shared detail of records whose attributes are ``values`` (one value if the shape has one
    name), or None unless every value is a clean text (the cache key must tell values apart
    exactly: ``1 == True == 1.0``, so only strings are cached)."""
    if len(shape.names) == 1:
        values = (values,)
    if not _STR.issuperset(map(type, values)) or any(clean(v) is not v for v in values):
        return None
    attributes: dict[str, Any] = dict(zip(shape.names, values, strict=True))
    severity: tuple[int, str] = (0, "")
    for key in LEVEL_KEYS:
        if key in attributes:
            severity = _severity(attributes[key])
            break
    stream = _finish_attributes(attributes, tag)
    return _Detail(_DETAIL_PREFIX + _packer().pack([attributes, None, 0]), stream, severity)


def _finish_attributes(attributes: dict[str, Any], tag: str) -> str:
    """Add ``log.iostream`` and ``fluent.tag`` (§2.3); the record's stream label."""
    source = attributes.get("source")
    stream = "forward"
    if source == "stdout" or source == "stderr":
        attributes["log.iostream"] = stream = str(source)
    attributes["fluent.tag"] = tag
    return stream


class RecordConverter:
    """Builds enriched log batches from Forward messages; one per (task, service) group.

    FireLens records of one container carry the same attributes and differ in their line (and
    ``source``): the detail blob, stream and attribute severity of each (tag, key order, values)
    are built once and shared (:class:`_Shape`, :class:`_Detail`), so a record costs its line's
    scan and a few lookups. Anything else (non-text values, nested maps, bytes, undecodable
    text) takes :func:`to_log_record`; both give the same record.
    """

    def __init__(self, owners: TaskOwners | None) -> None:
        self.owners = owners
        self._resources: dict[tuple[str | None, str], tuple[TaskOwner | None, Resource]] = {}
        self._shapes: dict[tuple[str, tuple[Any, ...]], _Shape | None] = {}
        self._details = 0  # how many the shapes hold

    def _owner(self, listener_owner: TaskOwner | None, record: dict[Any, Any]) -> TaskOwner | None:
        if listener_owner is not None:
            return listener_owner
        arn = record.get("ecs_task_arn")
        if self.owners is None or not isinstance(arn, str):
            return None
        return self.owners.get(arn)

    def _service(self, owner: TaskOwner | None, record: dict[Any, Any], tag: str) -> str:
        name = container_name(record)
        if owner is not None:
            for container in owner.containers:
                if name is not None and (container.name == name or name.endswith(f"-{container.name}")):
                    return container.otel_service_name or container.name
                if name is None and container.container_id and record.get("container_id") == container.container_id:
                    return container.otel_service_name or container.name
        if name is not None:
            return name
        return tag.split(".", 1)[0] or tag

    def resource(self, owner: TaskOwner | None, service: str) -> Resource:
        key = (owner.task_arn if owner is not None else None, service)
        found = self._resources.get(key)
        # A task's owner record is replaced when the task changes (container ids appear): rebuild then.
        if found is not None and found[0] is owner:
            return found[1]
        resource = enrich(Resource({"service.name": service}), owner)
        if len(self._resources) > 4096:
            self._resources.clear()
        self._resources[key] = (owner, resource)
        return resource

    def _shape(self, tag: str, keys: tuple[Any, ...]) -> _Shape | None:
        if (tag, keys) in self._shapes:
            return self._shapes[(tag, keys)]
        shape = None
        if "log" in keys and len(keys) > 1 and _STR.issuperset(map(type, keys)) and all(clean(k) is k for k in keys):
            shape = _Shape(tuple(k for k in keys if k != "log"))
        if len(self._shapes) >= MAX_SHAPES:
            self._forget()
        self._shapes[(tag, keys)] = shape
        return shape

    def batches(
        self, messages: Sequence[ForwardMessage], listener_owner: TaskOwner | None, now_ns: int
    ) -> list[LogBatch]:
        groups: dict[tuple[str | None, str], list[LogRecord]] = {}
        owners: dict[tuple[str | None, str], TaskOwner | None] = {}
        # Within one call the task, service and so the group of a record follow from its detail
        # (tag, task ARN, container name and id are among what it is built from).
        grouped: dict[_Detail, list[LogRecord]] = {}
        for message in messages:
            if message.signal != 0:
                continue
            tag = clean(message.tag)
            shapes: dict[tuple[Any, ...], _Shape | None] = {}
            for time_ns, record in message.entries:
                keys = tuple(record)
                try:
                    shape = shapes[keys]
                except KeyError:
                    shape = shapes[keys] = self._shape(tag, keys)
                line = record.get("log")
                if shape is None or type(line) is not str:
                    self._group(groups, owners, listener_owner, record, tag).append(
                        to_log_record(time_ns, record, tag, now_ns)
                    )
                    continue
                try:
                    values = shape.values(record)
                    detail = shape.details.get(values)
                except TypeError:  # an unhashable value
                    detail, values = None, None
                if detail is None:
                    detail = _new_detail(shape, values, tag) if values is not None else None
                    if detail is None:
                        self._group(groups, owners, listener_owner, record, tag).append(
                            to_log_record(time_ns, record, tag, now_ns)
                        )
                        continue
                    if self._details >= MAX_DETAILS:
                        self._forget()  # the shapes of this call stay usable: they are only emptied
                    shape.details[values] = detail
                    self._details += 1
                group = grouped.get(detail)
                if group is None:
                    group = grouped[detail] = self._group(groups, owners, listener_owner, record, tag)
                body = line[:-1] if line.endswith("\n") else line
                if body.endswith("\r"):
                    body = body[:-1]
                if not body.isascii() and clean(body) is not body:
                    group.append(to_log_record(time_ns, record, tag, now_ns))
                    continue
                severity, severity_text, trace_id, span_id = scan_line(body)
                if not severity_text:
                    severity, severity_text = detail.severity
                group.append(
                    _new_record(
                        LogRecord,
                        (
                            time_ns,
                            now_ns,
                            severity,
                            severity_text,
                            body,
                            trace_id,
                            span_id,
                            0,
                            detail.stream,
                            detail.blob,
                            "",
                        ),
                    )
                )
        return [LogBatch(self.resource(owners[key], key[1]), SCOPE, records) for key, records in groups.items()]

    def _forget(self) -> None:
        for shape in self._shapes.values():
            if shape is not None:
                shape.details.clear()
        self._shapes.clear()
        self._details = 0

    def _group(
        self,
        groups: dict[tuple[str | None, str], list[LogRecord]],
        owners: dict[tuple[str | None, str], TaskOwner | None],
        listener_owner: TaskOwner | None,
        record: dict[Any, Any],
        tag: str,
    ) -> list[LogRecord]:
        owner = self._owner(listener_owner, record)
        service = self._service(owner, record, tag)
        key = (owner.task_arn if owner is not None else None, service)
        group = groups.get(key)
        if group is None:
            group = groups[key] = []
            owners[key] = owner
        return group
