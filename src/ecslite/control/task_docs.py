"""Reading the stored task document as the controller needs it, and building runtime specs from it.

The document layout is described in :mod:`ecslite.store.tasks`; these helpers keep the controller's
steps free of dictionary plumbing and are the one place that maps a stored container snapshot
to a :class:`~ecslite.runtime.base.ContainerSpec` (spec/ecs.md §2.4, §2.10, §2.11, §9.1):

- ``environment``: ECS's variables (§9.1), then the ``environmentFiles``, then the definition's
  ``environment`` (with overrides), then the resolved ``secrets`` (§2.8: secrets > environment >
  files). Among files the first one to set a name wins and the definition beats every file, as the
  ECS agent merges them (``MergeEnvironmentVariablesFromEnvfiles``). A user value that replaces one
  of ECS's own variables is kept, as §2.8 prefers, and logged as a warning.
- ``secrets`` and ``logConfiguration.secretOptions`` are resolved once, when the container starts
  (:func:`container_secrets`), in the execution role's account and the task's region; values are
  handed to the runtime and never written to the store. A reference that cannot be resolved fails
  the container with ECS's ``ResourceInitializationError: unable to pull secrets or registry auth:
  …`` (:class:`SecretsFailed`), and the task with it when the container is essential.
- ``environmentFiles`` are read when the spec is built (the pull step, §3.3) with the agent's line
  rules: lines starting with ``#`` are comments, a line counts only with ``=`` and something on
  both sides, the value is everything after the first ``=`` as written. **Local model:** a
  ``value`` that is a local absolute path (or a ``file://`` URL) is read directly; an S3 ARN
  ``arn:aws:s3:::bucket/key`` is read from ``$ECSLITE_S3_DIR/bucket/key``, where ecslite's S3 keeps
  its objects (``ecslite server`` sets the variable to ``<data dir>/s3`` when it is not given). A
  file that cannot be read fails the task with ``ResourceInitializationError: failed to download
  env files: …`` naming the file and the fix.
- ``hostname``: awsvpc tasks get the ENI's private DNS name, as on ECS; bridge and none use the
  definition's ``hostname`` or Docker's default (the first 12 characters of the container id);
  host mode keeps the host's name (``None``).
- ``ulimits``, ``linuxParameters.initProcessEnabled``, ``readonlyRootFilesystem``, ``user`` and
  ``workingDirectory`` pass through as given; the runtime resolves the user in the image.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecslite.clock import Clock
from ecslite.model.container_ordering import ContainerFacts, parse_dependencies
from ecslite.model.secret_refs import SecretResolutionError, resolve_secrets
from ecslite.model.task_launch import ecs_labels, injected_environment, private_dns_name
from ecslite.model.tasks import RESOURCE_INITIALIZATION, SIGTERM, AttachmentStatus, ContainerStatus, HealthStatus
from ecslite.runtime.base import ContainerSpec, RuntimeFailure
from ecslite.store.db import Database
from ecslite.store.tasks import Doc, stamp_value

log = logging.getLogger(__name__)

__all__ = [
    "Doc",
    "EnvironmentFilesFailed",
    "SecretsFailed",
    "api_container",
    "container_facts",
    "container_hostname",
    "container_secrets",
    "container_spec",
    "read_environment_files",
    "set_attachment",
    "spec_containers",
    "stamp",
    "task_id_of",
]

# The directory ecslite's S3 keeps objects in, for environmentFiles given as S3 ARNs (Local model, see above).
S3_DIR_VARIABLE = "ECSLITE_S3_DIR"
# §3.3: ECS's prefix for environment files it could not fetch (the tail after it is unverified).
ENV_FILES_FAILED = f"{RESOURCE_INITIALIZATION}: failed to download env files:"
S3_ARN_PREFIXES = ("arn:aws:s3:::", "arn:aws-cn:s3:::", "arn:aws-us-gov:s3:::")
DOCKER_HOSTNAME_LENGTH = 12


class EnvironmentFilesFailed(RuntimeFailure):
    """An environment file of a container could not be read; ``reason`` is what the task shows."""


class SecretsFailed(RuntimeFailure):
    """A container secret could not be resolved; ``reason`` is ECS's ``ResourceInitializationError`` text."""


@dataclass(frozen=True, slots=True)
class ResolvedSecrets:
    """A container's resolved ``secrets`` (environment) and ``logConfiguration.secretOptions``."""

    environment: Mapping[str, str] = field(default_factory=dict)
    log_options: Mapping[str, str] = field(default_factory=dict)


