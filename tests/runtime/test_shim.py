"""The shim alone: its protocol, containers it starts, their output and exit records (shim/ecslite-shim.c)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ecslite.runtime.process.cgroups import Cgroups, Layout, Limits
from ecslite.runtime.process.shim_build import ShimBuildError, ensure_shim, explain_build_failure, source_digest
from ecslite.runtime.process.shim_client import (
    Bind,
    LaunchSpec,
    ShimClient,
    launch_shim,
    read_exit,
    read_started,
    shim_alive,
)
from tests.fixtures.capability import missing
from tests.runtime.conftest import require_process_runtime, wait_for

PATH = "/usr/local/bin:/usr/bin:/bin"
RECORD = re.compile(rb"^(\d+\.\d{9}) (stdout|stderr) (.*)$")


class Shim:
    """A shim serving a temporary task directory, driven over its socket line by line."""

    def __init__(self, binary: Path, task_dir: Path) -> None:
        self.binary = binary
        self.dir = task_dir
        self.events: list[str] = []
        self.sockets: list[socket.socket] = []
        out = subprocess.run([str(binary), "serve", str(task_dir)], capture_output=True, text=True, check=True)
        self.pid = int(out.stdout)
        self.sock = self.connect()

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX)
        self.sockets.append(sock)
        sock.settimeout(10)
        sock.connect(str(self.dir / "shim.sock"))
        hello = self.readline(sock)
        assert hello == f"hello ecslite-shim 1 {self.pid}", hello
        return sock

    @staticmethod
    def readline(sock: socket.socket) -> str:
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(1)
            if not chunk:
                raise EOFError(data)
            data += chunk
        return data.decode().rstrip("\n")

    def request(self, line: str, sock: socket.socket | None = None) -> str:
        """Send a request; events that arrive first are kept in ``self.events``."""
        sock = sock or self.sock
        sock.sendall(line.encode() + b"\n")
        while True:
            answer = self.readline(sock)
            if not answer.startswith("event "):
                return answer
            self.events.append(answer)

    def start(self, name: str, spec: LaunchSpec) -> int:
        (self.dir / f"{name}.spec").write_bytes(spec.encode())
        answer = self.request(f"start {name}")
        assert answer.startswith("ok "), answer
        return int(answer.split()[1])

    def wait_exit(self, name: str, timeout: float = 10.0) -> int | None:
        record = wait_for(lambda: read_exit(self.dir / f"{name}.exit"), timeout)
        return record.code

    def output(self, name: str) -> list[tuple[str, bytes]]:
        lines = (self.dir / f"{name}.log").read_bytes().split(b"\n")
        assert lines[-1] == b""
        records = []
        for line in lines[:-1]:
            match = RECORD.match(line)
            assert match, line
            records.append((match.group(2).decode(), match.group(3)))
        return records

    def kill_everything(self) -> None:
        for sock in self.sockets:
            sock.close()
        for started in self.dir.glob("*.started"):
            record = read_started(started)
            if record is not None and not (self.dir / started.name.replace(".started", ".exit")).exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(record.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        wait_for(lambda: not shim_alive(self.dir))


@pytest.fixture(scope="module")
def binary() -> Path:
    require_process_runtime()
    return ensure_shim()


@pytest.fixture
def shim(binary: Path, tmp_path: Path) -> Iterator[Shim]:
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    running = Shim(binary, task_dir)
    yield running
    running.kill_everything()


def sh(script: str, **changes: Any) -> LaunchSpec:
    return replace(LaunchSpec(argv=("sh", "-c", script), env={"PATH": PATH}), **changes)


def python(code: str, **changes: Any) -> LaunchSpec:
    return replace(LaunchSpec(argv=(sys.executable, "-c", textwrap.dedent(code)), env={"PATH": PATH}), **changes)


# -- output and exits --------------------------------------------------------------------------------


def test_output_lines_are_timestamped_records_of_their_stream(shim: Shim) -> None:
    before = time.time()
    shim.start("app", sh("echo one; echo two >&2; printf 'three'; exit 3"))
    assert shim.wait_exit("app") == 3
    records = shim.output("app")
    assert sorted(records) == sorted([("stdout", b"one"), ("stderr", b"two"), ("stdout", b"three")])
    stamps = [float(line.split(b" ", 1)[0]) for line in (shim.dir / "app.log").read_bytes().splitlines()]
    assert all(before - 1 <= t <= time.time() + 1 for t in stamps)


def test_a_long_partial_line_is_flushed_in_16_kib_records(shim: Shim) -> None:
    shim.start("app", python("import sys; sys.stdout.write('x' * 40000); sys.stdout.flush()"))
    shim.wait_exit("app")
    sizes = [len(line) for _, line in shim.output("app")]
    assert sizes == [16384, 16384, 40000 - 2 * 16384]


def test_exit_record_and_event_carry_the_exit_code(shim: Shim) -> None:
    shim.start("app", sh("exit 42"))
    assert shim.wait_exit("app") == 42
    record = read_exit(shim.dir / "app.exit")
    assert record is not None and record.signal == 0
    # The record is written before the event is queued, so the event precedes this answer.
    assert shim.request("status").split(",")[3:5] == ["exited", "42"]
    assert [e.split()[:4] for e in shim.events] == [["event", "exit", "app", "42"]]


def test_sigkill_exits_137(shim: Shim) -> None:
    shim.start("app", sh("sleep 100"))
    assert shim.request("signal app 9") == "ok"
    assert shim.wait_exit("app") == 137
    record = read_exit(shim.dir / "app.exit")
    assert record is not None and record.signal == signal.SIGKILL


def test_pid_1_without_a_handler_ignores_sigterm_as_in_docker(shim: Shim) -> None:
    shim.start("app", LaunchSpec(argv=("sleep", "100"), env={"PATH": PATH}))
    assert shim.request("signal app 15") == "ok"
    time.sleep(0.3)
    assert not (shim.dir / "app.exit").exists()
    shim.request("signal app 9")
    assert shim.wait_exit("app") == 137


def test_sigterm_through_init_exits_143(shim: Shim) -> None:
    shim.start("app", LaunchSpec(argv=("sleep", "100"), env={"PATH": "/usr/bin:/bin"}, init=True))
    assert shim.request("signal app 15") == "ok"
    assert shim.wait_exit("app") == 143


def test_signals_reach_the_whole_process_group(shim: Shim) -> None:
    shim.start(
        "app",
        python(
            """
            import signal, subprocess, sys
            signal.signal(signal.SIGTERM, lambda *_: print("parent got TERM", flush=True))
            child = subprocess.Popen(["sleep", "100"])
            print("ready", flush=True)
            print("child ended", child.wait(), flush=True)
            sys.exit(7)
            """
        ),
    )
    wait_for(lambda: (shim.dir / "app.log").read_bytes().count(b"ready"))
    shim.request("signal app 15")
    assert shim.wait_exit("app") == 7
    lines = [line for _, line in shim.output("app")]
    assert b"parent got TERM" in lines and b"child ended -15" in lines


def test_signal_of_an_exited_container_does_nothing(shim: Shim) -> None:
    shim.start("app", sh("exit 0"))
    shim.wait_exit("app")
    assert shim.request("signal app 9") == "ok"
    assert shim.request("signal nope 9") == "err no container nope"
    assert shim.request("signal app 0") == "err invalid signal 0"


# -- start failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("no-such-program",), 'exec: "no-such-program": executable file not found in $PATH'),
        (("/no/such/file",), 'exec: "/no/such/file": stat /no/such/file: no such file or directory'),
        (("{data}",), 'exec: "{data}": permission denied'),
    ],
)
def test_exec_errors_come_back_in_runcs_words(shim: Shim, argv: tuple[str, ...], message: str) -> None:
    data = shim.dir / "not-a-program"
    data.write_text("plain data\n")
    data.chmod(0o644)
    argv = tuple(a.format(data=data) for a in argv)
    message = message.format(data=data)
    (shim.dir / "app.spec").write_bytes(LaunchSpec(argv=argv, env={"PATH": "/usr/bin:/bin"}).encode())
    assert shim.request("start app") == f"err {message}"
    assert not (shim.dir / "app.started").exists()
    assert not (shim.dir / "app.log").exists()
    assert shim.request("status") == "ok"  # the name is free for a retry


def test_exec_errors_through_init_too(shim: Shim) -> None:
    (shim.dir / "app.spec").write_bytes(LaunchSpec(argv=("nope",), env={"PATH": "/bin"}, init=True).encode())
    assert shim.request("start app") == 'err exec: "nope": executable file not found in $PATH'


def test_a_missing_working_directory_fails_the_start(shim: Shim) -> None:
    (shim.dir / "app.spec").write_bytes(sh("true", cwd="/no/such/dir").encode())
    assert shim.request("start app") == 'err chdir to cwd ("/no/such/dir") failed: no such file or directory'


def test_starting_a_started_container_answers_its_state(shim: Shim) -> None:
    pid = shim.start("app", sh("sleep 100"))
    assert shim.request("start app").split()[1] == str(pid)


# -- isolation and settings --------------------------------------------------------------------------


def test_a_container_sees_itself_as_pid_1_with_its_own_proc_and_hostname(shim: Shim) -> None:
    shim.start("app", sh("echo $$; ls /proc | grep -c '^[0-9]'; hostname", hostname="inside"))
    shim.wait_exit("app")
    pid, processes, hostname = (line for _, line in shim.output("app"))
    assert (pid, hostname) == (b"1", b"inside")
    assert int(processes) <= 3  # sh, ls and grep: nothing of the host
    assert socket.gethostname() != "inside"


def test_user_groups_ulimits_and_working_directory_apply(shim: Shim, tmp_path: Path) -> None:
    spec = sh(
        "id -u; id -g; id -G; ulimit -n; ulimit -Hn; pwd",
        uid=65534,
        gid=65534,
        groups=(65534, 100),
        rlimits=(("nofile", 321, 654),),
        cwd="/tmp",
    )
    shim.start("app", spec)
    shim.wait_exit("app")
    assert [line for _, line in shim.output("app")] == [b"65534", b"65534", b"65534 100", b"321", b"654", b"/tmp"]


def test_bind_mounts_and_a_read_only_root(shim: Shim, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.1.2.3 task-host\n")
    spec = sh(
        "cat /etc/hosts; touch /etc/ecslite-probe 2>&1 || echo read-only; echo ok > /etc/hosts && echo bind-writable",
        binds=(Bind(str(hosts), "/etc/hosts"),),
        readonly=True,
    )
    shim.start("app", spec)
    shim.wait_exit("app")
    lines = [line for _, line in shim.output("app")]
    assert lines[0] == b"10.1.2.3 task-host"
    assert b"read-only" in lines and b"bind-writable" in lines
    assert hosts.read_text() == "ok\n"
    assert "task-host" not in Path("/etc/hosts").read_text()


def test_cgroups_are_joined_before_the_program_runs(shim: Shim, tmp_path: Path) -> None:
    cgroups = Cgroups(Layout.detect(), f"test-{os.getpid()}")
    dirs = cgroups.create_container("task", "app", Limits(memory_bytes=64 << 20))
    try:
        shim.start("app", sh("cat /proc/self/cgroup", cgroups=tuple(str(d) for d in dirs)))
        shim.wait_exit("app")
        text = b"\n".join(line for _, line in shim.output("app")).decode()
        assert f"/ecslite/test-{os.getpid()}/task/app" in text
    finally:
        cgroups.destroy_task("task")
        cgroups.remove_base_if_unused()


def test_init_is_pid_1_and_reaps_orphans(shim: Shim) -> None:
    code = """
        import os, time
        if os.fork() == 0:
            if os.fork() == 0:
                time.sleep(0.1)
                os._exit(0)
            os._exit(0)
        os.wait()
        time.sleep(0.5)
        stats = [open(f"/proc/{p}/stat").read() for p in os.listdir("/proc") if p.isdigit()]
        print("zombies", sum(s[s.rfind(")") + 2] == "Z" for s in stats), flush=True)
        print("pid1", open("/proc/1/cmdline").read().split(chr(0))[1], flush=True)
        """
    shim.start("init", python(code, init=True))
    shim.start("bare", python(code))
    shim.wait_exit("init")
    shim.wait_exit("bare")
    assert [line for _, line in shim.output("init")] == [b"zombies 0", b"pid1 init"]
    assert shim.output("bare")[0] == ("stdout", b"zombies 1")


def test_init_exits_with_the_programs_status(shim: Shim) -> None:
    shim.start("app", sh("exit 5", init=True))
    assert shim.wait_exit("app") == 5


# -- the shim itself ---------------------------------------------------------------------------------


def test_the_shim_survives_its_client_and_keeps_exits_for_the_next(shim: Shim) -> None:
    shim.start("app", sh("sleep 0.3; exit 9"))
    shim.sock.close()
    time.sleep(0.6)
    assert shim_alive(shim.dir)
    again = shim.connect()
    status = shim.request("status", again)
    name, _, _, state, code, _ = status.removeprefix("ok ").split(",")
    assert (name, state, code) == ("app", "exited", "9")
    assert read_exit(shim.dir / "app.exit").code == 9


def test_a_client_that_does_not_read_is_dropped_not_waited_for(shim: Shim) -> None:
    slow = shim.connect()
    flood = b"status\n" * 8192
    dropped = False
    # Never reading the answers: once more than 1 MiB of them wait, the shim hangs up on us.
    for _ in range(1000):
        try:
            slow.sendall(flood)
        except (BrokenPipeError, ConnectionResetError):
            dropped = True
            break
    assert dropped
    assert shim.request("status") == "ok"  # the other client was served all along
    assert "dropping a client that does not read its answers" in (shim.dir / "shim.log").read_text()


def test_shutdown_waits_for_the_containers_then_removes_the_socket(shim: Shim) -> None:
    shim.start("app", sh("sleep 100"))
    assert shim.request("shutdown") == "ok"
    assert shim.request("start other") == "err the shim is shutting down"
    time.sleep(0.2)
    assert shim_alive(shim.dir)
    shim.request("signal app 9")
    wait_for(lambda: not shim_alive(shim.dir))
    assert not (shim.dir / "shim.sock").exists()
    assert read_exit(shim.dir / "app.exit").code == 137


def test_a_second_shim_for_the_same_task_is_refused(shim: Shim, binary: Path) -> None:
    second = subprocess.run([str(binary), "serve", str(shim.dir)], capture_output=True, text=True, check=False)
    assert second.returncode == 1
    assert "another shim serves this task" in second.stderr


def test_unknown_requests_and_names_are_refused(shim: Shim) -> None:
    assert shim.request("dance") == "err unknown request"
    assert shim.request("start ../etc") == "err invalid container name"


def test_the_client_starts_signals_and_hears_exits(binary: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        task_dir = tmp_path / "task"
        task_dir.mkdir()
        pid = await launch_shim(binary, task_dir)
        exits: list[tuple[str, int]] = []
        client = await ShimClient.connect(task_dir, lambda name, code, at: exits.append((name, code)), lambda: None)
        try:
            assert client.pid == pid
            (task_dir / "a.spec").write_bytes(sh("sleep 100").encode())
            (task_dir / "b.spec").write_bytes(sh("sleep 100").encode())
            a, b = await asyncio.gather(client.start("a"), client.start("b"))
            assert a.pid != b.pid and a.start_ticks > 0
            await client.signal("a", 9)
            await client.signal("b", 9)
            for _ in range(100):
                if len(exits) == 2:
                    break
                await asyncio.sleep(0.05)
            assert sorted(exits) == [("a", 137), ("b", 137)]
            assert [c.exit_code for c in await client.status()] == [137, 137]
            await client.shutdown()
        finally:
            await client.close()
            for _ in range(100):
                if not shim_alive(task_dir):
                    break
                await asyncio.sleep(0.05)
            if shim_alive(task_dir):
                os.kill(pid, signal.SIGKILL)

    asyncio.run(scenario())


def test_the_client_reaches_a_socket_path_longer_than_sun_path(binary: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        task_dir = tmp_path / ("d" * 60) / ("e" * 60)
        task_dir.mkdir(parents=True)
        assert len(str(task_dir / "shim.sock")) > 108
        pid = await launch_shim(binary, task_dir)
        try:
            client = await ShimClient.connect(task_dir, lambda *_: None, lambda: None)
            assert client.pid == pid
            await client.shutdown()
            await client.close()
        finally:
            for _ in range(100):
                if not shim_alive(task_dir):
                    break
                await asyncio.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    asyncio.run(scenario())


def test_exec_refuses_a_process_that_is_not_the_recorded_one(shim: Shim, binary: Path) -> None:
    pid = shim.start("app", sh("sleep 100"))
    record = read_started(shim.dir / "app.started")
    assert record is not None and record.pid == pid and record.start_ticks > 0

    def enter(ticks: int) -> subprocess.CompletedProcess[str]:
        argv = [str(binary), "exec", str(pid), "--start-ticks", str(ticks), "--", "true"]
        return subprocess.run(argv, capture_output=True, text=True, env={"PATH": PATH}, check=False)

    assert enter(record.start_ticks).returncode == 0
    other = enter(record.start_ticks + 1)  # what a process that took over the pid would show
    assert (other.returncode, other.stderr) == (125, f"container process {pid} has exited\n")


def test_the_recorded_start_ticks_are_the_processes_start_time(shim: Shim) -> None:
    pid = shim.start("app", python("import time; data = bytearray(50 << 20); time.sleep(100)"))
    record = read_started(shim.dir / "app.started")
    stat = Path(f"/proc/{pid}/stat").read_text()
    assert record is not None and record.start_ticks == int(stat[stat.rfind(")") + 2 :].split()[19])


def test_stop_sends_the_containers_stop_signal(shim: Shim) -> None:
    handles_usr1 = """
        import signal, sys, time
        signal.signal(signal.SIGUSR1, lambda *_: sys.exit(21))
        print("ready", flush=True)
        time.sleep(100)
        """
    shim.start("app", python(handles_usr1, stop_signal=signal.SIGUSR1))
    wait_for(lambda: b"ready" in (shim.dir / "app.log").read_bytes())
    assert shim.request("stop app") == "ok"
    assert shim.wait_exit("app") == 21


STATIC_PROGRAM = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char cwd[256];
    printf("pid %d cwd %s\n", (int)getpid(), getcwd(cwd, sizeof cwd));
    printf("bin %d proc %d dev-null %d\n", access("/bin/sh", F_OK) == 0, access("/proc/1/stat", F_OK) == 0,
           access("/dev/null", W_OK) == 0);
    FILE *f = fopen("/written", "w");
    printf("root writable %d\n", f != NULL);
    return 0;
}
"""


