"""Parameter names, paths, selectors and ARNs, with Parameter Store's rules for each.

A name is either plain (``db-password``) or a path of up to 15 levels (``/app/prod/db-password``);
each part is letters, digits and ``.-_``, and the first may not start with ``aws`` or ``ssm``. A
reference to a parameter is its name or ARN, optionally followed by ``:<version>`` or
``:<label>`` (a selector). The ARN of ``/a/b`` is ``…:parameter/a/b`` and that of ``a`` is
``…:parameter/a``, so an ARN of one level can name either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ecslite.providers.ssm import errors

MAX_DEPTH = 15
_NAME = re.compile(r"[A-Za-z0-9_.\-/]+")
_PART = re.compile(r"[A-Za-z0-9_.\-]+")
_LABEL = re.compile(r"[A-Za-z0-9_.\-]{1,100}")


def arn_for(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.removeprefix('/')}"


def check_name(name: str) -> None:
    """Raise Parameter Store's error for a name PutParameter would refuse."""
    if not _NAME.fullmatch(name):
        raise errors.ValidationException(errors.INVALID_NAME)
    is_path = "/" in name
    first = name.lower().removeprefix("/")
    if first.startswith(("aws", "ssm")):
        if is_path and first.startswith("aws"):
            raise errors.AccessDeniedException(f"No access to reserved parameter name: {name}.")
        raise errors.ValidationException(errors.INVALID_NAME if is_path else errors.RESERVED_PREFIX)
    if is_path and not name.startswith("/"):
        raise errors.ValidationException(errors.NOT_FULLY_QUALIFIED)
    if is_path and not all(_PART.fullmatch(part) for part in name[1:].split("/")):
        raise errors.ValidationException(errors.INVALID_NAME)
    if name.count("/") > MAX_DEPTH:
        raise errors.HierarchyLevelLimitExceededException(errors.HIERARCHY_TOO_DEEP)


def check_path(path: str) -> str:
    """A GetParametersByPath path, normalised to end in ``/``; Parameter Store's error otherwise."""
    if path == "/":
        return path
    body = path.removesuffix("/")
    parts = body[1:].split("/") if body.startswith("/") else []
    if not parts or not all(_PART.fullmatch(p) for p in parts) or parts[0].lower().startswith(("aws", "ssm")):
        raise errors.ValidationException(errors.INVALID_PATH)
    return body + "/"


def valid_label(label: str) -> bool:
    """Labels: 1–100 of letters, digits and ``.-_``; not only digits; not starting with aws or ssm."""
    return bool(_LABEL.fullmatch(label)) and not label.isdigit() and not label.lower().startswith(("aws", "ssm"))


@dataclass(frozen=True, slots=True)
class Reference:
    """What a ``Name`` in a request points at: candidate names (an ARN of one level can name two)
    and an optional selector, a version number or a label."""

    names: tuple[str, ...]
    selector: str | None
    text: str  # as the caller wrote it

    @property
    def version(self) -> int | None:
        return int(self.selector) if self.selector is not None and self.selector.isdigit() else None

    @property
    def label(self) -> str | None:
        return self.selector if self.selector is not None and not self.selector.isdigit() else None


def parse_reference(text: str, account: str, region: str) -> Reference | None:
    """A name or ARN with an optional ``:selector``; ``None`` for an ARN of another partition or
    something that is not a reference at all."""
    body = text
    if text.startswith("arn:"):
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[2] != "ssm" or not parts[5].startswith("parameter/"):
            return None
        if (parts[3], parts[4]) != (region, account):
            return None
        body = parts[5].removeprefix("parameter")
    name, sep, selector = body.partition(":")
    if not name or (sep and (not selector or ":" in selector)):
        return None
    one_level_arn = text.startswith("arn:") and name.count("/") == 1
    names = (name.removeprefix("/"), name) if one_level_arn else (name,)
    return Reference(names, selector if sep else None, text)
