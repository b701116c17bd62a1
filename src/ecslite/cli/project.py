"""The project file (``ecslite.toml``) of ``ecslite up``: parsed and checked into dataclasses.

Schema: examples/otel-demo/README.md, "The project file". Every problem raises
:class:`ProjectError` with one message naming the file and the key (``services.web.desired_count``)
and what is expected, before anything is deployed: unknown keys, wrong types, files that do not
exist, containers an ``environment`` table names that the task definition lacks, ``after`` cycles,
and ``{address:<service>}`` placeholders whose service is not deployed ``after``.

Pure logic only (no network): :func:`load_project`, :func:`select_services` (profiles and the
``after`` order) and :func:`merged_definition` (the registered revision: the task definition file
with the project's environment merged into its containers and the placeholders filled).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecslite.model.log_groups import RETENTION_DAYS

PROJECT_FILE = "ecslite.toml"
ADDRESS = re.compile(r"\{address:([A-Za-z0-9_-]+)\}")
LAUNCH_TYPES = ("FARGATE", "EC2", "EXTERNAL")
PUBLIC_IP = ("ENABLED", "DISABLED")

_TOP_KEYS = ("project", "cluster", "log_groups", "environments", "router", "cloud_map", "services", "images")
_SERVICE_KEYS = (
    "task_definition",
    "desired_count",
    "launch_type",
    "assign_public_ip",
    "after",
    "registries",
    "profile",
    "deployment",
    "autoscaling",
    "environment",
)


class ProjectError(Exception):
    """The project file cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True, slots=True)
class LogGroup:
    name: str
    retention_days: int | None


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    requirements: Path


@dataclass(frozen=True, slots=True)
class Router:
    image: str
    roots: Mapping[str, str]  # --router-config name -> directory standing for the image's root


@dataclass(frozen=True, slots=True)
class Registry:
    name: str  # the Cloud Map service, <name>.<namespace>
    container_name: str
    container_port: int


@dataclass(frozen=True, slots=True)
class Deployment:
    minimum_healthy_percent: int | None = None
    maximum_percent: int | None = None
    circuit_breaker: tuple[bool, bool] | None = None  # (enable, rollback)

    def configuration(self) -> dict[str, Any]:
        """ECS's ``deploymentConfiguration`` (only what the project sets)."""
        out: dict[str, Any] = {}
        if self.minimum_healthy_percent is not None:
            out["minimumHealthyPercent"] = self.minimum_healthy_percent
        if self.maximum_percent is not None:
            out["maximumPercent"] = self.maximum_percent
        if self.circuit_breaker is not None:
            out["deploymentCircuitBreaker"] = {"enable": self.circuit_breaker[0], "rollback": self.circuit_breaker[1]}
        return out


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    policy_name: str
    policy_type: str
    target_tracking: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Autoscaling:
    min_capacity: int
    max_capacity: int
    policies: tuple[ScalingPolicy, ...]


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    task_definition: Mapping[str, Any]  # the file's JSON, as RegisterTaskDefinition takes it
    task_definition_path: Path
    desired_count: int = 1
    launch_type: str = "FARGATE"
    assign_public_ip: str = "DISABLED"
    after: tuple[str, ...] = ()
    registries: tuple[Registry, ...] = ()
    profile: str | None = None
    deployment: Deployment = field(default_factory=Deployment)
    autoscaling: Autoscaling | None = None
    environment: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # container -> NAME -> value

    @property
    def family(self) -> str:
        return str(self.task_definition["family"])

    def container_names(self) -> list[str]:
        return [str(c.get("name")) for c in self.task_definition.get("containerDefinitions", [])]

    def placeholders(self) -> set[str]:
        """The services named by ``{address:<service>}`` in this service's environment."""
        return {m for values in self.environment.values() for v in values.values() for m in ADDRESS.findall(v)}


@dataclass(frozen=True, slots=True)
class Project:
    directory: Path
    file: Path
    name: str
    region: str
    cluster: str
    cluster_settings: Mapping[str, str]
    log_groups: tuple[LogGroup, ...]
    environments: tuple[Environment, ...]
    router: Router | None
    namespace: str | None
    services: Mapping[str, Service]  # in file order
    images: Mapping[str, Mapping[str, Any]]  # the [images] table as written
    try_commands: tuple[str, ...] = ()

    def profiles(self) -> list[str]:
        return sorted({s.profile for s in self.services.values() if s.profile})


