"""``ecslite <command> | head``: when the reader of its output goes away, every command ends the way
``git`` and ``kubectl`` do, killed by SIGPIPE (the shell's 141) and silent, never a traceback or
exit status 1 (cli.main.main). Each command runs as a subprocess whose stdout (or stderr) is a pipe
whose read end was closed before it started, so its first write fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningServer, make_client, start_server, stop_server

pytestmark = [pytest.mark.integration]

QUIET_PORTS = ("--otlp-grpc-port", "0", "--otlp-http-port", "0", "--forward-port", "0")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("pipe"), *QUIET_PORTS)
    try:
        make_client("ecs", running.endpoint).create_cluster(clusterName="piped")
        yield running
    finally:
        stop_server(running)


def run_reader_gone(*args: str, stream: str = "stdout") -> subprocess.CompletedProcess[str]:
    """``ecslite ARGS`` with ``stream`` going to a pipe nobody reads any more; the other is captured."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECSLITE_")}
    stdout, stderr = (write_end, subprocess.PIPE) if stream == "stdout" else (subprocess.PIPE, write_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "ecslite", *args],
            stdout=stdout,
            stderr=stderr,
            text=True,
            timeout=60,
            env={**env, "COLUMNS": "200"},
            stdin=subprocess.DEVNULL,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("server", "--help"),
        ("status",),
        ("ps",),
        ("ps", "--json"),
        ("services",),
        ("traces",),
        ("top",),
    ],
    ids=lambda args: " ".join(args),
)
def test_a_command_whose_reader_went_away_dies_of_sigpipe_silently(
    server: RunningServer, args: tuple[str, ...]
) -> None:
    endpoint = ("--endpoint", server.endpoint) if args[0] in ("status", "ps", "services", "traces", "top") else ()
    result = run_reader_gone(*args, *endpoint)
    assert (result.returncode, result.stderr) == (-signal.SIGPIPE, "")


def test_a_command_that_writes_nothing_ends_as_it_would_have(server: RunningServer) -> None:
    result = run_reader_gone("events", "--cluster", "piped", "--endpoint", server.endpoint)
    assert (result.returncode, result.stderr) == (0, "")


def test_an_error_on_stderr_keeps_its_status_when_only_stdout_is_gone(tmp_path: Path) -> None:
    result = run_reader_gone("status", "--endpoint", "http://127.0.0.1:1")
    assert result.returncode == 1
    assert result.stderr.startswith("ecslite is not running at http://127.0.0.1:1.")


def test_an_error_whose_stderr_reader_went_away_dies_of_sigpipe_too() -> None:
    result = run_reader_gone("status", "--endpoint", "http://127.0.0.1:1", stream="stderr")
    assert (result.returncode, result.stdout) == (-signal.SIGPIPE, "")


def test_in_a_shell_pipeline_the_status_is_141(server: RunningServer) -> None:
    # ``true`` exits at once, long before ecslite (a Python program) has imported enough to write.
    script = f"{sys.executable} -m ecslite ps --endpoint {server.endpoint} | true; echo status=${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert (result.stdout, result.stderr) == ("status=141\n", "")


UNFLUSHED = """
import sys
from ecslite.cli import main as cli_main

@cli_main.app.command("unflushed")
def unflushed() -> None:
    sys.stdout.write("left in the buffer\\n")

sys.argv = ["ecslite", "unflushed"]
cli_main.main()
"""


def test_output_left_in_the_buffer_is_flushed_before_exit_and_dies_of_sigpipe_too(tmp_path: Path) -> None:
    # Flushed at interpreter exit instead, it would print "Exception ignored" and end with status 120.
    script = tmp_path / "unflushed.py"
    script.write_text(UNFLUSHED)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, str(script)], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (-signal.SIGPIPE, "")
