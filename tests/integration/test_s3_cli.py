"""S3 through the AWS CLI's high-level commands (``aws s3 mb/cp/ls/sync/rm/rb``), which use
multipart uploads and ranged downloads for large files and the listing's delimiter and pagination."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REGION, AwsCliError
from tests.fixtures.aws_cli import run_aws


@pytest.fixture
def aws(endpoint: str, tmp_path: Path) -> Callable[..., Any]:
    """The CLI against the server: JSON output parsed for ``s3api``, text for ``s3`` (which has no JSON)."""

    def run(*args: str) -> Any:
        out = run_aws(endpoint, tmp_path, "--output", "json", *args, region=REGION, timeout=120)
        if args[0] == "s3api":
            return json.loads(out) if out.strip() else None
        return out

    return run


def test_mb_cp_ls_rm_rb(aws: Callable[..., Any], tmp_path: Path) -> None:
    local = tmp_path / "hello.txt"
    local.write_text("hello from the cli\n")
    aws("s3", "mb", "s3://cli-bucket")
    aws("s3", "cp", str(local), "s3://cli-bucket/docs/hello.txt")
    listing = _text(aws, "s3", "ls", "s3://cli-bucket/")
    assert "PRE docs/" in listing
    assert "hello.txt" in _text(aws, "s3", "ls", "s3://cli-bucket/docs/")
    assert "cli-bucket" in _text(aws, "s3", "ls")
    back = tmp_path / "back.txt"
    aws("s3", "cp", "s3://cli-bucket/docs/hello.txt", str(back))
    assert back.read_text() == "hello from the cli\n"
    with pytest.raises(AwsCliError) as raised:
        aws("s3", "rb", "s3://cli-bucket")
    assert "BucketNotEmpty" in raised.value.stderr
    aws("s3", "rm", "s3://cli-bucket/docs/hello.txt")
    assert _text(aws, "s3", "ls", "s3://cli-bucket/") == ""
    aws("s3", "rb", "s3://cli-bucket")
    assert "cli-bucket" not in _text(aws, "s3", "ls")


def test_cp_of_a_large_file_uses_multipart_copies_and_comes_back_identical(
    aws: Callable[..., Any], tmp_path: Path
) -> None:
    source = tmp_path / "large.bin"
    source.write_bytes(os.urandom(20 * 1024 * 1024 + 123))
    aws("s3", "mb", "s3://large-files")
    aws("s3", "cp", str(source), "s3://large-files/large.bin")
    head = aws("s3api", "head-object", "--bucket", "large-files", "--key", "large.bin")
    assert head["ContentLength"] == source.stat().st_size and head["ETag"].endswith('-3"')
    # A copy of a large object between keys goes through UploadPartCopy with source ranges.
    aws("s3", "cp", "s3://large-files/large.bin", "s3://large-files/copy.bin")
    copied = aws("s3api", "head-object", "--bucket", "large-files", "--key", "copy.bin")
    assert copied["ContentLength"] == source.stat().st_size and copied["ETag"].endswith('-3"')
    back = tmp_path / "back.bin"
    aws("s3", "cp", "s3://large-files/copy.bin", str(back))
    assert hashlib.sha256(back.read_bytes()).hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()


def test_sync_uploads_only_what_changed_and_deletes(aws: Callable[..., Any], tmp_path: Path) -> None:
    tree = tmp_path / "site"
    (tree / "css").mkdir(parents=True)
    (tree / "index.html").write_text("<h1>v1</h1>")
    (tree / "css" / "app.css").write_text("body{}")
    aws("s3", "mb", "s3://site-bucket")
    aws("s3", "sync", str(tree), "s3://site-bucket/www")
    keys = aws("s3api", "list-objects-v2", "--bucket", "site-bucket")["Contents"]
    assert sorted(k["Key"] for k in keys) == ["www/css/app.css", "www/index.html"]
    (tree / "css" / "app.css").unlink()
    (tree / "index.html").write_text("<h1>version two</h1>")
    aws("s3", "sync", str(tree), "s3://site-bucket/www", "--delete")
    keys = aws("s3api", "list-objects-v2", "--bucket", "site-bucket")["Contents"]
    assert [k["Key"] for k in keys] == ["www/index.html"]
    mirror = tmp_path / "mirror"
    aws("s3", "sync", "s3://site-bucket/www", str(mirror))
    assert (mirror / "index.html").read_text() == "<h1>version two</h1>"
    aws("s3", "rb", "s3://site-bucket", "--force")
    assert "site-bucket" not in _text(aws, "s3", "ls")


def test_s3api_errors_name_the_s3_code(aws: Callable[..., Any]) -> None:
    with pytest.raises(AwsCliError) as raised:
        aws("s3api", "get-object", "--bucket", "no-such-bucket-here", "--key", "k", "/dev/null")
    assert "NoSuchBucket" in raised.value.stderr


def _text(aws: Callable[..., Any], *args: str) -> str:
    return str(aws(*args))
