"""Tasks survive ``kill -9`` of the server (issue 4; design.md "Runtimes": the per-task shim).

Ten tasks serve HTTP while the server is killed; an eleventh exits with code 7 while no server
runs. The restarted server re-attaches: the same ARNs are RUNNING with the same processes (pid and
kernel start time unchanged, still answering on their addresses), and the task whose container
exited meanwhile is STOPPED with that container's real exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.runtime.conftest import Restartable, wait_for
from tests.runtime.test_tasks_e2e import container, details, info, program, register, run, wait_status

RUNNING_TASKS = 10


def process_of(data_dir: Path, arn: str, name: str) -> tuple[int, str]:
    """The container's host pid (from the shim's start record) and its kernel start time."""
    record = (data_dir / "runtime" / "tasks" / arn.rsplit("/", 1)[1] / f"{name}.started").read_text()
    pid = int(dict(line.split("=", 1) for line in record.split())["pid"])
    return pid, Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def exit_recorded(data_dir: Path, arn: str, name: str) -> bool:
    return (data_dir / "runtime" / "tasks" / arn.rsplit("/", 1)[1] / f"{name}.exit").exists()


def test_kill_9_of_the_server_leaves_tasks_running_and_a_restart_reattaches(restartable_server: Restartable) -> None:
    server = restartable_server.start()
    ecs = server.ecs()
    serving = register(ecs, "restart-serve", program("web", "serve.py", "8080"))
    exiting = register(
        ecs,
        "restart-exit",
        program("job", "exit_after.py", "3", "7", "--when-up", "8080"),
        program("web", "serve.py", "8080"),
    )
    arns = run(ecs, server.endpoint, serving, count=RUNNING_TASKS)
    (doomed,) = run(ecs, server.endpoint, exiting)
    tasks = {arn: wait_status(ecs, arn, "RUNNING") for arn in [*arns, doomed]}
    before = {arn: process_of(restartable_server.data_dir, arn, "web") for arn in arns}
    answers = {arn: info(details(tasks[arn])["privateIPv4Address"], 8080)["started"] for arn in arns}
    assert not exit_recorded(restartable_server.data_dir, doomed, "job")

    restartable_server.kill()
    wait_for(lambda: exit_recorded(restartable_server.data_dir, doomed, "job"), timeout=30)
    server = restartable_server.start()
    ecs = server.ecs()

    listed: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(desiredStatus="RUNNING"):
        listed.extend(page["taskArns"])

    def settled() -> dict[str, Any] | None:
        task = ecs.describe_tasks(tasks=[doomed])["tasks"][0]
        return task if task["lastStatus"] == "STOPPED" else None

    stopped = wait_for(settled, timeout=60)
    assert (stopped["stopCode"], stopped["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert container(stopped, "job")["exitCode"] == 7
    assert set(arns) <= set(listed)
    after = ecs.describe_tasks(tasks=arns)["tasks"]
    assert {t["taskArn"]: t["lastStatus"] for t in after} == dict.fromkeys(arns, "RUNNING")
    assert {arn: process_of(restartable_server.data_dir, arn, "web") for arn in arns} == before
    for task in after:
        assert info(details(task)["privateIPv4Address"], 8080)["started"] == answers[task["taskArn"]]
    for arn in arns:
        ecs.stop_task(task=arn)
    for arn in arns:
        assert container(wait_status(ecs, arn, "STOPPED", timeout=60), "web")["exitCode"] == 0
