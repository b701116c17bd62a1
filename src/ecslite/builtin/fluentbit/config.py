"""Fluent Bit configuration files, classic and YAML, as Fluent Bit 4.1 reads them (spec/telemetry.md
§5, §6.5; ecs.md §10.3).

Classic format: sections ``[SERVICE]``, ``[INPUT]``, ``[FILTER]``, ``[OUTPUT]``, ``[PARSER]``,
``[MULTILINE_PARSER]``, ``[PLUGINS]``, ``[UPSTREAM]``/``[NODE]``; one ``Key Value`` per line (key up
to the first white space, value the rest, trimmed); ``#`` comments; ``@INCLUDE path`` (relative
to the including file, glob patterns allowed) and ``@SET KEY=VALUE``. YAML format (``.yaml`` /
``.yml``): ``env``, ``includes``, ``service``, ``parsers``, ``pipeline: {inputs, filters,
outputs}``; a list value stands for a repeated key.

``${VAR}`` is replaced by a ``@SET``/``env`` variable, else the process environment, else the empty
string (Fluent Bit's behaviour for an unset variable; ecslite also warns, §6.5 row 5). Keys are
case-insensitive (kept lower-case); repeated keys (``Add``, ``Record``, ``Regex``, ``Add_label``)
keep every value in order.

Paths: a built-in image runs on the host's filesystem, so an absolute path is looked up first
under the image's root (``ECSLITE_IMAGE_ROOT``, the image map directory that stands for the image),
then as it is.

Problems never raise past :func:`load`: a file that cannot be read or parsed raises
:class:`ConfigError` with the file and line, everything softer is a warning in
:attr:`Config.warnings`.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SECTIONS = ("service", "input", "filter", "output", "parser", "multiline_parser", "plugins", "upstream", "node")
IMAGE_ROOT_VARIABLE = "ECSLITE_IMAGE_ROOT"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_INCLUDE_DEPTH = 16


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and line."""


@dataclass(slots=True)
class Section:
    """One section: its kind (``input``, ``filter``, ...) and its properties in file order."""

    kind: str
    properties: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""  # file:line, for messages

    @property
    def name(self) -> str:
        return (self.get("name") or "").strip().lower()

    def get(self, key: str, default: str | None = None) -> str | None:
        key = key.lower()
        for name, value in reversed(self.properties):
            if name == key:
                return value
        return default

    def get_all(self, key: str) -> list[str]:
        key = key.lower()
        return [value for name, value in self.properties if name == key]

    def has(self, key: str) -> bool:
        return any(name == key.lower() for name, _ in self.properties)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.get(key)
        return default if value is None else parse_bool(value, default)

    def number(self, key: str, default: float) -> float:
        value = self.get(key)
        if value is None or not value.strip():
            return default
        try:
            return float(value)
        except ValueError:
            return default

    def size(self, key: str, default: int) -> int:
        value = self.get(key)
        return default if value is None else parse_size(value, default)


@dataclass(slots=True)
class Config:
    services: list[Section] = field(default_factory=list)
    inputs: list[Section] = field(default_factory=list)
    filters: list[Section] = field(default_factory=list)
    outputs: list[Section] = field(default_factory=list)
    parsers: list[Section] = field(default_factory=list)
    other: list[Section] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # every file read, in order
    warnings: list[str] = field(default_factory=list)

    @property
    def service(self) -> Section:
        """Every ``[SERVICE]`` section's properties together (a later value wins)."""
        merged = Section("service", source=self.services[0].source if self.services else "")
        for section in self.services:
            merged.properties.extend(section.properties)
        return merged

    def add(self, section: Section) -> None:
        if section.kind == "service":
            self.services.append(section)
        elif section.kind == "input":
            self.inputs.append(section)
        elif section.kind == "filter":
            self.filters.append(section)
        elif section.kind == "output":
            self.outputs.append(section)
        elif section.kind in ("parser", "multiline_parser"):
            self.parsers.append(section)
        else:
            self.other.append(section)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


def parse_bool(value: str, default: bool = False) -> bool:
    text = value.strip().lower()
    if text in ("on", "true", "yes", "1"):
        return True
    if text in ("off", "false", "no", "0"):
        return False
    return default


def parse_size(value: str, default: int) -> int:
    """Fluent Bit unit sizes: ``1M``, ``6M``, ``512k``, ``32KB``, plain bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]?)[bB]?\s*", value)
    if match is None:
        return default
    factor = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]
    return int(float(match.group(1)) * factor)


def image_path(path: str, base: Path | None = None) -> Path:
    """Where a path of the image is on this machine (see the module docstring)."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return (base or Path.cwd()) / candidate
    root = os.environ.get(IMAGE_ROOT_VARIABLE)
    if root:
        under = Path(root) / candidate.relative_to("/")
        if under.exists():
            return under
    return candidate