def task_id_of(doc: Doc) -> str:
    return str(doc["_spec"]["taskId"])


def spec_containers(doc: Doc) -> dict[str, dict[str, Any]]:
    """The launch snapshot of each container, by name, in definition order."""
    return {c["name"]: c for c in doc["_spec"]["containers"]}


def api_container(doc: Doc, name: str) -> dict[str, Any]:
    for container in doc["containers"]:
        if container["name"] == name:
            found: dict[str, Any] = container
            return found
    raise KeyError(name)


def stamp(doc: Doc, field: str, now: float) -> None:
    """Set a §3.2 timestamp, never earlier than the ones that must precede it."""
    doc[field] = stamp_value(doc, field, now)


def set_attachment(doc: Doc, status: AttachmentStatus, details: Sequence[dict[str, str]] | None = None) -> None:
    """Move the ENI attachment (always ``attachments[0]``, §3.7) to ``status``."""
    attachments = doc.get("attachments") or []
    if not attachments:
        return
    attachments[0]["status"] = status.value
    if details is not None:
        attachments[0]["details"] = list(details)


def container_facts(doc: Doc) -> dict[str, ContainerFacts]:
    """What ordering decisions need about each container, from the stored document."""
    run = (doc.get("_run") or {}).get("containers", {})
    facts: dict[str, ContainerFacts] = {}
    for name, spec in spec_containers(doc).items():
        container = api_container(doc, name)
        started_at = run.get(name, {}).get("startedAt")
        stopped = container["lastStatus"] == ContainerStatus.STOPPED
        timeout = spec.get("startTimeout")
        facts[name] = ContainerFacts(
            name=name,
            depends_on=parse_dependencies(spec.get("dependsOn")),
            start_timeout=float(timeout) if timeout else None,
            started_at=float(started_at) if started_at is not None else None,
            failed_to_start=(container.get("reason") or "never started") if stopped and started_at is None else None,
            exit_code=container.get("exitCode"),
            exited=stopped and started_at is not None,
            healthy=container.get("healthStatus") == HealthStatus.HEALTHY,
        )
    return facts


def container_spec(doc: Doc, name: str, *, secrets: ResolvedSecrets | None = None) -> ContainerSpec:
    """The runtime's view of one container: plain values only (style.md layers).

    ``secrets`` are the container's resolved secrets (:func:`container_secrets`), given when the
    container starts. Raises :class:`EnvironmentFilesFailed` when an environment file cannot be read.
    """
    task = doc["_spec"]
    container = spec_containers(doc)[name]
    memory = container.get("memory")
    reservation = container.get("memoryReservation")
    environment = container_environment(doc, name, secrets)
    return ContainerSpec(
        task_id=task["taskId"],
        name=name,
        image=container["image"],
        runtime_id=container["runtimeId"],
        entry_point=tuple(container.get("entryPoint") or ()),
        command=tuple(container.get("command") or ()),
        environment=environment,
        working_directory=container.get("workingDirectory") or None,
        user=container.get("user") or None,
        cpu_units=int(container.get("cpu") or 0),
        memory_mib=int(memory) if memory else None,
        memory_reservation_mib=int(reservation) if reservation else None,
        stop_signal=SIGTERM,
        labels=ecs_labels(task, container),
        interactive=bool(container.get("interactive")),
        pseudo_terminal=bool(container.get("pseudoTerminal")),
        ulimits=tuple(
            (str(u["name"]), int(u["softLimit"]), int(u["hardLimit"])) for u in container.get("ulimits") or ()
        ),
        init_process=bool(container.get("initProcessEnabled")),
        readonly_root=bool(container.get("readonlyRootFilesystem")),
        hostname=container_hostname(doc, container),
    )


def container_environment(doc: Doc, name: str, secrets: ResolvedSecrets | None = None) -> dict[str, str]:
    """The container's variables, layered as the module docstring says (§2.8, §9.1)."""
    task = doc["_spec"]
    container = spec_containers(doc)[name]
    injected = injected_environment(task, container)
    environment = dict(injected)
    environment.update(read_environment_files(container.get("environmentFiles") or ()))
    environment.update(container.get("environment") or {})
    environment.update(secrets.environment if secrets is not None else {})
    replaced = sorted(k for k, v in injected.items() if environment[k] != v)
    if replaced:
        # §2.8 (unverified whether ECS lets users replace its variables): the user value is kept.
        log.warning(
            "a container's own values replace variables ECS sets",
            extra={"task": task["taskArn"], "container": name, "variables": replaced},
        )
    return environment


