"""Helpers shared by the operator CLI tests (no tests here): the CLI run as a subprocess
(``python -m ecslite ...``) with its own AWS configuration, bounded in time, and followers for the
commands that never end on their own (``events -f``, ``top``), read line by line and stopped by pid."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.test_tasks_helpers import SUBNETS

WEB_CONTAINER_NAMES = ("app", "side")


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: test credentials, no AWS config of the host's, no COLUMNS
    (tables written to a pipe are then as wide as their rows)."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        **extra,
    }
    for name in ("COLUMNS", "LINES", "ECSLITE_ENDPOINT", "AWS_PROFILE", "AWS_SESSION_TOKEN", "FORCE_COLOR"):
        if name not in extra:
            env.pop(name, None)
    return env


def run_cli(endpoint: str, env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ecslite", *args, "--endpoint", endpoint]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def run_json(endpoint: str, env: dict[str, str], *args: str) -> Any:
    result = run_cli(endpoint, env, *args, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def table_rows(text: str) -> list[list[str]]:
    """A table's lines split on runs of two or more spaces (cells never hold two spaces in a row)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


class Follower:
    """A CLI command that keeps running: its lines arrive in a queue; stopped by pid at the end."""

    def __init__(self, endpoint: str, env: dict[str, str], *args: str) -> None:
        command = [sys.executable, "-m", "ecslite", *args, "--endpoint", endpoint]
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.errors, stdin=subprocess.DEVNULL, text=True, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, predicate: Callable[[list[str]], bool], timeout: float = 30) -> list[str]:
        """Read lines until ``predicate`` holds for all read so far (at most ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not predicate(self.seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.errors.seek(0)
                raise AssertionError(f"not seen in time; got {self.seen}; stderr: {self.errors.read().decode()}")
            try:
                self.seen.append(self.lines.get(timeout=min(remaining, 0.5)))
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    self.errors.seek(0)
                    raise AssertionError(
                        f"exited {self.process.returncode}; got {self.seen}; stderr: {self.errors.read().decode()}"
                    ) from None
        return self.seen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.pump.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.errors.close()


def web_definition(ecs: Any, *, health: bool = False, app_labels: dict[str, str] | None = None) -> str:
    """``web``: an essential ``app`` (with a health check when asked) and a non-essential ``side``.

    A service reaches its steady state once its tasks are healthy: 5 s after the start with the
    health check (its shortest interval), 40 s without (spec/ecs.md §4.5)."""
    app: dict[str, Any] = {"name": "app", "image": "example/app:1", "essential": True}
    if health:
        app["healthCheck"] = {"command": ["CMD-SHELL", "true"], "interval": 5}
    if app_labels:
        app["dockerLabels"] = app_labels
    side = {"name": "side", "image": "example/side:1", "essential": False, "memory": 128}
    arn: str = ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[app, side],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def create_web_service(ecs: Any, definition: str, *, cluster: str = "prod", desired: int = 2) -> dict[str, Any]:
    service: dict[str, Any] = ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition=definition,
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration=SUBNETS,
    )["service"]
    return service


def wait_for(check: Callable[[], Any], timeout: float = 30, interval: float = 0.2) -> Any:
    """The first truthy answer of ``check`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s; last answer {answer!r}")
        time.sleep(interval)


def steady_service(ecs: Any, cluster: str = "prod", service: str = "web", timeout: float = 30) -> dict[str, Any]:
    """The service once its PRIMARY rollout is COMPLETED and it said it reached a steady state."""

    def check() -> dict[str, Any] | None:
        found: dict[str, Any] = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        primary = next(d for d in found["deployments"] if d["status"] == "PRIMARY")
        done = primary.get("rolloutState") == "COMPLETED" and found["runningCount"] == found["desiredCount"]
        steady = found["events"] and found["events"][0]["message"].endswith("has reached a steady state.")
        return found if done and steady else None

    result: dict[str, Any] = wait_for(check, timeout)
    return result
