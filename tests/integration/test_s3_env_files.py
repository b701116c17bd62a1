"""ECS reads ``environmentFiles`` given as S3 ARNs from the objects ecslite's S3 holds: a file put
with ``aws s3 cp`` lets the task start, and once it is removed a new task fails to start with
ECS's reason naming the file (fake runtime; tests/runtime/test_s3_env_files_e2e.py shows the
variables inside a real process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import REGION
from tests.fixtures.aws_cli import run_aws
from tests.integration.test_tasks_helpers import app, fargate_definition, run_fargate, wait_status

ENV_FILES_FAILED = "ResourceInitializationError: failed to download env files: "


def cli(endpoint: str, tmp_path: Path, *args: str) -> None:
    run_aws(endpoint, tmp_path, *args, region=REGION)


def test_env_file_uploaded_with_the_cli_is_what_the_task_reads(ecs: Any, endpoint: str, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("GREETING=hello from s3\n")
    cli(endpoint, tmp_path, "s3", "mb", "s3://task-config")
    cli(endpoint, tmp_path, "s3", "cp", str(env_file), "s3://task-config/prod/app.env")
    container = app(environmentFiles=[{"value": "arn:aws:s3:::task-config/prod/app.env", "type": "s3"}])
    definition = fargate_definition(ecs, container)
    running = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    assert wait_status(ecs, running, "RUNNING")["containers"][0]["lastStatus"] == "RUNNING"
    cli(endpoint, tmp_path, "s3", "rm", "s3://task-config/prod/app.env")
    failing = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    stopped = wait_status(ecs, failing, "STOPPED")
    assert stopped["stoppedReason"].startswith(ENV_FILES_FAILED)
    assert "task-config/prod/app.env" in stopped["stoppedReason"]