def test_a_root_filesystem_without_libc_runs_with_init(shim: Shim, tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    root.mkdir()
    source = tmp_path / "program.c"
    source.write_text(STATIC_PROGRAM)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(root / "program"), str(source)], check=True)
    spec = LaunchSpec(argv=("/program",), env={"PATH": "/"}, rootfs=str(root), init=True, readonly=True)
    shim.start("app", spec)
    assert shim.wait_exit("app") == 0
    assert [line for _, line in shim.output("app")] == [
        b"pid 2 cwd /",  # PID 1 is the init (the shim itself, no libc needed in the image)
        b"bin 0 proc 1 dev-null 1",  # the image only: no host /bin/sh, a /proc and a /dev of its own
        b"root writable 0",
    ]
    assert not (root / "written").exists()


OVERLAY_PROGRAM = r"""
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    printf("seen before %d\n", access("/mark", F_OK) == 0);
    FILE *f = fopen("/mark", "w");
    printf("wrote %d\n", f != NULL && fputs(argv[1], f) >= 0 && fclose(f) == 0);
    return 0;
}
"""


def test_containers_over_one_root_write_to_layers_of_their_own(shim: Shim, tmp_path: Path) -> None:
    root = tmp_path / "image"
    root.mkdir()
    source = tmp_path / "program.c"
    source.write_text(OVERLAY_PROGRAM)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(root / "program"), str(source)], check=True)
    for name in ("one", "two"):
        upper = tmp_path / f"{name}.rootfs"
        spec = LaunchSpec(argv=("/program", name), env={"PATH": "/"}, rootfs=str(root), rootfs_upper=str(upper))
        shim.start(name, spec)
        assert shim.wait_exit(name) == 0
        assert [line for _, line in shim.output(name)] == [b"seen before 0", b"wrote 1"]
        assert (upper / "diff" / "mark").read_text() == name
    assert sorted(p.name for p in root.iterdir()) == ["program"]  # the image itself is never written


# -- building ----------------------------------------------------------------------------------------


def test_the_shim_is_built_once_per_source_into_the_cache(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        missing("gcc is not installed (./dev test installs it)")
    built = ensure_shim(tmp_path)
    assert built.name == f"ecslite-shim-{source_digest()}"
    assert subprocess.run([str(built), "version"], capture_output=True, text=True, check=True).stdout == "1\n"
    stamp = built.stat().st_mtime_ns
    assert ensure_shim(tmp_path) == built and built.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [built.name]  # no temporary files left


def test_a_machine_without_gcc_is_told_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ShimBuildError) as missing:
        ensure_shim(tmp_path)
    assert str(missing.value) == (
        "Cannot build the ecslite shim: gcc is not installed (install them with: apt-get install gcc libc6-dev)."
    )


def test_missing_c_headers_are_named() -> None:
    stderr = "ecslite-shim.c:61:10: fatal error: errno.h: No such file or directory\ncompilation terminated.\n"
    assert explain_build_failure(stderr) == (
        "Cannot build the ecslite shim: the C library headers are missing (ecslite-shim.c:61:10: fatal error: "
        "errno.h: No such file or directory); install them with: apt-get install gcc libc6-dev."
    )
