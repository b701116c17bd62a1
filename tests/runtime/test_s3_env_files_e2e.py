"""A task's process sees the variables of an ``environmentFiles`` entry that names an S3 object
put with ``aws s3 cp`` (process runtime): the object ecslite's S3 stores is the file ECS reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import REGION
from tests.fixtures.aws_cli import run_aws
from tests.runtime.test_tasks_e2e import HOST_IMAGE, SYSTEM_PYTHON, output, register, run, wait_status


def test_environment_file_from_s3_reaches_the_process(
    process_ecs: Any, process_endpoint: str, process_server: Any, tmp_path: Path
) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("# from S3\nGREETING=hello from s3\nSHARED=file\n")
    run_aws(process_endpoint, tmp_path, "s3", "mb", "s3://e2e-config", region=REGION)
    run_aws(process_endpoint, tmp_path, "s3", "cp", str(env_file), "s3://e2e-config/app.env", region=REGION)
    script = "import os; print(os.environ['GREETING'], os.environ['SHARED'], sep='|')"
    definition = register(
        process_ecs,
        "e2e-s3-env",
        {
            "name": "printer",
            "image": HOST_IMAGE,
            "essential": True,
            "entryPoint": [SYSTEM_PYTHON, "-c", script],
            "environment": [{"name": "SHARED", "value": "definition"}],
            "environmentFiles": [{"value": "arn:aws:s3:::e2e-config/app.env", "type": "s3"}],
        },
    )
    (arn,) = run(process_ecs, process_endpoint, definition)
    task = wait_status(process_ecs, arn, "STOPPED", timeout=60)
    assert task["containers"][0].get("exitCode") == 0, task.get("stoppedReason")
    assert ("stdout", "hello from s3|definition") in output(process_server, arn, "printer")
