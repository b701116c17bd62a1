"""Filters of ecslite's Fluent Bit: ``modify``, ``record_modifier``, ``grep``, ``nest`` and ``aws``
(spec/telemetry.md §6.5; Fluent Bit 4.1 option names).

- ``modify``: ``Set``, ``Add`` (only when missing), ``Remove``, ``Remove_wildcard``,
  ``Remove_regex``, ``Rename``/``Hard_rename``, ``Copy``/``Hard_copy``, in file order, with the
  ``Condition`` forms ``Key_exists``, ``Key_does_not_exist``, ``Key_value_equals``,
  ``Key_value_does_not_equal``, ``Key_value_matches``, ``Key_value_does_not_match``,
  ``Matching_keys_have_matching_values``, ``A_key_matches``, ``No_key_matches`` (all must hold).
- ``record_modifier``: ``Record KEY VALUE`` (set), ``Remove_key``, ``Allowlist_key`` (alias
  ``Whitelist_key``).
- ``grep``: ``Regex KEY REGEX`` / ``Exclude KEY REGEX`` (``$key['sub']`` record accessors), ``Logical_Op``
  ``legacy`` (every Regex must match, any Exclude drops), ``and``, ``or``.
- ``nest``: ``Operation nest|lift``, ``Wildcard``, ``Nest_under``, ``Nested_under``, ``Add_prefix``,
  ``Remove_prefix``.
- ``aws``: needs EC2 instance metadata (IMDS), which Fargate has not: on Fargate the filter adds
  nothing and says so once (§6.5 row 6). On EC2 it adds what the task's placement tells:
  ``az`` and ``ec2_instance_id`` (on by default), ``private_ip``, ``hostname``, ``account_id``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ecslite.builtin.fluentbit.config import Section, parse_bool
from ecslite.builtin.fluentbit.engine import Engine, Filter

Records = list[tuple[int, dict[str, Any]]]


def _pair(value: str) -> tuple[str, str]:
    key, _, rest = value.strip().partition(" ")
    return key, rest.strip()


_ACCESSOR = re.compile(r"\$?([^\[]+)((?:\[['\"]?[^\]'\"]+['\"]?\])*)")
_SUBKEY = re.compile(r"\[['\"]?([^\]'\"]+)['\"]?\]")


def accessor(path: str) -> Callable[[dict[str, Any]], Any]:
    """A record accessor: ``key``, ``$key``, ``$key['sub']['subsub']``."""
    match = _ACCESSOR.fullmatch(path.strip())
    if match is None:
        return lambda record: None
    keys = [match.group(1), *_SUBKEY.findall(match.group(2) or "")]

    def get(record: dict[str, Any]) -> Any:
        value: Any = record
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    return get


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Modify(Filter):
    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.rules: list[tuple[str, str, str]] = []
        self.conditions: list[tuple[str, list[str]]] = []
        for key, value in section.properties:
            if key == "condition":
                op, _, rest = value.strip().partition(" ")
                self.conditions.append((op.lower(), rest.split(None, 1) if rest else []))
            elif key in ("set", "add", "rename", "hard_rename", "copy", "hard_copy"):
                first, second = _pair(value)
                self.rules.append((key, first, second))
            elif key in ("remove", "remove_wildcard", "remove_regex"):
                self.rules.append((key, value.strip(), ""))
            elif key not in ("name", "match", "match_regex", "alias", "log_level"):
                self.warn(f"unknown modify option {key!r} is ignored")

    def _holds(self, record: dict[str, Any]) -> bool:
        for op, args in self.conditions:
            key = args[0] if args else ""
            value = args[1] if len(args) > 1 else ""
            if op == "key_exists" and key not in record:
                return False
            if op == "key_does_not_exist" and key in record:
                return False
            if op == "key_value_equals" and (key not in record or _text(record[key]) != value):
                return False
            if op == "key_value_does_not_equal" and key in record and _text(record[key]) == value:
                return False
            if op == "key_value_matches" and (key not in record or not re.search(value, _text(record[key]))):
                return False
            if op == "key_value_does_not_match" and key in record and re.search(value, _text(record[key])):
                return False
            if op == "a_key_matches" and not any(re.search(key, k) for k in record):
                return False
            if op == "no_key_matches" and any(re.search(key, k) for k in record):
                return False
            if op == "matching_keys_have_matching_values":
                keys = [k for k in record if re.search(key, k)]
                if not keys or not all(re.search(value, _text(record[k])) for k in keys):
                    return False
        return True

    def apply(self, tag: str, records: Records) -> Records:
        for _, record in records:
            if self.conditions and not self._holds(record):
                continue
            for op, first, second in self.rules:
                if op == "set":
                    record[first] = second
                elif op == "add":
                    record.setdefault(first, second)
                elif op == "remove":
                    record.pop(first, None)
                elif op == "remove_wildcard":
                    prefix = first.rstrip("*")
                    for key in [k for k in record if k.startswith(prefix)]:
                        del record[key]
                elif op == "remove_regex":
                    for key in [k for k in record if re.search(first, k)]:
                        del record[key]
                elif op in ("rename", "hard_rename"):
                    if first in record and (op == "hard_rename" or second not in record):
                        record[second] = record.pop(first)
                elif op in ("copy", "hard_copy") and first in record and (op == "hard_copy" or second not in record):
                    record[second] = record[first]
        return records


class RecordModifier(Filter):
    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.records_to_set = [_pair(v) for v in section.get_all("record")]
        self.remove = [v.strip() for v in section.get_all("remove_key")]
        self.allow = [v.strip() for v in section.get_all("allowlist_key") + section.get_all("whitelist_key")]

    def apply(self, tag: str, records: Records) -> Records:
        for _, record in records:
            if self.allow:
                for key in [k for k in record if k not in self.allow]:
                    del record[key]
            for key in self.remove:
                record.pop(key, None)
            for key, value in self.records_to_set:
                record[key] = value
        return records


class Grep(Filter):
    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.rules: list[tuple[bool, Callable[[dict[str, Any]], Any], re.Pattern[str]]] = []
        for key, value in section.properties:
            if key in ("regex", "exclude"):
                field, pattern = _pair(value)
                try:
                    self.rules.append((key == "regex", accessor(field), re.compile(pattern)))
                except re.error as error:
                    self.warn(f"{key} {value!r} is not a valid regular expression ({error}); the rule is ignored")
        self.logical = (section.get("logical_op") or "legacy").strip().lower()

    def _keep(self, record: dict[str, Any]) -> bool:
        results = []
        for include, get, pattern in self.rules:
            value = get(record)
            hit = value is not None and pattern.search(_text(value)) is not None
            if self.logical == "legacy":
                if include and not hit:
                    return False
                if not include and hit:
                    return False
            else:
                results.append(hit if include else not hit)
        if self.logical == "and":
            return all(results)
        if self.logical == "or":
            return any(results) if results else True
        return True

    def apply(self, tag: str, records: Records) -> Records:
        return [(ts, record) for ts, record in records if self._keep(record)]


class Nest(Filter):
    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.operation = (section.get("operation") or "").strip().lower()
        self.wildcards = [w.strip() for w in section.get_all("wildcard")]
        self.nest_under = section.get("nest_under")
        self.nested_under = section.get("nested_under")
        self.add_prefix = section.get("add_prefix") or ""
        self.remove_prefix = section.get("remove_prefix") or ""
        if self.operation not in ("nest", "lift"):
            self.warn(f"Operation must be nest or lift, got {self.operation!r}; the filter passes records unchanged")

    def _wanted(self, key: str) -> bool:
        return any(re.fullmatch(re.escape(w).replace(r"\*", ".*"), key) for w in self.wildcards)

    def _renamed(self, key: str) -> str:
        if self.remove_prefix and key.startswith(self.remove_prefix):
            key = key[len(self.remove_prefix) :]
        return self.add_prefix + key

    def apply(self, tag: str, records: Records) -> Records:
        for _, record in records:
            if self.operation == "nest" and self.nest_under:
                moved = {self._renamed(k): record.pop(k) for k in [k for k in record if self._wanted(k)]}
                if moved:
                    record[self.nest_under] = moved
            elif self.operation == "lift" and self.nested_under:
                inner = record.get(self.nested_under)
                if isinstance(inner, dict):
                    del record[self.nested_under]
                    for key, value in inner.items():
                        record[self._renamed(str(key))] = value
        return records


class Aws(Filter):
    """See the module docstring: no EC2 metadata on Fargate, the task's placement on EC2."""

    DEFAULTS = {"az": True, "ec2_instance_id": True, "private_ip": False, "hostname": False, "account_id": False}

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        task: dict[str, Any] = getattr(engine, "task_context", None) or {}
        self.values: dict[str, str] = {}
        if task.get("launchType") != "EC2":
            self.warn(
                "the aws filter reads EC2 instance metadata (IMDS), which Fargate tasks do not have; "
                "it adds nothing here, as on Fargate (records pass unchanged)"
            )
            return
        known = {
            "az": task.get("availabilityZone"),
            "ec2_instance_id": task.get("ec2InstanceId"),
            "private_ip": task.get("privateIpv4"),
            "hostname": task.get("hostName"),
            "account_id": task.get("account"),
        }
        for key, default in self.DEFAULTS.items():
            wanted = parse_bool(section.get(key) or "", default)
            if wanted and known.get(key):
                self.values[key] = str(known[key])

    def apply(self, tag: str, records: Records) -> Records:
        if self.values:
            for _, record in records:
                record.update(self.values)
        return records


FILTERS = {
    "modify": Modify,
    "record_modifier": RecordModifier,
    "grep": Grep,
    "nest": Nest,
    "aws": Aws,
}
