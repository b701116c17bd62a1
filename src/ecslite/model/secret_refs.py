"""Container ``secrets``: parsing ``valueFrom`` references and resolving them against the stores.

spec/ecs.md §2.8. A ``valueFrom`` is either

- a Secrets Manager secret ARN, full (``…:secret:app-AbCdEf``) or partial (``…:secret:app``),
  optionally followed by ``:<json-key>:<version-stage>:<version-id>``; empty positions keep their
  colons (``…:secret:app-AbCdEf:username::``); without stage or id the ``AWSCURRENT`` version is
  read, and a JSON key picks one member of a JSON secret; or
- an SSM parameter name (in the task's own region and account) or parameter ARN, optionally with a
  ``:<version>`` or ``:<label>`` selector; SecureStrings are decrypted.

Secrets are resolved once, when the task's containers start (rotation does not reach running
tasks). A failure is one :class:`SecretResolutionError` whose text is what ECS puts in
``stoppedReason``: ``ResourceInitializationError: unable to pull secrets or registry auth: …``
with the agent's wording for the cause, then one sentence naming the container secret and what
exactly is wrong with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ecslite.clock import Clock, SystemClock
from ecslite.store import parameters as parameter_store
from ecslite.store import secrets as secret_store
from ecslite.store.db import Database

ECS_PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: "
# (unverified) the agent's wording after the prefix, as stopped tasks show it.
_RETRIEVAL = "execution resource retrieval failed: "
_RETRIED = "service call has been retried 1 time(s): "
ASM_CALL = f"{_RETRIEVAL}unable to retrieve secret from asm: {_RETRIED}"
SSM_CALL = f"{_RETRIEVAL}unable to retrieve secrets from ssm: {_RETRIED}"
_SYSTEM_CLOCK = SystemClock()


class Failure(StrEnum):
    """Why a container secret could not be resolved."""

    INVALID_REFERENCE = "invalid-reference"
    SECRET_NOT_FOUND = "secret-not-found"
    SECRET_DELETED = "secret-deleted"
    VERSION_NOT_FOUND = "version-not-found"
    STAGE_NOT_FOUND = "stage-not-found"
    STAGE_NOT_ON_VERSION = "stage-not-on-version"
    BINARY_SECRET = "binary-secret"
    NOT_JSON = "not-json"
    JSON_KEY_MISSING = "json-key-missing"
    PARAMETER_NOT_FOUND = "parameter-not-found"


class SecretResolutionError(Exception):
    """A container secret that could not be resolved; ``str()`` is ECS's stopped reason."""

    def __init__(self, failure: Failure, secret_name: str, value_from: str, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.secret_name = secret_name
        self.value_from = value_from
        self.message = message


@dataclass(frozen=True, slots=True)
class SecretsManagerRef:
    value_from: str
    secret_id: str  # the ARN up to the secret's name: full or partial, as written
    account: str
    region: str
    json_key: str | None
    version_stage: str | None
    version_id: str | None


@dataclass(frozen=True, slots=True)
class ParameterRef:
    value_from: str
    name: str  # a parameter name or ARN, with its selector if any
    account: str
    region: str


SecretRef = SecretsManagerRef | ParameterRef


class InvalidReference(ValueError):
    """A ``valueFrom`` that is neither a Secrets Manager secret ARN nor an SSM parameter name or ARN."""


def parse_value_from(value_from: str, account: str, region: str) -> SecretRef:
    """What ``value_from`` refers to; names without an ARN are SSM parameters of ``account``/``region``."""
    if not value_from:
        raise InvalidReference("an empty valueFrom names nothing")
    if not value_from.startswith("arn:"):
        return ParameterRef(value_from, value_from, account, region)
    parts = value_from.split(":")
    if len(parts) < 6:
        raise InvalidReference(f"{value_from} is not an ARN")
    service, arn_region, arn_account = parts[2], parts[3], parts[4]
    if service == "ssm" and parts[5].startswith("parameter/"):
        return ParameterRef(value_from, value_from, arn_account, arn_region)
    if service == "secretsmanager" and parts[5] == "secret" and len(parts) >= 7 and parts[6]:
        extra = parts[7:]
        if len(extra) > 3:
            raise InvalidReference(
                f"{value_from} has more than the three optional parts json-key:version-stage:version-id"
            )
        extra += [""] * (3 - len(extra))
        return SecretsManagerRef(
            value_from=value_from,
            secret_id=":".join(parts[:7]),
            account=arn_account,
            region=arn_region,
            json_key=extra[0] or None,
            version_stage=extra[1] or None,
            version_id=extra[2] or None,
        )
    raise InvalidReference(f"{value_from} is neither a Secrets Manager secret ARN nor an SSM parameter name or ARN")


def resolve_secrets(
    db: Database,
    account: str,
    region: str,
    secrets: Sequence[Mapping[str, str]],
    *,
    clock: Clock = _SYSTEM_CLOCK,
) -> dict[str, str]:
    """Resolve a container's ``secrets`` (``[{"name", "valueFrom"}]``) to ``{name: value}``.

    ``account`` and ``region`` are the task's: names without an ARN are looked up there, ARNs where
    they point. SSM parameters are read first (every missing one is reported together, as the
    agent's batched GetParameters does), then Secrets Manager secrets in order. Raises
    :class:`SecretResolutionError` for the first failure; reads only, never writes the store.
    """
    refs: list[tuple[str, SecretRef]] = []
    for secret in secrets:
        name, value_from = secret["name"], secret["valueFrom"]
        try:
            refs.append((name, parse_value_from(value_from, account, region)))
        except InvalidReference as invalid:
            raise SecretResolutionError(
                Failure.INVALID_REFERENCE,
                name,
                value_from,
                f"{ECS_PREFIX}invalid secret reference {value_from}. Container secret {name}: {invalid}.",
            ) from None
    values: dict[str, str] = {}
    values.update(_resolve_parameters(db, [(n, r) for n, r in refs if isinstance(r, ParameterRef)]))
    now = clock.now()
    for name, ref in refs:
        if isinstance(ref, SecretsManagerRef):
            values[name] = _resolve_secret(db, name, ref, now)
    return {secret["name"]: values[secret["name"]] for secret in secrets}


# -- SSM Parameter Store ------------------------------------------------------------------------------


def _resolve_parameters(db: Database, refs: Sequence[tuple[str, ParameterRef]]) -> dict[str, str]:
    values: dict[str, str] = {}
    missing: list[tuple[str, ParameterRef]] = []
    for name, ref in refs:
        value = _parameter_value(db, ref)
        if value is None:
            missing.append((name, ref))
        else:
            values[name] = value
    if missing:
        first_name, first = missing[0]
        listed = ", ".join(ref.name for _, ref in missing)
        raise SecretResolutionError(
            Failure.PARAMETER_NOT_FOUND,
            first_name,
            first.value_from,
            f"{ECS_PREFIX}{SSM_CALL}invalid ssm parameters: {listed}. Container secret {first_name}: no SSM "
            f"parameter {first.name} in {first.region} of account {first.account}.",
        )
    return values


def _parameter_value(db: Database, ref: ParameterRef) -> str | None:
    """The (decrypted) value ``ref`` names, or ``None`` when the parameter or the version is missing."""
    body = ref.name
    if body.startswith("arn:"):
        body = body.split(":", 5)[5].removeprefix("parameter")
    name, sep, selector = body.partition(":")
    candidates = [name.removeprefix("/"), name] if ref.name.startswith("arn:") and name.count("/") == 1 else [name]
    for candidate in candidates:
        parameter = parameter_store.get(db, ref.account, ref.region, candidate)
        if parameter is None:
            continue
        if not sep:
            return parameter_store.value_of(db, parameter, parameter.version)
        if selector.isdigit():
            found = parameter_store.version(db, parameter, int(selector))
        else:
            found = next((v for v in parameter_store.versions(db, parameter) if selector in v.labels), None)
        return parameter_store.value_of(db, parameter, found.version) if found else None
    return None


# -- Secrets Manager ----------------------------------------------------------------------------------


def _asm_error(failure: Failure, name: str, ref: SecretsManagerRef, cause: str, why: str) -> SecretResolutionError:
    """ECS's text for a Secrets Manager failure (``cause``, the agent's words) and ecslite's ``why``."""
    message = f"{ECS_PREFIX}{ASM_CALL}{cause} Container secret {name}: {why}."
    return SecretResolutionError(failure, name, ref.value_from, message)


def _resolve_secret(db: Database, name: str, ref: SecretsManagerRef, now: float) -> str:
    def fail(failure: Failure, cause: str, why: str) -> SecretResolutionError:
        return _asm_error(failure, name, ref, cause, why)

    fetch = f"failed to fetch secret {ref.secret_id} from secrets manager:"
    secret = secret_store.find(db, ref.account, ref.region, ref.secret_id, now)
    if secret is None:
        raise fail(
            Failure.SECRET_NOT_FOUND,
            f"{fetch} ResourceNotFoundException: Secrets Manager can't find the specified secret.",
            f"no secret {ref.secret_id} in {ref.region} of account {ref.account}",
        )
    if secret.deleted:
        raise fail(
            Failure.SECRET_DELETED,
            f"{fetch} InvalidRequestException: You can't perform this operation on the secret because it was "
            "marked for deletion.",
            f"secret {secret.doc['Name']} is scheduled for deletion; restore it with RestoreSecret",
        )
    try:
        version = secret_store.pick_version(secret_store.versions(db, secret), ref.version_id, ref.version_stage)
    except secret_store.VersionNotFound as missing:
        failure = Failure.VERSION_NOT_FOUND if missing.kind == "VersionId" else Failure.STAGE_NOT_FOUND
        what = "version id" if missing.kind == "VersionId" else "staging label"
        raise fail(
            failure,
            f"{fetch} ResourceNotFoundException: Secrets Manager can't find the specified secret value for "
            f"{missing.kind}: {missing.value}.",
            f"secret {secret.doc['Name']} has no version with {what} {missing.value}",
        ) from None
    except secret_store.StageNotOnVersion:
        raise fail(
            Failure.STAGE_NOT_ON_VERSION,
            f"{fetch} InvalidRequestException: You provided a VersionStage that is not associated to the provided "
            "VersionId.",
            f"version {ref.version_id} of secret {secret.doc['Name']} does not carry staging label {ref.version_stage}",
        ) from None
    value = secret_store.value_of(db, secret, version.version_id)
    if not isinstance(value, str):
        raise fail(
            Failure.BINARY_SECRET,
            "retrieved secret from Secrets Manager did not contain a SecretString value.",
            f"secret {secret.doc['Name']} holds SecretBinary, and only SecretString can become an environment variable",
        )
    if ref.json_key is None:
        return value
    return _json_member(value, name, ref)


def _json_member(value: str, name: str, ref: SecretsManagerRef) -> str:
    """The member ``ref.json_key`` of a JSON secret; strings as they are, other JSON values as JSON."""
    key = ref.json_key
    try:
        document = json.loads(value)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise _asm_error(
            Failure.NOT_JSON,
            name,
            ref,
            f"retrieved secret from Secrets Manager is not a JSON object, so it has no json key {key}.",
            f"json key {key} was asked for, but the secret's value is not a JSON object",
        )
    if key not in document:
        raise _asm_error(
            Failure.JSON_KEY_MISSING,
            name,
            ref,
            f"retrieved secret from Secrets Manager did not contain json key {key}.",
            f"the secret's JSON has no key {key} (it has {', '.join(sorted(document)) or 'no keys'})",
        )
    member = document[key]
    return member if isinstance(member, str) else json.dumps(member, separators=(",", ":"))
