"""Building the shim: ``ecslite-shim.c`` compiled with gcc on first use, cached by its source hash.

The binary lives in ``<cache>/ecslite-shim-<hash>``, where ``<cache>`` is ``$ECSLITE_CACHE_DIR``,
else ``$XDG_CACHE_HOME/ecslite``, else ``~/.cache/ecslite`` (shared by every server of the user, so
parallel test servers compile once). A build writes a temporary file in the same directory and
renames it into place, so concurrent builders never see or leave a half-written binary; a changed
source gets a new name, and shims still running the old binary keep it (the kernel holds it).

Invariant: :func:`ensure_shim` returns a path to an executable built from exactly the packaged
source, or raises :class:`ShimBuildError` saying what is missing and how to install it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

# Static: no dynamic loader, so the init mode runs inside any root filesystem (one without glibc
# too) and a container's LD_* variables never reach the exec helper, which runs on the host.
CFLAGS = ("-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-static")
INSTALL_HINT = "install them with: apt-get install gcc libc6-dev"


class ShimBuildError(Exception):
    """The shim cannot be built on this machine; the message says why and how to fix it."""


def shim_source() -> bytes:
    return resources.files("ecslite.runtime.process").joinpath("shim/ecslite-shim.c").read_bytes()


def source_digest(source: bytes | None = None) -> str:
    data = shim_source() if source is None else source
    return hashlib.sha256(data + " ".join(CFLAGS).encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    explicit = os.environ.get("ECSLITE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ecslite"


def ensure_shim(cache_dir: Path | None = None) -> Path:
    """The path of the shim binary for the packaged source, compiling it if needed."""
    source = shim_source()
    directory = cache_dir or default_cache_dir()
    binary = directory / f"ecslite-shim-{source_digest(source)}"
    if os.access(binary, os.X_OK):
        return binary
    compiler = shutil.which("gcc")
    if compiler is None:
        raise ShimBuildError(f"Cannot build the ecslite shim: gcc is not installed ({INSTALL_HINT}).")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ShimBuildError(f"Cannot build the ecslite shim: cannot create {directory}: {error.strerror}.") from None
    _compile(compiler, source, directory, binary)
    return binary


def _compile(compiler: str, source: bytes, directory: Path, binary: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=".shim-build-", dir=directory) as work:
        src = Path(work) / "ecslite-shim.c"
        src.write_bytes(source)
        out = Path(work) / "ecslite-shim"
        try:
            result = subprocess.run(
                [compiler, *CFLAGS, "-o", str(out), str(src)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ShimBuildError("Cannot build the ecslite shim: gcc did not finish within 120 seconds.") from None
        if result.returncode != 0:
            raise ShimBuildError(explain_build_failure(result.stderr))
        tmp = directory / f".{binary.name}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        shutil.copy2(out, tmp)
        tmp.chmod(0o755)
        os.replace(tmp, binary)


def explain_build_failure(stderr: str) -> str:
    """gcc's complaint, reduced to what the user has to do about it."""
    if "No such file or directory" in stderr and ".h" in stderr:
        missing = next((line.strip() for line in stderr.splitlines() if "fatal error" in line), "a header is missing")
        return f"Cannot build the ecslite shim: the C library headers are missing ({missing}); {INSTALL_HINT}."
    if "cannot find crt" in stderr or "cannot find -lc" in stderr:
        return f"Cannot build the ecslite shim: the C library development files are missing; {INSTALL_HINT}."
    tail = "\n".join(stderr.strip().splitlines()[-20:])
    return f"Cannot build the ecslite shim: gcc failed:\n{tail}"
