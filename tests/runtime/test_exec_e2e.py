"""ECS Exec on the process runtime, end to end (issue 5; spec/ecs.md §11): ``ecslite exec`` on a pseudo
terminal driven by pexpect runs a shell inside a real container, types a command, reads its output,
resizes the terminal, and exits with the shell's exit code; the session's transcript lands in the
cluster's Exec log group."""

from __future__ import annotations

import os
import sys
from typing import Any

import pexpect

from tests.conftest import make_client
from tests.runtime.conftest import ProcessServer, wait_for
from tests.runtime.test_tasks_e2e import HOST_IMAGE, PROGRAMS, SYSTEM_PYTHON, register, run, stop, wait_status


def exec_task(ecs: Any, endpoint: str) -> str:
    definition = register(
        ecs,
        "exec-e2e",
        {
            "name": "app",
            "image": HOST_IMAGE,
            "entryPoint": [SYSTEM_PYTHON, str(PROGRAMS / "serve.py")],
            "command": ["8080"],
            "user": "nobody",
        },
    )
    (arn,) = run(ecs, endpoint, definition, enableExecuteCommand=True)
    wait_status(ecs, arn, "RUNNING")
    return arn


def spawn_exec(endpoint: str, arn: str, *command: str) -> pexpect.spawn:
    env = {**os.environ, "TERM": "dumb"}
    return pexpect.spawn(
        sys.executable,
        ["-m", "ecslite", "exec", "--endpoint", endpoint, arn, "--", *command],
        env=env,
        dimensions=(40, 120),
        timeout=30,
        encoding="utf-8",
    )


def test_interactive_exec_runs_a_shell_in_the_container_and_returns_its_exit_code(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    logs = make_client("logs", process_endpoint)
    logs.create_log_group(logGroupName="/ecs/exec-sessions")
    process_ecs.update_cluster(
        cluster="default",
        configuration={
            "executeCommandConfiguration": {
                "logging": "OVERRIDE",
                "logConfiguration": {"cloudWatchLogGroupName": "/ecs/exec-sessions"},
            }
        },
    )
    arn = exec_task(process_ecs, process_endpoint)
    child = spawn_exec(process_endpoint, arn, "/bin/sh")
    try:
        child.expect("# ")  # sh's prompt for root: the shell is up and reads its terminal
        child.sendline("echo product=$((6*7)) user=$(id -u)")
        child.expect("product=42 user=0")  # §11.2: commands run as root, whatever the container's user
        child.sendline("stty size")
        child.expect("40 120")
        child.setwinsize(30, 100)
        wait_for(lambda: _size_is(child, "30 100"), 15)
        child.sendline("cat /proc/1/cmdline | tr '\\0' ' '; echo")
        child.expect("serve.py 8080")  # the container's own PID 1: the shell is in its PID namespace
        child.sendline("exit 3")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 3, child.before

    def transcript() -> list[str] | None:
        events = logs.filter_log_events(logGroupName="/ecs/exec-sessions")["events"]
        return [e["message"] for e in events] or None

    lines = wait_for(transcript, 15)
    assert any("product=42 user=0" in line for line in lines)
    streams = logs.describe_log_streams(logGroupName="/ecs/exec-sessions")["logStreams"]
    assert [s["logStreamName"][:20] for s in streams] == ["ecs-execute-command-"]
    stop(process_ecs, arn)


def _size_is(child: pexpect.spawn, size: str) -> bool:
    child.sendline("stty size")
    try:
        child.expect(size, timeout=2)
    except pexpect.TIMEOUT:
        return False
    return True


def test_exec_of_a_command_that_fails_returns_its_code_and_output(
    process_server: ProcessServer, process_ecs: Any, process_endpoint: str
) -> None:
    arn = exec_task(process_ecs, process_endpoint)
    child = spawn_exec(process_endpoint, arn, "sh", "-c", "echo from-inside; exit 7")
    child.expect("from-inside")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 7
    missing = spawn_exec(process_endpoint, arn, "/no/such/program")
    missing.expect("no such file or directory")
    missing.expect(pexpect.EOF)
    missing.close()
    assert missing.exitstatus == 127
    stop(process_ecs, arn)
