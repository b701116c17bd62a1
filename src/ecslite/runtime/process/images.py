"""Image resolution for the process runtime: what an image name runs as on this machine.

Stages, in order (design.md "Image resolution"):

1. **Built-in images** (:mod:`ecslite.builtin.registry`): ecslite's own implementation runs as the
   container's process (``python -m <module>``) on the host's filesystem.
2. **The image map** (``--image-map FILE``; else ``ecslite.toml`` in the server's working
   directory): an image name → a local directory plus the image's defaults. JSON
   ``{"IMAGE": {"path": DIR, "entryPoint": [...], "command": [...], "environment": {...},
   "workingDirectory": DIR, "stopSignal": "SIGTERM"}}``, every key but ``path`` optional, or TOML
   with the same tables under ``[images]``. The process runs on the host's filesystem with ``DIR``
   first in ``PATH`` and as its default working directory; ``path = "/"`` runs the host's own
   programs. A relative ``path`` is relative to the map file. The file is re-read when it changes.
3. **The OCI image store** (images loaded from ``docker save``/OCI archives): a hook,
   :class:`OciImageStore`; until one is given the stage reports "not loaded".

Names are compared in Docker's normalised form (``nginx`` = ``docker.io/library/nginx:latest``).
A map entry matches the exact reference, then (for ``repo:tag@digest``) ``repo@digest`` and
``repo:tag``; private ECR names (``<account>.dkr.ecr.<region>.amazonaws.com/repo:tag``) also
match an entry for the same region, repository and tag under any account, so the seed's
``<AWS_ACCOUNT_ID>`` template works as a key.

An image no stage has fails the pull with ``CannotPullContainerError: …`` (spec/ecs.md §3.3) that
says, Beyond ECS, which stages were tried and gives a map entry to copy.

``digest`` and ``image_id`` are sha256 of the resolution, stable while the resolution stays the
same: ``digest`` (DescribeTasks' ``imageDigest``) covers the name, ``image_id`` only what runs, so
two names mapped alike share an image id as two tags of one Docker image do. A reference that
carries a digest keeps it as ``digest``.

The helpers :func:`process_argv`, :func:`process_env`, :func:`process_cwd` and
:func:`resolve_user` turn a resolved image and a container's settings into what the process gets,
with Docker's rules (spec/ecs.md §2.4).
"""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import threading
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from ecslite.builtin.registry import (
    REGISTRY,
    BuiltinImage,
    BuiltinRegistry,
    ImageReference,
    InvalidReference,
    parse_reference,
)
from ecslite.config import Settings
from ecslite.runtime.base import ContainerCreateFailed, ContainerStartFailed, ImagePullFailed

__all__ = [
    "DEFAULT_PATH",
    "ImageMapEntry",
    "ImageMapError",
    "ImageResolver",
    "ImageSource",
    "OciImageStore",
    "ProcessUser",
    "ResolvedImage",
    "load_image_map",
    "process_argv",
    "process_cwd",
    "process_env",
    "resolve_user",
]

PROJECT_FILE = "ecslite.toml"
# Docker's PATH for images that set none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CANNOT_PULL = "CannotPullContainerError"
CANNOT_CREATE = "CannotCreateContainerError"
CANNOT_START = "CannotStartContainerError"
ENTRY_KEYS = ("path", "entryPoint", "command", "environment", "workingDirectory", "stopSignal", "builtin")
# Given to a built-in image run for an image map entry: the entry's directory plays the image's root.
IMAGE_ROOT_VARIABLE = "ECSLITE_IMAGE_ROOT"


class ImageSource(StrEnum):
    BUILTIN = "builtin"
    IMAGE_MAP = "image-map"
    OCI = "oci"
    ECR = "ecr"  # pushed to ecslite's own ECR (runtime/process/ecr_images.py)


@dataclass(frozen=True, slots=True)
class ResolvedImage:
    name: str  # the reference as the task definition gives it
    source: str  # an ImageSource value
    digest: str
    image_id: str
    root: Path | None  # a root filesystem to pivot into; None = the host's filesystem
    entry_point: tuple[str, ...]
    command: tuple[str, ...]
    environment: Mapping[str, str]
    working_directory: str | None
    stop_signal: int = signal.SIGTERM  # Docker's STOPSIGNAL: what "stop" sends before SIGKILL
    user: str | None = None  # Docker's USER: who the process runs as when the container names nobody