class _Loader:
    def __init__(self, environment: Mapping[str, str]) -> None:
        self.environment = environment
        self.config = Config()
        self._unset: set[str] = set()

    def expand(self, text: str, where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in self.config.variables:
                return self.config.variables[name]
            if name in self.environment:
                return self.environment[name]
            if name not in self._unset:
                self._unset.add(name)
                self.config.warn(
                    f"{where}: ${{{name}}} is not set in the environment, so it expands to an empty string; "
                    f"set {name} in the container's environment"
                )
            return ""

        return _VARIABLE.sub(replace, text)

    # -- classic ---------------------------------------------------------------------------------

    def classic(self, path: Path, text: str, depth: int) -> None:
        section: Section | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            where = f"{path}:{number}"
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                directive, _, rest = line.partition(" ")
                directive = directive.upper()
                if directive == "@INCLUDE":
                    self.include(path.parent, self.expand(rest.strip(), where), depth, where)
                elif directive == "@SET":
                    name, equals, value = rest.strip().partition("=")
                    if not equals or not name.strip():
                        raise ConfigError(f"{where}: @SET needs KEY=VALUE, got {rest.strip()!r}")
                    self.config.variables[name.strip()] = self.expand(value.strip(), where)
                else:
                    raise ConfigError(f"{where}: unknown directive {directive}")
                continue
            if line.startswith("["):
                if not line.endswith("]"):
                    raise ConfigError(f"{where}: a section header must end with ']': {line!r}")
                kind = line[1:-1].strip().lower()
                if kind not in SECTIONS:
                    raise ConfigError(f"{where}: unknown section [{line[1:-1].strip()}]")
                section = Section(kind, source=where)
                self.config.add(section)
                continue
            if section is None:
                raise ConfigError(f"{where}: a property outside any section: {line!r}")
            parts = line.split(None, 1)
            key, value = parts[0], parts[1] if len(parts) > 1 else ""
            if not value.strip():
                raise ConfigError(f"{where}: the property {key!r} has no value")
            section.properties.append((key.strip().lower(), self.expand(value.strip(), where).strip()))

    def include(self, base: Path, pattern: str, depth: int, where: str) -> None:
        if depth >= MAX_INCLUDE_DEPTH:
            raise ConfigError(f"{where}: @INCLUDE nested deeper than {MAX_INCLUDE_DEPTH} levels")
        target = image_path(pattern, base)
        if any(ch in pattern for ch in "*?["):
            matches = sorted(glob.glob(str(target)))
            if not matches:
                self.config.warn(f"{where}: @INCLUDE {pattern} matches no file")
            for found in matches:
                self.load_file(Path(found), depth + 1)
            return
        if not target.exists():
            raise ConfigError(f"{where}: @INCLUDE {pattern}: no such file ({target})")
        self.load_file(target, depth + 1)

    # -- YAML ------------------------------------------------------------------------------------

    def yaml(self, path: Path, text: str, depth: int) -> None:
        try:
            # Every scalar stays a string (``on``, ``1``, ``null``), as Fluent Bit's libyaml reader keeps them.
            document = yaml.load(text, Loader=yaml.BaseLoader) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        if not isinstance(document, dict):
            raise ConfigError(f"{path}: a YAML configuration is a mapping (service, pipeline, ...)")
        for name, value in (document.get("env") or {}).items():
            self.config.variables[str(name)] = self.expand(_scalar(value), f"{path}: env")
        for include in document.get("includes") or ():
            self.include(path.parent, self.expand(str(include), f"{path}: includes"), depth, f"{path}: includes")
        service = document.get("service")
        if isinstance(service, dict):
            self.config.add(self._yaml_section("service", service, f"{path}: service"))
        for parser in document.get("parsers") or ():
            if isinstance(parser, dict):
                self.config.add(self._yaml_section("parser", parser, f"{path}: parsers"))
        for parser in document.get("multiline_parsers") or ():
            if isinstance(parser, dict):
                self.config.add(self._yaml_section("multiline_parser", parser, f"{path}: multiline_parsers"))
        pipeline = document.get("pipeline") or {}
        if not isinstance(pipeline, dict):
            raise ConfigError(f"{path}: pipeline must be a mapping of inputs, filters and outputs")
        for plural, kind in (("inputs", "input"), ("filters", "filter"), ("outputs", "output")):
            items = pipeline.get(plural) or []
            if not isinstance(items, list):
                raise ConfigError(f"{path}: pipeline.{plural} must be a list")
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    raise ConfigError(f"{path}: pipeline.{plural}[{index}] must be a mapping with a name")
                self.config.add(self._yaml_section(kind, item, f"{path}: pipeline.{plural}[{index}]"))
        known = {"env", "includes", "service", "parsers", "multiline_parsers", "pipeline", "plugins", "customs"}
        for key in document:
            if key not in known:
                self.config.warn(f"{path}: section {key!r} is not used by ecslite's Fluent Bit")

    def _yaml_section(self, kind: str, items: Mapping[str, Any], where: str) -> Section:
        section = Section(kind, source=where)
        for key, value in items.items():
            if key == "processors":
                self.config.warn(f"{where}: processors are not run by ecslite's Fluent Bit (the data passes unchanged)")
                continue
            values = value if isinstance(value, list) else [value]
            for item in values:
                section.properties.append((str(key).lower(), self.expand(_scalar(item), where)))
        return section

    # -- files -----------------------------------------------------------------------------------

    def load_file(self, path: Path, depth: int = 0) -> None:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
        self.config.files.append(str(path))
        if path.suffix.lower() in (".yaml", ".yml"):
            self.yaml(path, text, depth)
        else:
            self.classic(path, text, depth)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        import json

        return json.dumps(value)
    return str(value)


def load(path: Path, environment: Mapping[str, str] | None = None) -> Config:
    """Read a configuration file and everything it includes."""
    loader = _Loader(os.environ if environment is None else environment)
    loader.load_file(path)
    return loader.config


def loads(
    text: str, *, name: str = "fluent-bit.conf", base: Path | None = None, environment: Mapping[str, str] | None = None
) -> Config:
    """Parse configuration text (``name``'s suffix picks the format); includes resolve from ``base``."""
    loader = _Loader(os.environ if environment is None else environment)
    path = (base or Path.cwd()) / name
    loader.config.files.append(f"<{name}>")
    if path.suffix.lower() in (".yaml", ".yml"):
        loader.yaml(path, text, 0)
    else:
        loader.classic(path, text, 0)
    return loader.config


def iter_sections(config: Config) -> Iterator[Section]:
    yield config.service
    yield from config.inputs
    yield from config.filters
    yield from config.outputs
