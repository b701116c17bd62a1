"""The registry of built-in images, and the image reference grammar it matches with.

An image reference is read as Docker reads it (``distribution/reference``): ``[domain/]path[:tag][@digest]``.

- A first component is a registry domain only if it contains ``.`` or ``:``, is ``localhost``, or
  has upper-case letters; otherwise the image lives on Docker Hub (``docker.io``).
- Docker Hub names with one path component are official images: ``nginx`` is
  ``docker.io/library/nginx``; ``index.docker.io`` is spelled ``docker.io``.
- No tag and no digest means ``:latest``; with a digest, the digest names the image and the tag is
  informational.
- Repository paths are lower case; anything else is ``invalid reference format``.

Domains are read leniently (any characters but ``/``, ``@`` and white space), so templated names
such as the seed's ``<AWS_ACCOUNT_ID>.dkr.ecr.ap-northeast-1.amazonaws.com/otel-demo:python`` can
be written in an image map; ECR domains are recognised (:attr:`ImageReference.ecr`) so a map entry
can match every account.

A :class:`BuiltinImage` is registered under repository patterns (``amazon/aws-for-fluent-bit``,
``public.ecr.aws/aws-observability/aws-for-fluent-bit``, ``*.dkr.ecr.*.amazonaws.com/aws-for-fluent-bit``),
normalised like references; ``*`` matches within one ``/``-separated component. A built-in image
implements every tag and digest of its repositories. The registry starts empty; implementations
register themselves with :func:`register`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

DOCKER_HUB = "docker.io"
LEGACY_DOCKER_HUB = "index.docker.io"
OFFICIAL_NAMESPACE = "library"
DEFAULT_TAG = "latest"
MAX_NAME_LENGTH = 255

INVALID_REFERENCE = "invalid reference format"
NOT_LOWERCASE = "invalid reference format: repository name must be lowercase"

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DOMAIN = re.compile(r"[^/@\s:]+(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}")
_ECR_DOMAIN = re.compile(
    r"(?P<account>[^.]+)\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?", re.IGNORECASE
)


class InvalidReference(ValueError):
    """The text is not an image reference; the message is Docker's (``invalid reference format…``)."""


@dataclass(frozen=True, slots=True)
class EcrRepository:
    account: str
    region: str
    path: str


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed, normalised image reference."""

    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        """``domain/path``: the name without tag and digest."""
        return f"{self.domain}/{self.path}"

    @property
    def canonical(self) -> str:
        """The fully qualified form Docker prints: ``docker.io/library/nginx:latest``."""
        text = self.repository
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def ecr(self) -> EcrRepository | None:
        """The ECR account, region and repository when the domain is a private ECR registry."""
        found = _ECR_DOMAIN.fullmatch(self.domain)
        if found is None:
            return None
        return EcrRepository(found["account"], found["region"].lower(), self.path)


def split_domain(name: str) -> tuple[str, str]:
    """Docker's ``splitDockerDomain``: the registry domain and the repository path of ``name``."""
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, path = DOCKER_HUB, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DOCKER_HUB:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = f"{OFFICIAL_NAMESPACE}/{path}"
    return domain, path


def parse_reference(text: str) -> ImageReference:
    """Parse and normalise ``text``; raises :class:`InvalidReference` with Docker's message."""
    if not text or len(text) > MAX_NAME_LENGTH + 200:
        raise InvalidReference(INVALID_REFERENCE)
    name, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise InvalidReference(INVALID_REFERENCE)
    tag: str | None = None
    head, colon, candidate = name.rpartition(":")
    if colon and "/" not in candidate:
        name, tag = head, candidate
        if not _TAG.fullmatch(tag):
            raise InvalidReference(INVALID_REFERENCE)
    domain, path = split_domain(name)
    if not _DOMAIN.fullmatch(domain) or len(f"{domain}/{path}") > MAX_NAME_LENGTH:
        raise InvalidReference(INVALID_REFERENCE)
    if not _PATH.fullmatch(path):
        raise InvalidReference(NOT_LOWERCASE if _PATH.fullmatch(path.lower()) else INVALID_REFERENCE)
    if tag is None and not at:
        tag = DEFAULT_TAG
    return ImageReference(domain=domain, path=path, tag=tag, digest=digest if at else None)


def normalize_repository_pattern(pattern: str) -> str:
    """A repository pattern in the normalised form references have (``fluent/fluent-bit`` →
    ``docker.io/fluent/fluent-bit``); ``*`` wildcards are kept. Tags and digests are refused."""
    if "@" in pattern or ":" in pattern.rsplit("/", 1)[-1]:
        raise ValueError(f"a built-in image pattern names a repository without tag or digest; got {pattern!r}")
    wildcard = "\x00"  # survives split_domain untouched; checked as a plain letter
    domain, path = split_domain(pattern.replace("*", wildcard))
    if not _PATH.fullmatch(path.replace(wildcard, "x")) or not _DOMAIN.fullmatch(domain.replace(wildcard, "x")):
        raise ValueError(f"not a repository name: {pattern!r}")
    return f"{domain}/{path}".replace(wildcard, "*")


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("[^/]*".join(re.escape(part) for part in pattern.split("*")))


@dataclass(frozen=True, slots=True)
class BuiltinImage:
    """An image ecslite implements itself: ``module`` runs as the container's process
    (``python -m <module> <command…>``) inside the task's namespaces, on the host's filesystem."""

    name: str  # short name used in messages, e.g. "aws-for-fluent-bit"
    repositories: tuple[str, ...]  # repository patterns, see the module docstring
    module: str
    command: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    working_directory: str | None = None
    description: str = ""


class BuiltinRegistry:
    """Repository patterns → built-in images; the first registered match wins."""

    def __init__(self) -> None:
        self._entries: list[tuple[str, re.Pattern[str], BuiltinImage]] = []

    def register(self, image: BuiltinImage) -> None:
        if not image.repositories:
            raise ValueError(f"built-in image {image.name} names no repository")
        patterns = [normalize_repository_pattern(p) for p in image.repositories]
        taken = {pattern for pattern, _, _ in self._entries}
        for pattern in patterns:
            if pattern in taken:
                raise ValueError(f"repository pattern {pattern} is already registered")
        self._entries.extend((pattern, _pattern_regex(pattern), image) for pattern in patterns)

    def lookup(self, reference: ImageReference) -> BuiltinImage | None:
        """The built-in image implementing ``reference``'s repository, whatever its tag or digest."""
        repository = reference.repository
        for _, regex, image in self._entries:
            if regex.fullmatch(repository):
                return image
        return None

    def patterns(self) -> list[str]:
        return [pattern for pattern, _, _ in self._entries]

    def __iter__(self) -> Iterator[BuiltinImage]:
        seen: list[BuiltinImage] = []
        for _, _, image in self._entries:
            if all(image is not other for other in seen):
                seen.append(image)
        return iter(seen)

    def __len__(self) -> int:
        return len(list(iter(self)))


REGISTRY = BuiltinRegistry()


def register(image: BuiltinImage) -> None:
    """Add a built-in image to the process-wide registry the image resolver reads."""
    REGISTRY.register(image)