class ImageMapError(ValueError):
    """The image map file cannot be used; the message names the file, the entry and the fix."""


@dataclass(frozen=True, slots=True)
class ImageMapEntry:
    image: str  # the key as written
    reference: ImageReference
    path: Path
    entry_point: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    working_directory: str | None = None
    stop_signal: int = signal.SIGTERM
    # An image built FROM a built-in one (the seed's router image): that implementation runs, with
    # ``path`` as the image's root for the files it reads (``"builtin": "aws-for-fluent-bit"``).
    builtin: str | None = None


class OciImageStore(Protocol):
    """Hook for the local OCI image store (loaded archives, pulled images)."""

    def resolve(self, reference: ImageReference, name: str) -> ResolvedImage | None: ...

    def describe(self) -> str:
        """One phrase for the pull error: what the store holds, e.g. ``3 images loaded``."""
        ...


# -- the image map file ---------------------------------------------------------------------------


def load_image_map(path: Path) -> list[ImageMapEntry]:
    """Read and check an image map (JSON, or TOML with ``[images]``); raises :class:`ImageMapError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImageMapError(f"image map {path} does not exist") from None
    except OSError as error:
        raise ImageMapError(f"image map {path} cannot be read: {error.strerror or error}") from None
    table = _parse_map_text(path, text)
    return [_entry(path, str(key), value) for key, value in table.items()]


def _parse_map_text(path: Path, text: str) -> Mapping[str, Any]:
    if path.suffix == ".json" or (path.suffix != ".toml" and text.lstrip().startswith("{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ImageMapError(f"image map {path} is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise ImageMapError(f'image map {path} must be a JSON object {{"IMAGE": {{"path": DIR}}, …}}')
        return data
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ImageMapError(f"image map {path} is not valid TOML: {error}") from None
    images = document.get("images", {})
    if not isinstance(images, dict):
        raise ImageMapError(f"image map {path}: [images] must be a table of image names")
    return images


def _entry(source: Path, key: str, value: Any) -> ImageMapEntry:
    where = f"image map {source}, entry {key!r}"
    try:
        reference = parse_reference(key)
    except InvalidReference as error:
        raise ImageMapError(f"{where}: {error}") from None
    if not isinstance(value, dict):
        raise ImageMapError(f'{where}: the value must be an object such as {{"path": "/srv/app"}}')
    unknown = sorted(set(value) - set(ENTRY_KEYS))
    if unknown:
        raise ImageMapError(f"{where}: unknown key {unknown[0]!r} (known keys: {', '.join(ENTRY_KEYS)})")
    raw_path = value.get("path")
    if not isinstance(raw_path, str) or not raw_path:
        raise ImageMapError(f'{where}: "path" (the directory the image stands for) is required')
    directory = Path(raw_path).expanduser()
    if not directory.is_absolute():
        directory = (source.parent / directory).resolve()
    working_directory = value.get("workingDirectory")
    if working_directory is not None and (not isinstance(working_directory, str) or not working_directory):
        raise ImageMapError(f'{where}: "workingDirectory" must be a directory path')
    builtin = value.get("builtin")
    if builtin is not None:
        from ecslite.builtin.catalog import IMAGES, by_name

        if not isinstance(builtin, str) or by_name(builtin) is None:
            names = ", ".join(image.name for image in IMAGES)
            raise ImageMapError(f'{where}: "builtin" must name a built-in image ({names}); got {builtin!r}')
    return ImageMapEntry(
        image=key,
        reference=reference,
        path=directory,
        builtin=builtin,
        entry_point=_string_list(where, "entryPoint", value.get("entryPoint")),
        command=_string_list(where, "command", value.get("command")),
        environment=_string_map(where, value.get("environment")),
        working_directory=working_directory,
        stop_signal=_signal_number(where, value.get("stopSignal")),
    )


def _string_list(where: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ImageMapError(f'{where}: "{key}" must be a list of strings such as ["python3", "app.py"]')
    return tuple(value)


def _string_map(where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImageMapError(f'{where}: "environment" must be an object of names to values')
    out: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ImageMapError(f"{where}: environment variable {name!r} must have a string value")
        out[str(name)] = str(item)
    return out


def _signal_number(where: str, value: Any) -> int:
    if value is None:
        return int(signal.SIGTERM)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < signal.NSIG:
        return value
    if isinstance(value, str):
        text = value.strip().upper()
        if text.isdigit() and 0 < int(text) < signal.NSIG:
            return int(text)
        name = text if text.startswith("SIG") else f"SIG{text}"
        if name in signal.Signals.__members__:
            return int(signal.Signals[name])
    raise ImageMapError(f'{where}: "stopSignal" must be a signal name such as "SIGTERM" or a number; got {value!r}')


# -- resolution -----------------------------------------------------------------------------------


class ImageResolver:
    """Resolves image names through the built-in images, the image map and the OCI store."""

    def __init__(
        self,
        settings: Settings,
        *,
        builtins: BuiltinRegistry | None = None,
        oci_store: OciImageStore | None = None,
    ) -> None:
        self.builtins = REGISTRY if builtins is None else builtins
        self.oci_store = oci_store
        self.map_path = self._map_path(settings.image_map)
        self._explicit_map = settings.image_map is not None
        self._entries: list[ImageMapEntry] = []
        self._stamp: tuple[int, int] | None = None
        self._map_error: str | None = None
        self._reload_lock = threading.Lock()
        if self.map_path is not None:
            # An explicit map that cannot be read stops the server at start, with the reason.
            self._entries = load_image_map(self.map_path)
            self._stamp = _file_stamp(self.map_path)

    @staticmethod
    def _map_path(configured: Path | None) -> Path | None:
        if configured is not None:
            return configured
        project = Path.cwd() / PROJECT_FILE
        return project if project.is_file() else None

    def entries(self) -> list[ImageMapEntry]:
        """The image map as it is now (re-read when the file changed)."""
        return list(self._current_map()[0])

    def resolve(self, image: str) -> ResolvedImage:
        """What ``image`` runs as; raises :class:`ImagePullFailed` with ``CannotPullContainerError: …``."""
        try:
            reference = parse_reference(image)
        except InvalidReference as error:
            raise ImagePullFailed(f"{CANNOT_PULL}: {error}: {image!r}") from None
        builtin = self.builtins.lookup(reference)
        if builtin is not None:
            return _from_builtin(image, reference, builtin)
        entries, map_error = self._current_map()
        if map_error is None:
            entry = match_entry(entries, reference)
            if entry is not None and entry.builtin is not None:
                from ecslite.builtin.catalog import by_name

                implementation = by_name(entry.builtin)
                if implementation is not None:
                    return _from_builtin(image, reference, implementation, image_root=entry.path)
            if entry is not None:
                return _from_entry(image, reference, entry)
        if self.oci_store is not None:
            found = self.oci_store.resolve(reference, image)
            if found is not None:
                return found
        raise ImagePullFailed(self._not_found(image, reference, map_error))

    def _current_map(self) -> tuple[list[ImageMapEntry], str | None]:
        """The entries and the load error of the map file as it is now, re-read when it changed.

        The runtime resolves the containers of a task in parallel threads: one re-reads while the
        others wait, so none matches against the entries of a file that has since changed.
        """
        with self._reload_lock:
            if self.map_path is not None:
                stamp = _file_stamp(self.map_path)
                if stamp != self._stamp:
                    try:
                        self._entries, self._map_error = load_image_map(self.map_path), None
                    except ImageMapError as error:
                        self._entries, self._map_error = [], str(error)
                    self._stamp = stamp
            return self._entries, self._map_error

    def _not_found(self, image: str, reference: ImageReference, map_error: str | None) -> str:
        """ECS's prefix, then (Beyond ECS, §3.3) the stages tried and an entry to copy."""
        if self.map_path is None:
            map_stage = "image map: none given"
        elif map_error is not None:
            map_stage = f"image map: unusable ({map_error})"
        else:
            map_stage = f"image map {self.map_path}: no entry for {reference.canonical}"
        oci_stage = "OCI image store: " + (self.oci_store.describe() if self.oci_store else "not loaded")
        snippet = json.dumps({image: {"path": "/path/to/app", "command": ["./start"]}})
        how = (
            f"add this entry to {self.map_path}"
            if self.map_path is not None and self._explicit_map
            else "put this in a JSON file and start the server with --image-map FILE"
        )
        return (
            f"{CANNOT_PULL}: failed to resolve ref {reference.canonical}: not found. "
            f"ecslite tried: built-in images: none for {reference.repository}; {map_stage}; {oci_stage}. "
            f"To run it from a local directory, {how}: {snippet} "
            f"(or the same under [images] in {PROJECT_FILE})."
        )


