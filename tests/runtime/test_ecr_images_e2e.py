"""ECS tasks run images pushed to ecslite's ECR (process runtime): an image made here (a static program
in one layer, a whiteout and a data file in a second) is pushed through the registry API, and a task
naming ``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`` or ``@sha256:…`` runs it in its
unpacked root with the config's entry point, command, environment and working directory."""

from __future__ import annotations

import base64
import json
import platform
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REGION, make_client
from tests.fixtures.capability import missing
from tests.fixtures.oci_push import OCI_INDEX, Image, RegistryClient, layer
from tests.runtime.test_tasks_e2e import container, output, register, run, wait_status

ACCOUNT = "000000000000"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char cwd[256], line[256];
    for (int i = 0; i < argc; i++) printf("arg %s\n", argv[i]);
    printf("greeting %s\n", getenv("GREETING") ? getenv("GREETING") : "(none)");
    printf("cwd %s\n", getcwd(cwd, sizeof cwd));
    FILE *f = fopen("/etc/message", "r");
    if (f && fgets(line, sizeof line, f)) printf("message %s\n", line);
    f = fopen("data.txt", "r");
    if (f && fgets(line, sizeof line, f)) printf("data %s\n", line);
    printf("removed present %d\n", access("/etc/removed", F_OK) == 0);
    printf("host python present %d\n", access("/usr/bin/python3", F_OK) == 0);
    printf("written before %d\n", access("/srv/written", F_OK) == 0);
    f = fopen("/srv/written", "w");
    printf("root writable %d\n", f != NULL && fputs("x", f) >= 0 && fclose(f) == 0);
    printf("uid %d\n", (int)getuid());
    return 0;
}
"""


def build_program(tmp_path: Path) -> bytes:
    if shutil.which("gcc") is None:
        missing("gcc is not installed (./dev installs it)")
    source = tmp_path / "hello.c"
    source.write_text(PROGRAM)
    binary = tmp_path / "hello"
    built = subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(source)], capture_output=True, text=True)
    if built.returncode != 0:
        missing(f"gcc cannot build static programs here: {built.stderr.strip()}")
    return binary.read_bytes()


@pytest.fixture
def pushed(process_endpoint: str, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The ``e2e/hello`` repository with the image pushed as ``v1``; its manifest digest and an ECR client."""
    ecr = make_client("ecr", process_endpoint)
    ecr.create_repository(repositoryName="e2e/hello")
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    client = RegistryClient(process_endpoint, base64.b64decode(token).decode().partition(":")[2])
    image = Image(
        [
            layer(
                {"bin/hello": build_program(tmp_path), "etc/message": "from layer one", "etc/removed": "x"},
                modes={"bin/hello": 0o755},
            ),
            layer({"etc/.wh.removed": b"", "srv/data.txt": "from layer two"}),
        ],
        {
            "Entrypoint": ["/bin/hello"],
            "Cmd": ["default-argument"],
            "Env": ["PATH=/bin", "GREETING=from the image config"],
            "WorkingDir": "/srv",
            "User": "1234",
        },
    )
    try:
        digest = client.push("e2e/hello", "v1", image, chunk=256 * 1024)
        # An index naming it for this machine's architecture (and one that no image of the repository is).
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": image.media_type,
                    "digest": digest,
                    "size": 1,
                    "platform": {"os": "linux", "architecture": arch},
                }
            ],
        }
        put = client.http.put(
            "/v2/e2e/hello/manifests/multi", content=json.dumps(index).encode(), headers={"Content-Type": OCI_INDEX}
        )
        assert put.status_code == 201, put.text
    finally:
        client.close()
    yield digest, ecr
    ecr.delete_repository(repositoryName="e2e/hello", force=True)


def test_a_task_runs_an_image_pushed_to_ecr(
    process_ecs: Any, process_endpoint: str, process_server: Any, pushed: tuple[str, Any]
) -> None:
    digest, _ = pushed
    definition = register(
        process_ecs,
        "e2e-ecr-image",
        {"name": "hello", "image": f"{HOST}/e2e/hello:v1", "essential": True},
        {
            "name": "by-digest",
            "image": f"{HOST}/e2e/hello@{digest}",
            "essential": False,
            "command": ["given"],
            "user": "0",
        },
        {"name": "by-index", "image": f"{HOST}/e2e/hello:multi", "essential": False, "command": ["indexed"]},
    )
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_status(process_ecs, arn, "STOPPED", timeout=90)
    hello = container(task, "hello")
    assert hello.get("exitCode") == 0, task.get("stoppedReason")
    assert hello["imageDigest"] == digest
    lines = [line for stream, line in output(process_server, arn, "hello") if stream == "stdout"]
    assert lines == [
        "arg /bin/hello",
        "arg default-argument",
        "greeting from the image config",
        "cwd /srv",
        "message from layer one",
        "data from layer two",
        "removed present 0",  # the second layer's whiteout
        "host python present 0",  # the image's root, not the host's
        "written before 0",
        "root writable 0",  # the image's user may not write the root-owned /srv
        "uid 1234",  # the image config's User
    ]
    by_digest = [line for _, line in output(process_server, arn, "by-digest")]
    assert by_digest[:2] == ["arg /bin/hello", "arg given"]
    assert by_digest[-2:] == ["root writable 1", "uid 0"]  # the definition's user wins over the image's
    assert container(task, "by-digest").get("exitCode") == 0
    assert [line for _, line in output(process_server, arn, "by-index")][:2] == ["arg /bin/hello", "arg indexed"]
    assert container(task, "by-index").get("exitCode") == 0
    # Each container wrote to a layer of its own: none saw another's file, the image's root is untouched.
    for name in ("by-digest", "by-index"):
        assert "written before 0" in [line for _, line in output(process_server, arn, name)]
    roots = process_server.settings.data_dir / "ecr" / "rootfs"
    assert (roots / digest.removeprefix("sha256:") / "srv" / "data.txt").is_file()
    assert not list(roots.glob("*/srv/written"))  # by-digest wrote it in its own layer


def test_a_tag_missing_from_the_repository_stops_the_task_with_a_pull_error(
    process_ecs: Any, process_endpoint: str, pushed: tuple[str, Any]
) -> None:
    definition = register(process_ecs, "e2e-ecr-missing", {"name": "app", "image": f"{HOST}/e2e/hello:v2"})
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_status(process_ecs, arn, "STOPPED", timeout=60)
    reason = task["stoppedReason"]
    assert task["stopCode"] == "TaskFailedToStart"
    assert reason.startswith(
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
        f"{HOST}/e2e/hello:v2: {HOST}/e2e/hello:v2: not found. "
    )
    assert "has no image with tag v2 (its tags: multi, v1); push it, e.g. docker push 127.0.0.1:" in reason
    assert container(task, "app")["reason"] == reason
