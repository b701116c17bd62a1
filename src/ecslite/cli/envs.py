"""Virtualenvs of a project's ``[environments.<name>]`` tables, built once and cached.

A virtualenv is keyed by its requirements file and the Python version that builds it:
``<cache>/<name>-<first 16 hex of sha256(requirements + "python3.11")>/`` (examples/otel-demo
README, "Virtualenvs"). The cache is ``$ECSLITE_VENV_CACHE``, else ``$XDG_CACHE_HOME/ecslite/venvs``,
else ``~/.cache/ecslite/venvs``.

Invariants: a virtualenv is complete once ``.complete`` exists (written last); it is built under an
exclusive file lock beside it, so parallel builders (test workers, two ``ecslite up``) build each
one once; a failed build leaves nothing behind. The project's ``.venvs/<name>`` is a symlink to the
cached virtualenv, replaced atomically, which is what the image map's interpreters name.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LINK_DIR = ".venvs"
COMPLETE = ".complete"
PIP_TIMEOUT_SECONDS = 900


class EnvironmentBuildFailed(Exception):
    """A virtualenv could not be built; the message names the requirements file and pip's output."""


@dataclass(frozen=True, slots=True)
class PreparedEnvironment:
    name: str
    path: Path  # the cached virtualenv
    built: bool  # False when the cache already had it


def cache_root() -> Path:
    configured = os.environ.get("ECSLITE_VENV_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ecslite" / "venvs"


def python_tag() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def venv_key(requirements: Path) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(python_tag().encode())
    return digest.hexdigest()[:16]


def cached_path(name: str, requirements: Path) -> Path:
    return cache_root() / f"{name}-{venv_key(requirements)}"


def is_cached(name: str, requirements: Path) -> bool:
    return (cached_path(name, requirements) / COMPLETE).exists()


def ensure_venv(
    name: str, requirements: Path, project_dir: Path, *, on_build: Callable[[str], None] | None = None
) -> PreparedEnvironment:
    """The cached virtualenv ``name`` for ``requirements``, built when missing, linked as
    ``project_dir/.venvs/<name>``; raises :class:`EnvironmentBuildFailed` when pip fails."""
    target = cached_path(name, requirements)
    target.parent.mkdir(parents=True, exist_ok=True)
    built = False
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / COMPLETE).exists():
            if on_build is not None:
                on_build(name)
            _build(target, requirements)
            built = True
    link(project_dir / LINK_DIR / name, target)
    return PreparedEnvironment(name, target, built)


def _build(target: Path, requirements: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    if _has_pip():
        # This interpreter's pip installs into the new environment: no pip bootstrap per virtualenv.
        _run([sys.executable, "-m", "venv", "--without-pip", str(target)], target, requirements)
        pip = [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python")]
    else:
        _run([sys.executable, "-m", "venv", str(target)], target, requirements)
        pip = [str(target / "bin" / "python"), "-m", "pip"]
    _run([*pip, "install", "-q", "--disable-pip-version-check", "-r", str(requirements)], target, requirements)
    (target / COMPLETE).write_text(requirements.read_text())


def _has_pip() -> bool:
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    return probe.returncode == 0


def _run(argv: list[str], target: Path, requirements: Path) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        shutil.rmtree(target, ignore_errors=True)
        raise EnvironmentBuildFailed(
            f"Building the virtualenv for {requirements} took longer than {PIP_TIMEOUT_SECONDS} s."
        ) from None
    if result.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        output = (result.stdout + result.stderr).strip()[-3000:]
        raise EnvironmentBuildFailed(f"Building the virtualenv for {requirements} failed ({argv[2]}):\n{output}")


def link(path: Path, target: Path) -> None:
    """Point the symlink ``path`` at ``target`` (atomically; nothing is done when it already does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() and Path(os.readlink(path)) == target:
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target)
    os.replace(temporary, path)
