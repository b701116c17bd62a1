"""EventBridge's event pattern language, the subset ecslite serves: value arrays, ``prefix``,
``anything-but`` (a value, an array of values or ``{"prefix": ...}``) and ``exists``, nested objects,
and arrays of objects in the event matched element by element.

:func:`parse_pattern` checks a pattern's JSON text as EventBridge would (and refuses matchers outside
the subset); :func:`matches` tells whether an event satisfies it. Both the event feed
(``providers.events_feed``) and EventBridge rules (``providers.events``, ``control.event_rules``)
use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

MATCHERS = ("prefix", "anything-but", "exists")
_MISSING = object()


class PatternError(ValueError):
    """An event pattern that cannot be used; the text is the reason."""


def parse_pattern(text: str) -> dict[str, Any]:
    """A validated event pattern from its JSON text."""
    try:
        pattern = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise PatternError(f"The pattern is not JSON: {error}") from None
    if not isinstance(pattern, dict):
        raise PatternError("The pattern must be a JSON object.")
    _check_object(pattern, "")
    return pattern


def _check_object(pattern: Mapping[str, Any], path: str) -> None:
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            if not value:
                raise PatternError(f"Empty objects are not allowed: '{where}'.")
            _check_object(value, where)
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"Empty arrays are not allowed: '{where}'.")
            for item in value:
                _check_matcher(item, where)
        else:
            raise PatternError(
                f"'{where}' must be an object or an array of values, not {orjson.dumps(value).decode()}."
            )


def _check_matcher(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        if isinstance(item, list):
            raise PatternError(f"Arrays inside value arrays are not allowed: '{where}'.")
        return
    if len(item) != 1:
        raise PatternError(f"A matcher object must have exactly one key, at '{where}'.")
    name, value = next(iter(item.items()))
    if name not in MATCHERS:
        raise PatternError(
            f"Unsupported matcher '{name}' at '{where}': "
            "ecslite supports value arrays, prefix, anything-but and exists."
        )
    if name == "prefix" and not isinstance(value, str):
        raise PatternError(f"'prefix' takes a string, at '{where}'.")
    if name == "exists" and not isinstance(value, bool):
        raise PatternError(f"'exists' takes true or false, at '{where}'.")
    if name == "anything-but":
        if isinstance(value, dict):
            if set(value) != {"prefix"} or not isinstance(value["prefix"], str):
                raise PatternError(
                    f"'anything-but' takes a value, an array of values or {{\"prefix\": ...}}, at '{where}'."
                )
        elif isinstance(value, list) and (not value or any(isinstance(v, dict | list) for v in value)):
            raise PatternError(f"'anything-but' takes a non-empty array of plain values, at '{where}'.")


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether ``event`` satisfies every field of ``pattern`` (EventBridge's rules)."""
    for key, wanted in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(wanted, dict):
            if isinstance(value, list):
                # An array of objects: one element must match the whole sub-pattern (so
                # {"containers": {"name": ["app"], "exitCode": [1]}} means app exited 1).
                if not any(matches(wanted, item) for item in value if isinstance(item, Mapping)):
                    return False
            # A missing or scalar object matches only leaves that ask for absence.
            elif not matches(wanted, value if isinstance(value, Mapping) else {}):
                return False
        elif not any(_matcher_matches(item, value) for item in wanted):
            return False
    return True


def _matcher_matches(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, dict) and "exists" in matcher:
        present = value is not _MISSING and not isinstance(value, Mapping)
        return present if matcher["exists"] else value is _MISSING
    if value is _MISSING or isinstance(value, Mapping):
        return False
    # An array in the event matches when any of its elements does.
    values = value if isinstance(value, list) else [value]
    return any(_value_matches(matcher, item) for item in values)


def _value_matches(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        return _same(matcher, value)
    if "prefix" in matcher:
        return isinstance(value, str) and value.startswith(matcher["prefix"])
    excluded = matcher["anything-but"]
    if isinstance(excluded, dict):
        return isinstance(value, str) and not value.startswith(excluded["prefix"])
    if isinstance(excluded, list):
        return not any(_same(item, value) for item in excluded)
    return not _same(excluded, value)


def _same(wanted: Any, value: Any) -> bool:
    """Equality that keeps JSON types apart (``true`` is not ``1``; ``5`` is ``5.0``)."""
    if isinstance(wanted, bool) or isinstance(value, bool):
        return isinstance(wanted, bool) and isinstance(value, bool) and wanted == value
    if isinstance(wanted, int | float) and isinstance(value, int | float):
        return float(wanted) == float(value)
    return type(wanted) is type(value) and bool(wanted == value)