def container_secrets(db: Database, doc: Doc, name: str, *, clock: Clock) -> ResolvedSecrets:
    """Resolve the container's ``secrets`` and ``logConfiguration.secretOptions`` (§2.8).

    Names without an ARN are looked up in the execution role's account (the task's when it has no
    execution role) and the task's region. Raises :class:`SecretsFailed` with ECS's reason.
    """
    task = doc["_spec"]
    container = spec_containers(doc)[name]
    options = list((container.get("logConfiguration") or {}).get("secretOptions") or ())
    secrets = list(container.get("secrets") or ())
    if not secrets and not options:
        return ResolvedSecrets()
    account = _role_account(task.get("executionRoleArn")) or task["account"]
    try:
        environment = resolve_secrets(db, account, task["region"], secrets, clock=clock) if secrets else {}
        log_options = resolve_secrets(db, account, task["region"], options, clock=clock) if options else {}
    except SecretResolutionError as failure:
        raise SecretsFailed(failure.message) from None
    return ResolvedSecrets(environment, log_options)


def _role_account(role_arn: str | None) -> str | None:
    parts = (role_arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" and parts[4].isdigit() else None


def container_hostname(doc: Doc, container: Mapping[str, Any]) -> str | None:
    """The container's host name by network mode (see the module docstring)."""
    task = doc["_spec"]
    mode = task.get("networkMode")
    if mode == "host":
        return None
    if mode == "awsvpc":
        address = ((doc.get("_run") or {}).get("sandbox") or {}).get("privateIpv4")
        return private_dns_name(task["region"], address) if address else None
    given = container.get("hostname")
    return str(given) if given else str(container["runtimeId"])[:DOCKER_HOSTNAME_LENGTH]


# -- environment files -------------------------------------------------------------------------


def read_environment_files(files: Sequence[Mapping[str, Any]], *, s3_dir: Path | None = None) -> dict[str, str]:
    """The variables of a container's ``environmentFiles``, the first file winning a name."""
    if not files:
        return {}
    root = s3_dir if s3_dir is not None else _s3_dir()
    merged: dict[str, str] = {}
    errors: list[str] = []
    for item in files:
        value = str(item.get("value") or "")
        try:
            variables = _parse_env_file(_env_file_path(value, root).read_text(encoding="utf-8", errors="replace"))
        except _EnvFileError as error:
            errors.append(str(error))
            continue
        except OSError as error:
            errors.append(_read_error(value, error))
            continue
        for key, variable in variables.items():
            merged.setdefault(key, variable)
    if errors:
        raise EnvironmentFilesFailed(f"{ENV_FILES_FAILED} {'; '.join(errors)}")
    return merged


class _EnvFileError(Exception):
    pass


def _s3_dir() -> Path | None:
    configured = os.environ.get(S3_DIR_VARIABLE)
    return Path(configured) if configured else None


def _env_file_path(value: str, s3_dir: Path | None) -> Path:
    if value.startswith("file://"):
        value = value[len("file://") :]
    if value.startswith("/"):
        return Path(value)
    for prefix in S3_ARN_PREFIXES:
        if value.startswith(prefix):
            bucket, _, key = value[len(prefix) :].partition("/")
            if not bucket or not key:
                break
            if s3_dir is None:
                raise _EnvFileError(
                    f"unable to download env file with key {key} from bucket {bucket}, error: ecslite has no S3 "
                    f"here; set {S3_DIR_VARIABLE} to a directory holding {bucket}/{key} for the server, or give "
                    "the file's local absolute path as the environmentFiles value"
                )
            return s3_dir / bucket / key
    raise _EnvFileError(
        f"unable to parse bucket and key from s3 ARN specified in environmentFile {value}; use "
        "arn:aws:s3:::<bucket>/<key> or a local absolute path"
    )


def _read_error(value: str, error: OSError) -> str:
    why = error.strerror or str(error)
    location = f" ({error.filename})" if error.filename and str(error.filename) != value else ""
    return f"unable to read env file {value}{location}, error: {why}"


def _parse_env_file(text: str) -> dict[str, str]:
    """The agent's rules (``readEnvVarsFromFile``): ``#`` comments, ``KEY=VALUE`` with both sides set."""
    variables: dict[str, str] = {}
    for raw in text.split("\n"):
        line = raw.removesuffix("\r")
        if line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if key and value:
            variables[key] = value
    return variables
