"""Where S3 objects are put on disk: at ``<bucket>/<key>`` where ECS reads them, elsewhere when no
file can be named after the key or its path is taken by another key's file or directory."""

from __future__ import annotations

from pathlib import Path

from ecslite.providers.s3.files import WORK_DIR, ObjectFiles, natural_path


def temporary(files: ObjectFiles, data: bytes) -> Path:
    path = files.work / "tmp" / data.hex()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_keys_that_cannot_be_paths_have_no_natural_path() -> None:
    assert natural_path("b", "dir/app.env") == "b/dir/app.env"
    for key in ("dir/", "a//b", "../x", "./x", "a/../../etc", "x" * 256, "nul\x00"):
        assert natural_path("b", key) is None, key


def test_objects_land_where_environment_files_are_read(tmp_path: Path) -> None:
    files = ObjectFiles(tmp_path)
    assert files.place(temporary(files, b"A=1"), "b", "conf/app.env", None) == "b/conf/app.env"
    assert (tmp_path / "b" / "conf" / "app.env").read_bytes() == b"A=1"


def test_a_file_left_from_an_earlier_store_is_replaced(tmp_path: Path) -> None:
    files = ObjectFiles(tmp_path)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "app.env").write_bytes(b"OLD=1")
    assert files.place(temporary(files, b"NEW=1"), "b", "app.env", None) == "b/app.env"
    assert (tmp_path / "b" / "app.env").read_bytes() == b"NEW=1"


def test_keys_whose_path_is_taken_go_to_the_work_directory(tmp_path: Path) -> None:
    files = ObjectFiles(tmp_path)
    assert files.place(temporary(files, b"file"), "b", "a", None) == "b/a"
    nested = files.place(temporary(files, b"nested"), "b", "a/b", None)
    assert nested.startswith(f"{WORK_DIR}/objects/b/")
    assert files.place(temporary(files, b"deep"), "b", "d/e", None) == "b/d/e"
    over_dir = files.place(temporary(files, b"dir"), "b", "d", None)
    assert over_dir.startswith(f"{WORK_DIR}/objects/b/") and over_dir != nested
    assert (tmp_path / over_dir).read_bytes() == b"dir" and (tmp_path / "b" / "d" / "e").read_bytes() == b"deep"


def test_removing_an_object_prunes_empty_directories_but_not_the_bucket(tmp_path: Path) -> None:
    files = ObjectFiles(tmp_path)
    files.make_bucket("b")
    files.place(temporary(files, b"x"), "b", "deep/er/key", None)
    files.remove("b/deep/er/key", "b")
    assert not (tmp_path / "b" / "deep").exists() and (tmp_path / "b").is_dir()
