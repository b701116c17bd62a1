"""Unpacking an image's layers into a root filesystem, as a container runtime does.

Layers are tar archives (plain, gzip, bzip2 or xz; zstd where Python reads it) applied in order.
OCI whiteouts remove what lower layers left: ``.wh.NAME`` removes ``NAME`` and ``.wh..wh..opq``
empties its directory; both apply before the layer's own files. Members are extracted with
tarfile's ``tar`` filter, so none lands outside the root (absolute names are made relative, and a
path through a symlink that leads out of the root is skipped); links inside the image keep their
absolute targets, which the container sees from inside its root.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def unpack(layers: Iterable[Path], root: Path) -> None:
    """Apply ``layers`` (bottom first) to the directory ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for layer in layers:
        with tarfile.open(layer, mode="r:*") as archive:
            members = archive.getmembers()
            for member in members:
                _apply_whiteout(root, member.name)
            for member in members:
                name = Path(member.name).name
                if name.startswith(WHITEOUT):
                    continue
                try:
                    archive.extract(member, root, filter=_replacing_filter(root))
                except (tarfile.FilterError, OSError) as error:
                    log.warning("image layer member skipped", extra={"member": member.name, "error": str(error)})


def _replacing_filter(root: Path) -> Callable[[tarfile.TarInfo, str], tarfile.TarInfo | None]:
    """tarfile's ``tar`` filter, after removing what the member replaces (a file where a directory of
    a lower layer stood, or the other way round; tarfile would refuse or merge)."""

    def check(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo | None:
        checked = tarfile.tar_filter(member, destination)
        target = root / checked.name
        if os.path.lexists(target) and not (checked.isdir() and target.is_dir() and not target.is_symlink()):
            _remove(target)
        return checked

    return check


def _apply_whiteout(root: Path, name: str) -> None:
    path = Path(name.lstrip("/"))
    if path.name == OPAQUE:
        directory = _inside(root, path.parent)
        if directory is not None and directory.is_dir() and not directory.is_symlink():
            for child in directory.iterdir():
                _remove(child)
    elif path.name.startswith(WHITEOUT):
        target = _inside(root, path.parent / path.name.removeprefix(WHITEOUT))
        if target is not None and os.path.lexists(target):
            _remove(target)


def _inside(root: Path, relative: Path) -> Path | None:
    """``root / relative`` when no part of it leaves the root (``..`` or a symlinked parent)."""
    if ".." in relative.parts:
        return None
    current = root
    for part in relative.parts[:-1] if relative.parts else ():
        current = current / part
        if current.is_symlink() or not current.is_dir():
            return None
    return root / relative


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
