"""A task's process sees the variables of an ``environmentFiles`` entry that names an S3 object
put with ``aws s3 cp`` (process runtime): the object ecslite's S3 stores is the file ECS reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REGION
from tests.runtime.test_tasks_e2e import HOST_IMAGE, SYSTEM_PYTHON, output, register, run, wait_status


def test_environment_file_from_s3_reaches_the_process(
    process_ecs: Any, process_endpoint: str, process_server: Any, tmp_path: Path
) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("# from S3\nGREETING=hello from s3\nSHARED=file\n")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
    }
    aws = [str(Path(sys.executable).with_name("aws")), "--endpoint-url", process_endpoint, "s3"]
    subprocess.run([*aws, "mb", "s3://e2e-config"], check=True, env=env, capture_output=True, timeout=60)
    subprocess.run(
        [*aws, "cp", str(env_file), "s3://e2e-config/app.env"], check=True, env=env, capture_output=True, timeout=60
    )
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
