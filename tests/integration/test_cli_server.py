"""The ``ecslite server`` / ``status`` / ``stop`` commands, run as a user runs them.

Every test runs the real CLI in a subprocess with its own data directory and a clean environment
(no ``ECSLITE_*`` inherited, ``XDG_DATA_HOME`` inside the test's directory). Whatever server a test
starts is stopped by its pid afterwards, also when the test fails.
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

import httpx
import pytest

from ecslite.server import process_exited

Run = Callable[..., subprocess.CompletedProcess[str]]


@dataclass
class Cli:
    run: Run
    home: Path
    started: list[int]

    def server_info(self, data_dir: Path) -> dict[str, object]:
        info: dict[str, object] = json.loads((data_dir / "server.json").read_text())
        pid = info["pid"]
        assert isinstance(pid, int)
        self.started.append(pid)
        return info


def _kill(pid: int) -> None:
    if process_exited(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not process_exited(pid):
        time.sleep(0.05)
    if not process_exited(pid):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECSLITE_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "xdg"), COLUMNS="200", NO_COLOR="1")
    # Several servers run at once here: none takes the well-known OTLP ports.
    env.update(ECSLITE_OTLP_GRPC_PORT="0", ECSLITE_OTLP_HTTP_PORT="0", ECSLITE_FORWARD_PORT="0")
    started: list[int] = []

    def run(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ecslite", *args],
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    state = Cli(run, tmp_path, started)
    try:
        yield state
    finally:
        for data_dir in tmp_path.rglob("server.pid"):
            pid = data_dir.read_text().strip()
            if pid.isdigit():
                started.append(int(pid))
        for pid in set(started):
            _kill(pid)


def test_detached_server_answers_status_and_stops_cleanly(cli: Cli, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    started = cli.run("server", "--detach", "--port", "0", "--data-dir", str(data_dir), "--runtime", "fake")
    assert started.returncode == 0, started.stderr
    info = cli.server_info(data_dir)
    endpoint, pid = str(info["endpoint"]), int(str(info["pid"]))
    assert f"ecslite is running at {endpoint} (pid {pid}" in started.stdout
    assert (data_dir / "server.pid").read_text().strip() == str(pid)

    status = cli.run("status", "--endpoint", endpoint)
    assert status.returncode == 0, status.stderr
    assert "fake (requested with --runtime fake)" in status.stdout
    assert str(pid) in status.stdout
    assert "local CA" in status.stdout  # where HTTPS listeners' requested certificates come from

    stopped = cli.run("stop", "--endpoint", endpoint)
    assert stopped.returncode == 0, stopped.stderr
    assert f"ecslite (pid {pid}) stopped." in stopped.stdout
    assert process_exited(pid)
    assert not (data_dir / "server.json").exists()
    assert not (data_dir / "server.pid").exists()

    after = cli.run("status", "--endpoint", endpoint)
    assert after.returncode == 1
    assert f"ecslite is not running at {endpoint}. Start it with: ecslite server --detach" in after.stderr


def test_second_server_on_the_same_data_dir_is_refused(cli: Cli, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = cli.run("server", "--detach", "--port", "0", "--data-dir", str(data_dir), "--runtime", "fake")
    assert first.returncode == 0, first.stderr
    info = cli.server_info(data_dir)
    pid = int(str(info["pid"]))

    second = cli.run("server", "--port", "0", "--data-dir", str(data_dir), "--runtime", "fake")
    assert second.returncode == 1
    assert f"ecslite is already running for {data_dir} (pid {pid}) at {info['endpoint']}." in second.stderr

    # Without the info file to warn it, a new server still cannot take the directory: the running
    # one holds its lock.
    (data_dir / "server.json").rename(data_dir / "moved.json")
    third = cli.run("server", "--port", "0", "--data-dir", str(data_dir), "--runtime", "fake")
    assert third.returncode == 1
    assert f"Another ecslite server (pid {pid}) is using {data_dir}." in third.stderr
    assert (data_dir / "server.pid").read_text().strip() == str(pid)
    assert httpx.get(f"{info['endpoint']}/_ecslite/health", timeout=5).json()["pid"] == pid


def test_environment_variables_configure_server_and_commands(cli: Cli, tmp_path: Path) -> None:
    data_dir = tmp_path / "from-env"
    server_env = {
        "ECSLITE_DATA_DIR": str(data_dir),
        "ECSLITE_PORT": "0",
        "ECSLITE_RUNTIME": "fake",
        "ECSLITE_REGION": "eu-west-3",
        "ECSLITE_ACCOUNT_ID": "111122223333",
        "ECSLITE_EPHEMERAL": "1",
        "ECSLITE_DEFAULT_CLUSTER": "false",
        "ECSLITE_LOG_LEVEL": "info",
    }
    started = cli.run("server", "--detach", extra_env=server_env)
    assert started.returncode == 0, started.stderr
    info = cli.server_info(data_dir)
    endpoint = str(info["endpoint"])
    assert info["port"] != 4577

    health = httpx.get(f"{endpoint}/_ecslite/health", timeout=5).json()
    assert (health["region"], health["accountId"], health["ephemeral"]) == ("eu-west-3", "111122223333", True)
    assert health["dataDir"] == str(data_dir)
    assert not (data_dir / "state.db").exists()
    unsigned = httpx.post(endpoint, content="Action=GetCallerIdentity&Version=2011-06-15", timeout=5)
    assert "<Account>111122223333</Account>" in unsigned.text
    listed = httpx.post(
        endpoint,
        content="{}",
        headers={"x-amz-target": "AmazonEC2ContainerServiceV20141113.ListClusters"},
        timeout=5,
    )
    assert listed.json() == {"clusterArns": []}  # no `default` cluster created on first use
    assert "Application startup complete." in (data_dir / "server.log").read_text()  # info-level logging

    client_env = {"ECSLITE_ENDPOINT": endpoint}
    status = cli.run("status", extra_env=client_env)
    assert status.returncode == 0, status.stderr
    assert "111122223333 / eu-west-3" in status.stdout
    assert "(in memory)" in status.stdout

    stopped = cli.run("stop", extra_env=client_env)
    assert stopped.returncode == 0, stopped.stderr
    assert process_exited(int(str(info["pid"])))
    assert not (data_dir / "server.json").exists()


def test_stop_without_a_server_exits_nonzero(cli: Cli, tmp_path: Path) -> None:
    endpoint = "http://127.0.0.1:9"  # discard port: nothing answers HTTP there
    stopped = cli.run("stop", "--endpoint", endpoint, "--data-dir", str(tmp_path / "never-used"))
    assert stopped.returncode == 1
    assert f"ecslite is not running at {endpoint}." in stopped.stderr


def test_unknown_runtime_is_refused_before_anything_starts(cli: Cli, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    refused = cli.run("server", "--port", "0", "--data-dir", str(data_dir), "--runtime", "vm")
    assert refused.returncode == 2
    assert "Unknown runtime 'vm'; choose one of auto, process, docker, fake." in refused.stderr
    assert not data_dir.exists()
