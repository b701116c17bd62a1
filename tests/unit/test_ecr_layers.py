"""Unpacking image layers (whiteouts, replacements, paths that try to leave the root) and registry
passwords (signed, scoped, expiring)."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

from ecslite.providers.ecr.auth import TokenSigner
from ecslite.runtime.process.layers import unpack


def tar(path: Path, entries: list[tuple[str, str | bytes | None]]) -> Path:
    """Entries are (name, content): bytes or str a file, ``"->T"`` a symlink to T, None a directory."""
    with tarfile.open(path, "w:gz") as archive:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            elif isinstance(content, str) and content.startswith("->"):
                info.type, info.linkname = tarfile.SYMTYPE, content[2:]
                archive.addfile(info)
            else:
                data = content.encode() if isinstance(content, str) else content
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def test_whiteouts_remove_lower_files_and_opaque_directories_empty_them(tmp_path: Path) -> None:
    lower = tar(
        tmp_path / "1.tgz",
        [("etc", None), ("etc/keep", "k"), ("etc/gone", "g"), ("var/cache/a", "a"), ("var/cache/b", "b")],
    )
    upper = tar(
        tmp_path / "2.tgz",
        [("etc/.wh.gone", b""), ("var/cache/.wh..wh..opq", b""), ("var/cache/c", "c"), ("etc/new", "n")],
    )
    root = tmp_path / "root"
    unpack([lower, upper], root)
    assert sorted(p.name for p in (root / "etc").iterdir()) == ["keep", "new"]
    assert sorted(p.name for p in (root / "var/cache").iterdir()) == ["c"]  # the layer's own file survives


def test_a_file_replaces_a_directory_and_a_symlink_replaces_a_file(tmp_path: Path) -> None:
    lower = tar(tmp_path / "1.tgz", [("thing/inside", "x"), ("bin/sh", "old shell")])
    upper = tar(tmp_path / "2.tgz", [("thing", "now a file"), ("bin/sh", "->/bin/busybox")])
    root = tmp_path / "root"
    unpack([lower, upper], root)
    assert (root / "thing").read_text() == "now a file"
    assert (root / "bin/sh").is_symlink() and str((root / "bin/sh").readlink()) == "/bin/busybox"


def test_nothing_lands_outside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = tar(
        tmp_path / "evil.tgz",
        [
            ("../escaped", "x"),
            ("link", f"->{outside}"),
            ("link/through-symlink", "x"),
            ("/abs/file", "made relative"),
            ("link/.wh.victim", b""),
        ],
    )
    (outside / "victim").write_text("still here")
    root = tmp_path / "root"
    unpack([evil], root)
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert not (tmp_path / "escaped").exists()
    assert (root / "abs/file").read_text() == "made relative"


def test_passwords_are_signed_scoped_and_expire(tmp_path: Path) -> None:
    signer = TokenSigner(tmp_path / "ecr")
    token = signer.token("111122223333", "eu-west-1", expires=1000.0)
    header = f"Basic {token}"
    grant = signer.check(header, now=999.0)
    assert grant is not None and (grant.account, grant.region) == ("111122223333", "eu-west-1")
    assert signer.check(header, now=1000.0) is None  # expired
    _, _, password = base64.b64decode(token).decode().partition(":")
    _, _, signature = password.partition(".")
    other = base64.urlsafe_b64encode(b'{"a":"999999999999","r":"eu-west-1","e":5000}').decode()
    assert signer.check("Basic " + base64.b64encode(f"AWS:{other}.{signature}".encode()).decode(), 0) is None
    assert signer.check(None, 0) is None and signer.check("Bearer x", 0) is None
    # The key is kept, so a restarted server still accepts the passwords it gave out.
    assert TokenSigner(tmp_path / "ecr").check(header, now=999.0) == grant
    assert (tmp_path / "ecr" / "auth.key").stat().st_mode & 0o777 == 0o600
