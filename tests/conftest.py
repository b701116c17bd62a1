"""Fixtures shared by every test: a real ecslite server on a free loopback port, and clients for it.

The server is started once per test worker as a subprocess (``python -m ecslite server``), with
its state in memory and the fake runtime; each test starts from an empty store through
``POST /_ecslite/reset``. It is stopped by its pid when the worker finishes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

# AwsCliError is imported from here by tests.
from tests.fixtures.aws_cli import AwsCliError as AwsCliError
from tests.fixtures.aws_cli import run_aws

REPO = Path(__file__).resolve().parents[1]
# Servers started by tests never take the well-known OTLP ports (4317/4318): several run at once.
os.environ.setdefault("ECSLITE_OTLP_GRPC_PORT", "0")
os.environ.setdefault("ECSLITE_OTLP_HTTP_PORT", "0")
os.environ.setdefault("ECSLITE_FORWARD_PORT", "0")


@dataclass
class RunningServer:
    endpoint: str
    pid: int
    data_dir: Path
    process: subprocess.Popen[bytes]

    def reset(self) -> None:
        httpx.post(f"{self.endpoint}/_ecslite/reset", timeout=10).raise_for_status()

    def health(self) -> dict[str, Any]:
        response = httpx.get(f"{self.endpoint}/_ecslite/health", timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


def start_server(data_dir: Path, *extra: str, ephemeral: bool = True, timeout: float = 30) -> RunningServer:
    """Start ``ecslite server`` on a free port and wait until it answers its health check."""
    data_dir.mkdir(parents=True, exist_ok=True)
    info_file = data_dir / "server.json"
    info_file.unlink(missing_ok=True)
    args = [
        sys.executable,
        "-m",
        "ecslite",
        "server",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--runtime",
        "fake",
    ]
    if ephemeral:
        args.append("--ephemeral")
    log = open(data_dir / "server.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen([*args, *extra], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ecslite exited with {process.returncode}: {(data_dir / 'server.log').read_text()}")
        try:
            info = json.loads(info_file.read_text())
            if info["pid"] == process.pid:
                server = RunningServer(info["endpoint"], process.pid, data_dir, process)
                server.health()
                return server
        except (FileNotFoundError, json.JSONDecodeError, KeyError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("ecslite did not start in time")


def stop_server(server: RunningServer, sig: int = signal.SIGTERM) -> None:
    if server.process.poll() is None:
        os.kill(server.pid, sig)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.process.wait(timeout=5)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("ecslite"))
    yield running
    stop_server(running)


@pytest.fixture
def endpoint(server: RunningServer) -> str:
    server.reset()
    return server.endpoint


REGION = "us-east-1"
CLIENT_CONFIG = Config(inject_host_prefix=False, retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)


def make_client(service: str, endpoint: str, region: str = REGION, access_key: str = "test") -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key="test",
        config=CLIENT_CONFIG,
    )


@pytest.fixture
def ecs(endpoint: str) -> Any:
    return make_client("ecs", endpoint)


@pytest.fixture
def ec2(endpoint: str) -> Any:
    return make_client("ec2", endpoint)


@pytest.fixture
def elbv2(endpoint: str) -> Any:
    return make_client("elbv2", endpoint)


@pytest.fixture
def sts(endpoint: str) -> Any:
    return make_client("sts", endpoint)


@pytest.fixture
def aws(endpoint: str, tmp_path: Path) -> Callable[..., Any]:
    """Run the AWS CLI (the ``awscli`` package) against the server; returns the parsed JSON output."""

    def run(*args: str) -> Any:
        out = run_aws(endpoint, tmp_path, "--output", "json", *args, region=REGION)
        return json.loads(out) if out.strip() else None

    return run
