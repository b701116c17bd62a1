"""Named network namespaces, ``ip netns``-compatible, made with the syscalls ``ip`` itself uses.

A namespace is kept alive by a bind mount of its ``/proc/…/ns/net`` on ``/run/netns/<name>``,
so it outlives the process that made it (tasks survive restarts of the server) and ``ip netns``,
``nsenter --net=`` and the shim can all use it by path. ``/run/netns`` is made a shared mount
first, as ``ip netns add`` does, so the bind mounts propagate into containers' mount namespaces
and are released everywhere when the namespace is deleted.

:func:`create` switches only the calling thread into the new namespace (``unshare`` of
``CLONE_NEWNET`` is per thread) and back before it returns, handing out a netlink socket and a
descriptor opened inside; call it on a thread the runtime owns, never on the event loop.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from pathlib import Path

from ecslite.runtime.process.netlink import Netlink

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED = 0x1000, 0x4000, 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int) -> int:
    return int(
        _libc.mount(
            source.encode() if source else None, target.encode(), fstype.encode() if fstype else None, flags, None
        )
    )


def path_of(name: str) -> Path:
    return NETNS_DIR / name


def prepare_dir() -> None:
    """Make ``/run/netns`` exist and be a shared mount (what ``ip netns add`` does once)."""
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    target = str(NETNS_DIR)
    if _mount("", target, "none", MS_SHARED | MS_REC) == 0:
        return
    if ctypes.get_errno() != errno.EINVAL:
        _check(-1, f"making {target} a shared mount")
    # Not a mount point yet: bind it onto itself, then share it.
    _check(_mount(target, target, "none", MS_BIND | MS_REC), f"bind-mounting {target}")
    _check(_mount("", target, "none", MS_SHARED | MS_REC), f"making {target} a shared mount")


class Namespace:
    """A namespace just made: its path, a netlink socket inside it and a descriptor of it.

    Close it when done configuring; the namespace itself lives on (its bind mount holds it).
    """

    def __init__(self, path: Path, netlink: Netlink, fd: int) -> None:
        self.path = path
        self.netlink = netlink
        self.fd = fd

    def close(self) -> None:
        self.netlink.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def create(name: str) -> Namespace:
    """Create the named namespace; an existing one with that name is replaced."""
    path = path_of(name)
    if path.exists():
        delete(name)
    host = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        path.touch(mode=0o444, exist_ok=False)
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            try:
                netlink = Netlink()
                fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                _check(_mount("/proc/thread-self/ns/net", str(path), "none", MS_BIND), f"bind-mounting {path}")
            finally:
                # Back to the host namespace whatever happened: this thread serves other calls.
                _check(_libc.setns(host, CLONE_NEWNET), "setns back to the host network namespace")
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
    finally:
        os.close(host)
    return Namespace(path, netlink, fd)


def bind(existing: str, new: str) -> None:
    """Name an existing namespace ``new`` as well (a second bind mount of it); an existing namespace
    called ``new`` is replaced. Either name can then be deleted without the other's namespace going."""
    source, target = path_of(existing), path_of(new)
    if target.exists():
        delete(new)
    target.touch(mode=0o444, exist_ok=False)
    try:
        _check(_mount(str(source), str(target), "none", MS_BIND), f"bind-mounting {source} on {target}")
    except OSError:
        with contextlib.suppress(OSError):
            target.unlink()
        raise


def delete(name: str) -> bool:
    """Unmount and remove the named namespace; False when there was none."""
    path = path_of(name)
    if not path.exists():
        return False
    if _libc.umount2(str(path).encode(), MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        _check(-1, f"unmounting {path}")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True


def names() -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []
