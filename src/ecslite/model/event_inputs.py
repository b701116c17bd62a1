"""What an EventBridge rule hands a target: the matched event, or what ``Input``, ``InputPath`` or
``InputTransformer`` make of it (EventBridge API reference, ``Target`` and ``InputTransformer``).

- no input setting: the event's JSON;
- ``Input``: that text, unchanged;
- ``InputPath``: the JSON of the part of the event the path selects;
- ``InputTransformer``: ``InputTemplate`` with each ``<name>`` replaced by the value
  ``InputPathsMap[name]`` selects, or one of the predefined ``aws.events.*`` variables. Inside a JSON
  string of the template a value goes in as its text (a string without its quotes), elsewhere as
  JSON; a name the map does not define stays as written.

Paths are the JSON dot notation EventBridge takes: ``$``, ``$.detail.lastStatus``,
``$.detail.containers[0].exitCode``; a member name may hold ``-`` (``$.detail-type``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ecslite.model.log_filters_fields import MISSING as _MISSING
from ecslite.model.log_filters_fields import Selector

_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


class InputError(ValueError):
    """A target input setting ecslite cannot apply; the text says which and why."""


def parse_path(path: str) -> list[str | int]:
    """The steps of a JSON path (member names and array indexes)."""
    if not path.startswith("$"):
        raise InputError(f"{path!r} is not a JSON path: it must start with '$'.")
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None:
            raise InputError(f"{path!r} is not a JSON path in dot notation.")
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    return steps


def select(document: Any, path: str) -> Any:
    """The value ``path`` selects in ``document``; :data:`_MISSING` when nothing is there."""
    return Selector(tuple(parse_path(path))).resolve(document)


def is_missing(value: Any) -> bool:
    return value is _MISSING


@dataclass(frozen=True, slots=True)
class RuleRef:
    """The rule an event matched, for the ``aws.events.rule-*`` variables."""

    name: str
    arn: str


def check_target_input(target: Mapping[str, Any]) -> None:
    """Refuse a target whose input settings cannot be applied (texts are ecslite's, unverified)."""
    given = [key for key in ("Input", "InputPath", "InputTransformer") if target.get(key) is not None]
    if len(given) > 1:
        raise InputError("Only one of Input, InputPath, or InputTransformer can be specified.")
    if target.get("Input") is not None:
        try:
            orjson.loads(target["Input"])
        except orjson.JSONDecodeError:
            raise InputError("Input must be valid JSON.") from None
    if target.get("InputPath") is not None:
        parse_path(target["InputPath"])
    transformer = target.get("InputTransformer")
    if transformer is not None:
        for name, path in (transformer.get("InputPathsMap") or {}).items():
            if name.lower().startswith("aws."):
                raise InputError(f"InputPathsMap key {name!r} must not start with 'AWS.'.")
            parse_path(path)


def target_input(target: Mapping[str, Any], event: Mapping[str, Any], rule: RuleRef, ingested_at: float) -> str:
    """The text delivered to ``target`` for ``event``."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath") is not None:
        value = select(event, target["InputPath"])
        return "null" if value is _MISSING else orjson.dumps(value).decode()
    transformer = target.get("InputTransformer")
    if transformer is not None:
        return render_template(
            transformer["InputTemplate"], transformer.get("InputPathsMap") or {}, event, rule, ingested_at
        )
    return orjson.dumps(event).decode()


def render_template(
    template: str, paths: Mapping[str, str], event: Mapping[str, Any], rule: RuleRef, ingested_at: float
) -> str:
    values: dict[str, Any] = {name: select(event, path) for name, path in paths.items()}
    event_json = orjson.dumps(event).decode()
    predefined = {
        "aws.events.rule-arn": rule.arn,
        "aws.events.rule-name": rule.name,
        "aws.events.event.ingestion-time": dt.datetime.fromtimestamp(ingested_at, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    }
    out: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        if char == "\\" and in_string:
            out.append(template[position : position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
        elif char == "<":
            match = _PLACEHOLDER.match(template, position)
            if match is not None:
                name = match.group(1)
                if name in ("aws.events.event", "aws.events.event.json"):
                    # The whole event as JSON; inside a string its quotes are escaped.
                    out.append(_json_escaped(event_json) if in_string else event_json)
                    position = match.end()
                    continue
                if name in values or name in predefined:
                    value = values[name] if name in values else predefined[name]
                    out.append(_inside_string(value) if in_string else _as_json(value))
                    position = match.end()
                    continue
        out.append(char)
        position += 1
    return "".join(out)


def _as_json(value: Any) -> str:
    # A path that selects nothing becomes null (unverified: EventBridge's handling of absent paths).
    return "null" if value is _MISSING else orjson.dumps(value).decode()


def _inside_string(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return _json_escaped(text)


def _json_escaped(text: str) -> str:
    return orjson.dumps(text).decode()[1:-1]


def log_record(delivered: str, event: Mapping[str, Any], now_ms: int) -> tuple[int, str]:
    """(timestamp ms, message) of the CloudWatch Logs event a Logs target writes.

    An input of the form ``{"timestamp": ..., "message": ...}`` (what the CDK's LogGroupTargetInput
    produces) sets both; any other input is the message, stamped with the event's ``time``.
    """
    stamp = _epoch_ms(event.get("time"), now_ms)
    try:
        data = orjson.loads(delivered)
    except orjson.JSONDecodeError:
        return stamp, delivered
    if isinstance(data, dict) and set(data) == {"timestamp", "message"}:
        message = data["message"] if isinstance(data["message"], str) else orjson.dumps(data["message"]).decode()
        return _epoch_ms(data["timestamp"], stamp), message
    return stamp, delivered


def _epoch_ms(value: Any, default: int) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            pass
    return default