def match_entry(entries: Sequence[ImageMapEntry], reference: ImageReference) -> ImageMapEntry | None:
    """The map entry for ``reference`` in the order the module docstring gives, or ``None``."""
    for candidate in _candidates(reference):
        for entry in entries:
            if entry.reference == candidate:
                return entry
    ecr = reference.ecr
    if ecr is None:
        return None
    for candidate in _candidates(reference):
        for entry in entries:
            other = entry.reference.ecr
            if (
                other is not None
                and (other.region, other.path) == (ecr.region, ecr.path)
                and (entry.reference.tag, entry.reference.digest) == (candidate.tag, candidate.digest)
            ):
                return entry
    return None


def _candidates(reference: ImageReference) -> list[ImageReference]:
    out = [reference]
    if reference.digest is not None and reference.tag is not None:
        out.append(ImageReference(reference.domain, reference.path, None, reference.digest))
        out.append(ImageReference(reference.domain, reference.path, reference.tag, None))
    return out


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _sha256(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _resolved(
    image: str,
    reference: ImageReference,
    source: ImageSource,
    content: Mapping[str, Any],
    **fields: Any,
) -> ResolvedImage:
    image_id = _sha256({"source": source.value, **content})
    digest = reference.digest or _sha256({"name": reference.canonical, "image": image_id})
    return ResolvedImage(name=image, source=source.value, digest=digest, image_id=image_id, **fields)


def _from_builtin(
    image: str, reference: ImageReference, builtin: BuiltinImage, image_root: Path | None = None
) -> ResolvedImage:
    module = builtin.module
    entry_point = (sys.executable, "-m", module)
    environment = {"PATH": DEFAULT_PATH, **builtin.environment}
    if image_root is not None:
        environment[IMAGE_ROOT_VARIABLE] = str(image_root)
    content = {"builtin": builtin.name, "module": module, "command": builtin.command, "environment": environment}
    return _resolved(
        image,
        reference,
        ImageSource.BUILTIN,
        content,
        root=None,
        entry_point=entry_point,
        command=tuple(builtin.command),
        environment=environment,
        working_directory=builtin.working_directory,
    )


def _from_entry(image: str, reference: ImageReference, entry: ImageMapEntry) -> ResolvedImage:
    if not entry.path.is_dir():
        raise ImagePullFailed(
            f"{CANNOT_PULL}: failed to resolve ref {reference.canonical}: the image map entry {entry.image!r} "
            f'points at {entry.path}, which is not a directory. Create it or correct "path" in the image map.'
        )
    environment = dict(entry.environment)
    if "PATH" not in environment:
        # The mapped directory plays the image's root: its programs come first, then the host's.
        environment["PATH"] = DEFAULT_PATH if str(entry.path) == "/" else f"{entry.path}:{DEFAULT_PATH}"
    working_directory = entry.working_directory or str(entry.path)
    content = {
        "path": str(entry.path),
        "entryPoint": entry.entry_point,
        "command": entry.command,
        "environment": environment,
        "workingDirectory": working_directory,
        "stopSignal": entry.stop_signal,
    }
    return _resolved(
        image,
        reference,
        ImageSource.IMAGE_MAP,
        content,
        root=None,
        entry_point=entry.entry_point,
        command=entry.command,
        environment=environment,
        working_directory=working_directory,
        stop_signal=entry.stop_signal,
    )


# -- what the process gets ------------------------------------------------------------------------


def process_argv(image: ResolvedImage, entry_point: Sequence[str], command: Sequence[str]) -> list[str]:
    """Docker's ENTRYPOINT/CMD merge (spec/ecs.md §2.4).

    A definition ``entryPoint`` replaces the image's and drops the image's CMD unless the definition
    also gives ``command``; a definition ``command`` alone replaces the image's CMD after the
    image's ENTRYPOINT. An empty list counts as not given (the ECS agent passes none to Docker).
    """
    if entry_point:
        argv = [*entry_point, *command]
    elif command:
        argv = [*image.entry_point, *command]
    else:
        argv = [*image.entry_point, *image.command]
    if not argv:
        raise ContainerCreateFailed(
            f"{CANNOT_CREATE}: Error response from daemon: No command specified. The task definition gives "
            f'neither entryPoint nor command and the image {image.name} has no default; set "command" in the '
            "container definition or in the image map entry."
        )
    return argv


def process_env(
    image: ResolvedImage,
    environment: Mapping[str, str],
    *,
    user: ProcessUser | None = None,
    hostname: str | None = None,
) -> dict[str, str]:
    """The process environment: the image's, then the container's on top (theirs wins), then what
    Docker adds when missing: ``PATH``, ``HOSTNAME`` and the user's ``HOME``."""
    env = {"PATH": DEFAULT_PATH, **image.environment, **environment}
    if hostname and "HOSTNAME" not in env:
        env["HOSTNAME"] = hostname
    if "HOME" not in env:
        env["HOME"] = user.home if user is not None else "/root"
    return env


def process_cwd(image: ResolvedImage, working_directory: str | None) -> str:
    """The definition's ``workingDirectory`` replaces the image's WORKDIR (§2.4); ``/`` without either."""
    return working_directory or image.working_directory or "/"


@dataclass(frozen=True, slots=True)
class ProcessUser:
    uid: int
    gid: int
    groups: tuple[int, ...] = ()  # supplementary groups
    home: str = "/"
    name: str | None = None


def resolve_user(image: ResolvedImage, user: str | None) -> ProcessUser:
    """The container ``user`` (``user``, ``user:group``, ``uid``, ``uid:gid``, ``user:gid``, ``uid:group``;
    §2.4) in the image's ``/etc/passwd`` and ``/etc/group``, with runc's rules: a numeric uid need not
    exist (gid 0, home ``/``), a name must; an explicit group replaces the supplementary groups.
    Raises :class:`ContainerStartFailed` (``CannotStartContainerError: unable to find user …``)."""
    root = image.root or Path("/")
    passwd = _read_database(root / "etc" / "passwd")
    groups = _read_database(root / "etc" / "group")
    user_part, _, group_part = (user or "").partition(":")
    entry = _find(passwd, user_part or "0")
    if entry is not None and (len(entry) < 4 or not entry[2].isdigit()):
        entry = None  # a malformed line is no entry
    if entry is None and not (user_part or "0").isdigit():
        raise ContainerStartFailed(
            f"{CANNOT_START}: unable to find user {user_part}: no matching entries in passwd file "
            f"({root / 'etc' / 'passwd'}). Use a user that exists there, or a numeric uid[:gid]."
        )
    uid = int(entry[2]) if entry else int(user_part or "0")
    gid = int(entry[3]) if entry and entry[3].isdigit() else 0
    home = entry[5] if entry and len(entry) > 5 and entry[5] else "/"
    name = entry[0] if entry else None
    if group_part:
        found = _find(groups, group_part)
        if found is not None and (len(found) < 3 or not found[2].isdigit()):
            found = None
        if found is None and not group_part.isdigit():
            raise ContainerStartFailed(
                f"{CANNOT_START}: unable to find group {group_part}: no matching entries in group file "
                f"({root / 'etc' / 'group'}). Use a group that exists there, or a numeric gid."
            )
        return ProcessUser(uid=uid, gid=int(found[2]) if found else int(group_part), home=home, name=name)
    supplementary = tuple(
        int(line[2])
        for line in groups
        if name and len(line) > 3 and line[2].isdigit() and name in line[3].split(",") and int(line[2]) != gid
    )
    return ProcessUser(uid=uid, gid=gid, groups=supplementary, home=home, name=name)


def _read_database(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#") and ":" in line]


def _find(lines: Sequence[Sequence[str]], wanted: str) -> Sequence[str] | None:
    """The entry named ``wanted``, else the one with that numeric id (names win, as in runc)."""
    for line in lines:
        if line[0] == wanted:
            return line
    if wanted.isdigit():
        for line in lines:
            if len(line) > 2 and line[2] == wanted:
                return line
    return None
