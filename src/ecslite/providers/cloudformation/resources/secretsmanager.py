"""AWS::SecretsManager::Secret: ``Ref`` and ``Fn::GetAtt Id`` are the secret's ARN.

``GenerateSecretString`` makes the value as GetRandomPassword would (32 characters of every kind by
default, at least one of each included kind), put under ``GenerateStringKey`` of
``SecretStringTemplate`` when both are given. A change of ``SecretString`` or
``GenerateSecretString`` puts a new value in place; ``Name`` alone makes a new secret. Deleting
forces the deletion without a recovery window, as CloudFormation's handler does (unverified), so
that a stack made again at once can take the same name.
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceFailed,
    ResourceHandler,
    register,
)
from ecslite.providers.cloudformation.resources.common import as_bool, remove, retag, tag_list

NAME_MAX = 512
DEFAULT_LENGTH = 32
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"  # GetRandomPassword's punctuation set


def generate(spec: Doc) -> str:
    """The secret string ``GenerateSecretString`` describes."""
    excluded = set(str(spec.get("ExcludeCharacters") or ""))
    kinds = [
        (string.ascii_lowercase, "ExcludeLowercase"),
        (string.ascii_uppercase, "ExcludeUppercase"),
        (string.digits, "ExcludeNumbers"),
        (PUNCTUATION, "ExcludePunctuation"),
    ]
    pools = [[c for c in chars if c not in excluded] for chars, flag in kinds if not as_bool(spec.get(flag))]
    if as_bool(spec.get("IncludeSpace")):
        pools.append([" "])
    pools = [pool for pool in pools if pool]
    if not pools:
        raise ResourceFailed("GenerateSecretString excludes every character")
    length = int(spec.get("PasswordLength") or DEFAULT_LENGTH)
    if not 1 <= length <= 4096:
        raise ResourceFailed("GenerateSecretString's PasswordLength must be between 1 and 4096")
    every = [c for pool in pools for c in pool]
    chars = [secrets.choice(every) for _ in range(length)]
    if as_bool(spec.get("RequireEachIncludedType"), default=True):
        if length < len(pools):
            raise ResourceFailed("GenerateSecretString's PasswordLength is too short to include every character type")
        places = list(range(length))
        for pool in pools:
            place = places.pop(secrets.randbelow(len(places)))
            chars[place] = secrets.choice(pool)
    password = "".join(chars)
    key, template = spec.get("GenerateStringKey"), spec.get("SecretStringTemplate")
    if key is None and template is None:
        return password
    if key is None or template is None:
        raise ResourceFailed("GenerateStringKey and SecretStringTemplate must be given together")
    try:
        doc: Any = json.loads(template) if isinstance(template, str) else dict(template)
    except json.JSONDecodeError:
        raise ResourceFailed("SecretStringTemplate must be a JSON object") from None
    if not isinstance(doc, dict):
        raise ResourceFailed("SecretStringTemplate must be a JSON object")
    doc[str(key)] = password
    return json.dumps(doc)


def _value(props: Doc) -> str | None:
    if props.get("SecretString") is not None and props.get("GenerateSecretString") is not None:
        raise ResourceFailed("You can't specify both SecretString and GenerateSecretString")
    if props.get("GenerateSecretString") is not None:
        return generate(props["GenerateSecretString"])
    return None if props.get("SecretString") is None else str(props["SecretString"])


@register
class Secret(ResourceHandler):
    type_name = "AWS::SecretsManager::Secret"
    stack_tags = True
    attributes = frozenset({"Id"})
    replace_always = False
    replace_on = frozenset({"Name"})
    name_property = "Name"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params: Doc = {"Name": props.get("Name") or rc.physical_name(NAME_MAX), "Tags": tag_list(rc, props)}
        for key in ("Description", "KmsKeyId"):
            if props.get(key) is not None:
                params[key] = props[key]
        value = _value(props)
        if value is not None:
            params["SecretString"] = value
        arn = (await rc.call("secretsmanager", "CreateSecret", params))["ARN"]
        return Physical(arn, {"Id": arn})

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        arn = current.physical_id
        params: Doc = {"SecretId": arn}
        for key in ("Description", "KmsKeyId"):
            if old.get(key) != new.get(key) and new.get(key) is not None:
                params[key] = new[key]
        values = ("SecretString", "GenerateSecretString")
        if any(old.get(k) != new.get(k) for k in values):
            value = _value(new)
            if value is not None:
                params["SecretString"] = value
        if len(params) > 1:
            await rc.call("secretsmanager", "UpdateSecret", params)
        await retag(rc, "secretsmanager", {"SecretId": arn}, old, new)
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"SecretId": current.physical_id, "ForceDeleteWithoutRecovery": True}
        await remove(rc, "secretsmanager", "DeleteSecret", params, gone=("ResourceNotFoundException",))