# -- reading -------------------------------------------------------------------------------------------


def load_project(directory: Path) -> Project:
    """The project of ``directory`` (its ``ecslite.toml``), checked; raises :class:`ProjectError`."""
    directory = directory.expanduser().resolve()
    path = directory / PROJECT_FILE if directory.is_dir() else directory
    if path.name != PROJECT_FILE and not path.is_file():
        raise ProjectError(f"{directory} is not a directory with an {PROJECT_FILE}.")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"{directory} has no {PROJECT_FILE} (the project file ecslite up reads).") from None
    except tomllib.TOMLDecodeError as error:
        raise ProjectError(f"{path} is not valid TOML: {error}") from None
    return _Reader(path).project(document)


class _Reader:
    def __init__(self, file: Path) -> None:
        self.file = file
        self.directory = file.parent

    def fail(self, key: str, problem: str) -> ProjectError:
        return ProjectError(f"{self.file}: {key}: {problem}")

    def project(self, doc: Mapping[str, Any]) -> Project:
        self.known(doc, "", _TOP_KEYS)
        project = self.table(doc, "project")
        self.known(project, "project", ("name", "region", "try"))
        cluster = self.table(doc, "cluster")
        self.known(cluster, "cluster", ("name", "settings"))
        cloud_map = self.table(doc, "cloud_map", required=False)
        self.known(cloud_map, "cloud_map", ("namespace",))
        services = self.table(doc, "services")
        if not services:
            raise self.fail("services", "the project deploys no service; add a [services.<name>] table")
        out = Project(
            directory=self.directory,
            file=self.file,
            name=self.string(project, "project.name"),
            region=self.string(project, "project.region", default="us-east-1"),
            cluster=self.string(cluster, "cluster.name"),
            cluster_settings=self.string_map(cluster.get("settings", {}), "cluster.settings"),
            log_groups=tuple(self.log_groups(doc.get("log_groups", []))),
            environments=tuple(self.environments(self.table(doc, "environments", required=False))),
            router=self.router(self.table(doc, "router", required=False)),
            namespace=self.string(cloud_map, "cloud_map.namespace") if cloud_map else None,
            services={name: self.service(str(name), value) for name, value in services.items()},
            images=self.images(doc),
            try_commands=tuple(self.string_list(project.get("try", []), "project.try")),
        )
        self.cross_checks(out)
        return out

    # -- tables --

    def log_groups(self, value: Any) -> list[LogGroup]:
        if not isinstance(value, list):
            raise self.fail("log_groups", "must be an array of tables: [[log_groups]] with name, retention_days")
        out = []
        for index, item in enumerate(value):
            key = f"log_groups[{index}]"
            if not isinstance(item, dict):
                raise self.fail(key, "must be a table with name and retention_days")
            self.known(item, key, ("name", "retention_days"))
            days = item.get("retention_days")
            if days is not None and (isinstance(days, bool) or days not in RETENTION_DAYS):
                allowed = ", ".join(str(d) for d in RETENTION_DAYS)
                raise self.fail(f"{key}.retention_days", f"must be one of {allowed}; got {days!r}")
            out.append(LogGroup(self.string(item, f"{key}.name"), days))
        return out

    def environments(self, table: Mapping[str, Any]) -> list[Environment]:
        out = []
        for name, value in table.items():
            key = f"environments.{name}"
            if not isinstance(value, dict):
                raise self.fail(key, 'must be a table such as { requirements = "requirements.txt" }')
            self.known(value, key, ("requirements",))
            out.append(Environment(str(name), self.existing_file(value, f"{key}.requirements")))
        return out

    def router(self, table: Mapping[str, Any]) -> Router | None:
        if not table:
            return None
        self.known(table, "router", ("image", "roots"))
        roots = self.string_map(table.get("roots", {}), "router.roots")
        for config, directory in roots.items():
            if not (self.directory / directory).is_dir():
                raise self.fail(f"router.roots.{config}", f"{directory!r} is not a directory of {self.directory}")
        return Router(self.string(table, "router.image"), roots)

    def service(self, name: str, value: Any) -> Service:
        key = f"services.{name}"
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table with at least task_definition")
        self.known(value, key, _SERVICE_KEYS)
        td_path = self.existing_file(value, f"{key}.task_definition")
        definition = self.task_definition(td_path, f"{key}.task_definition")
        launch_type = self.string(value, f"{key}.launch_type", default="FARGATE")
        if launch_type not in LAUNCH_TYPES:
            raise self.fail(f"{key}.launch_type", f"must be one of {', '.join(LAUNCH_TYPES)}; got {launch_type!r}")
        public_ip = self.string(value, f"{key}.assign_public_ip", default="DISABLED")
        if public_ip not in PUBLIC_IP:
            raise self.fail(f"{key}.assign_public_ip", f"must be ENABLED or DISABLED; got {public_ip!r}")
        profile = value.get("profile")
        if profile is not None and (not isinstance(profile, str) or not profile):
            raise self.fail(f"{key}.profile", "must be a profile name")
        return Service(
            name=name,
            task_definition=definition,
            task_definition_path=td_path,
            desired_count=self.integer(value, f"{key}.desired_count", default=1, minimum=0),
            launch_type=launch_type,
            assign_public_ip=public_ip,
            after=tuple(self.string_list(value.get("after", []), f"{key}.after")),
            registries=tuple(self.registries(value.get("registries", []), f"{key}.registries")),
            profile=profile,
            deployment=self.deployment(value.get("deployment", {}), f"{key}.deployment"),
            autoscaling=self.autoscaling(value.get("autoscaling"), f"{key}.autoscaling"),
            environment=self.environment(value.get("environment", {}), f"{key}.environment"),
        )

    def task_definition(self, path: Path, key: str) -> dict[str, Any]:
        try:
            definition = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise self.fail(key, f"{path} is not valid JSON: {error}") from None
        if not isinstance(definition, dict) or not isinstance(definition.get("family"), str):
            raise self.fail(key, f"{path} must be a task definition object with a family")
        containers = definition.get("containerDefinitions")
        if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
            raise self.fail(key, f"{path} must have containerDefinitions")
        return definition

    def registries(self, value: Any, key: str) -> list[Registry]:
        if not isinstance(value, list):
            raise self.fail(key, "must be an array of { name, container_name, container_port }")
        out = []
        for index, item in enumerate(value):
            where = f"{key}[{index}]"
            if not isinstance(item, dict):
                raise self.fail(where, "must be a table { name, container_name, container_port }")
            self.known(item, where, ("name", "container_name", "container_port"))
            out.append(
                Registry(
                    self.string(item, f"{where}.name"),
                    self.string(item, f"{where}.container_name"),
                    self.integer(item, f"{where}.container_port", minimum=1),
                )
            )
        return out

    def deployment(self, value: Any, key: str) -> Deployment:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        self.known(value, key, ("minimum_healthy_percent", "maximum_percent", "circuit_breaker"))
        breaker = value.get("circuit_breaker")
        flags: tuple[bool, bool] | None = None
        if breaker is not None:
            if not isinstance(breaker, dict):
                raise self.fail(f"{key}.circuit_breaker", "must be { enable = true, rollback = true }")
            self.known(breaker, f"{key}.circuit_breaker", ("enable", "rollback"))
            flags = (
                self.boolean(breaker, f"{key}.circuit_breaker.enable"),
                self.boolean(breaker, f"{key}.circuit_breaker.rollback"),
            )
        minimum = self.integer(value, f"{key}.minimum_healthy_percent", default=None, minimum=0)
        maximum = self.integer(value, f"{key}.maximum_percent", default=None, minimum=0)
        return Deployment(minimum, maximum, flags)

    def autoscaling(self, value: Any, key: str) -> Autoscaling | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table with min_capacity, max_capacity and [[…policies]]")
        self.known(value, key, ("min_capacity", "max_capacity", "policies"))
        low = self.integer(value, f"{key}.min_capacity", minimum=0)
        high = self.integer(value, f"{key}.max_capacity", minimum=0)
        if high < low:
            raise self.fail(f"{key}.max_capacity", f"must be at least min_capacity ({low}); got {high}")
        policies = value.get("policies", [])
        if not isinstance(policies, list):
            raise self.fail(f"{key}.policies", "must be an array of tables [[…policies]]")
        out = []
        for index, item in enumerate(policies):
            where = f"{key}.policies[{index}]"
            if not isinstance(item, dict):
                raise self.fail(where, "must be a table with policy_name, policy_type, target_tracking")
            self.known(item, where, ("policy_name", "policy_type", "target_tracking"))
            tracking = item.get("target_tracking")
            if not isinstance(tracking, dict):
                raise self.fail(
                    f"{where}.target_tracking", "must be the TargetTrackingScalingPolicyConfiguration table"
                )
            policy_type = self.string(item, f"{where}.policy_type", default="TargetTrackingScaling")
            if policy_type != "TargetTrackingScaling":
                raise self.fail(f"{where}.policy_type", f"only TargetTrackingScaling is supported; got {policy_type!r}")
            out.append(ScalingPolicy(self.string(item, f"{where}.policy_name"), policy_type, tracking))
        return Autoscaling(low, high, tuple(out))

    def environment(self, value: Any, key: str) -> dict[str, dict[str, str]]:
        if not isinstance(value, dict):
            raise self.fail(key, 'must be tables [<key>.<container>] of NAME = "value"')
        return {str(container): self.string_map(values, f"{key}.{container}") for container, values in value.items()}

    def images(self, doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        images = doc.get("images", {})
        if not isinstance(images, dict):
            raise self.fail("images", "must be a table of image names")
        from ecslite.runtime.process.images import ImageMapError, load_image_map

        try:
            load_image_map(self.file)
        except ImageMapError as error:
            raise ProjectError(str(error)) from None
        return {str(name): dict(entry) for name, entry in images.items()}

    # -- checks across tables --

    def cross_checks(self, project: Project) -> None:
        for service in project.services.values():
            key = f"services.{service.name}"
            containers = service.container_names()
            for container in service.environment:
                if container not in containers:
                    raise self.fail(
                        f"{key}.environment.{container}",
                        f"{service.task_definition_path.name} has no container {container!r} "
                        f"(containers: {', '.join(containers)})",
                    )
            for registry in service.registries:
                if registry.container_name not in containers:
                    raise self.fail(
                        f"{key}.registries", f"no container {registry.container_name!r} in {service.family}"
                    )
                if not project.namespace:
                    raise self.fail(f"{key}.registries", "needs a [cloud_map] namespace")
            for other in service.after:
                if other not in project.services:
                    raise self.fail(f"{key}.after", f"names {other!r}, which is not a service of this project")
            for other in sorted(service.placeholders()):
                if other not in service.after:
                    raise self.fail(
                        f"{key}.environment",
                        f'{{address:{other}}} needs {other!r} deployed first: add after = ["{other}"]',
                    )
        if project.router is not None and project.router.image not in project.images:
            raise self.fail("router.image", f"{project.router.image!r} is not a key of [images]")
        _order(list(project.services.values()), lambda svc, problem: self.fail(f"services.{svc}.after", problem))

    # -- scalars --

    def known(self, table: Mapping[str, Any], key: str, allowed: Sequence[str]) -> None:
        for name in table:
            if name not in allowed:
                where = f"{key}.{name}" if key else str(name)
                raise self.fail(where, f"unknown key (known keys: {', '.join(allowed)})")

    def table(self, doc: Mapping[str, Any], key: str, *, required: bool = True) -> dict[str, Any]:
        value = doc.get(key)
        if value is None:
            if required:
                raise self.fail(key, f"missing: add a [{key}] table")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def string(self, table: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
        value = table.get(key.rsplit(".", 1)[-1], default)
        if value is None:
            raise self.fail(key, "missing (a string)")
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string; got {value!r}")
        return value

    def integer(self, table: Mapping[str, Any], key: str, *, default: Any = ..., minimum: int = 0) -> Any:
        value = table.get(key.rsplit(".", 1)[-1], default)
        if value is ...:
            raise self.fail(key, "missing (a whole number)")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"must be a whole number of at least {minimum}; got {value!r}")
        return value

    def boolean(self, table: Mapping[str, Any], key: str) -> bool:
        value = table.get(key.rsplit(".", 1)[-1], False)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false; got {value!r}")
        return value

    def string_list(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise self.fail(key, f"must be an array of strings; got {value!r}")
        return list(value)

    def string_map(self, value: Any, key: str) -> dict[str, str]:
        if not isinstance(value, dict):
            raise self.fail(key, 'must be a table of NAME = "value"')
        out = {}
        for name, item in value.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise self.fail(f"{key}.{name}", f"must be a string; got {item!r}")
            out[str(name)] = str(item)
        return out

    def existing_file(self, table: Mapping[str, Any], key: str) -> Path:
        relative = self.string(table, key)
        path = (self.directory / relative).resolve()
        if not path.is_file():
            raise self.fail(key, f"{relative!r} does not exist in {self.directory}")
        return path


# -- what to deploy, in which order --------------------------------------------------------------------


def select_services(project: Project, profile: str | None) -> list[list[Service]]:
    """The services deployed with ``profile`` (those without a profile, plus that profile's), as
    waves: each service comes after every service its ``after`` names."""
    if profile is not None and profile not in project.profiles():
        known = ", ".join(project.profiles()) or "none"
        raise ProjectError(f"{project.file}: no service has profile {profile!r} (profiles: {known})")
    chosen = [s for s in project.services.values() if s.profile is None or s.profile == profile]
    names = {s.name for s in chosen}
    for service in chosen:
        for other in service.after:
            if other not in names:
                raise ProjectError(
                    f"{project.file}: services.{service.name}.after: {other!r} is not deployed "
                    f"{'with profile ' + repr(profile) if profile else 'without a profile'}"
                )
    return _order(chosen, lambda svc, problem: ProjectError(f"{project.file}: services.{svc}.after: {problem}"))


def _order(services: list[Service], fail: Callable[[str, str], ProjectError]) -> list[list[Service]]:
    """Kahn's layering by ``after`` (only edges between the given services); a cycle is an error."""
    names = {s.name for s in services}
    placed: set[str] = set()
    waves: list[list[Service]] = []
    remaining = list(services)
    while remaining:
        wave = [s for s in remaining if all(o in placed or o not in names for o in s.after)]
        if not wave:
            raise fail(remaining[0].name, f"a cycle through {', '.join(s.name for s in remaining)}")
        waves.append(wave)
        placed.update(s.name for s in wave)
        remaining = [s for s in remaining if s.name not in placed]
    return waves


def merged_definition(service: Service, addresses: Mapping[str, str]) -> dict[str, Any]:
    """The revision to register: the task definition with the project's environment merged into its
    containers (a variable the definition has gets the project's value in place; new ones follow)
    and ``{address:<service>}`` replaced by ``addresses[<service>]``."""
    definition = json.loads(json.dumps(service.task_definition))
    for container in definition["containerDefinitions"]:
        overrides = service.environment.get(container.get("name"), {})
        if not overrides:
            continue
        current = list(container.get("environment") or [])
        values = {name: _fill(value, addresses, service.name) for name, value in overrides.items()}
        merged = [{"name": e["name"], "value": values.pop(e["name"], e.get("value", ""))} for e in current]
        merged += [{"name": name, "value": value} for name, value in values.items()]
        container["environment"] = merged
    return dict(definition)


def _fill(value: str, addresses: Mapping[str, str], service: str) -> str:
    def address(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in addresses:
            raise ProjectError(f"services.{service}.environment: no RUNNING task of {name!r} gives {{address:{name}}}")
        return addresses[name]

    return ADDRESS.sub(address, value)


def fill_addresses(text: str, addresses: Mapping[str, str]) -> str | None:
    """``text`` with its ``{address:<service>}`` filled, or ``None`` when an address is unknown."""
    if any(name not in addresses for name in ADDRESS.findall(text)):
        return None
    return ADDRESS.sub(lambda m: addresses[m.group(1)], text)
