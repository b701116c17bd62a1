"""``ecslite up examples/otel-demo``: time to steady state, cached and uncached, and ecslite's overhead.

    sudo .venv/bin/python benchmarks/demo_up.py [--overhead-seconds 60] [--no-uncached]

Needs root on Linux (the process runtime). Each run is the user's command, ``ecslite up
examples/otel-demo``, which finds no server on the benchmark's free port and starts one (fresh data
directory, its own bridge ``ecslbup0`` and VPC ``10.232.0.0/16`` through ``ECSLITE_BRIDGE`` /
``ECSLITE_VPC_CIDR``), then ``ecslite down --stop-server``; servers are also stopped by pid on errors.

1. **cached**: the virtualenvs are in the usual cache (built first, untimed, when missing). Timed:
   the whole ``up`` command, from its start to its exit once every service is ready, and the
   part ``up`` reports itself (``Ready in … s``, from the first deployment on).
2. **overhead**: with the demo running (the generator's 2 orders/s through five services, the
   router, telemetry into the store, 15 s scrapes), the CPU over ``--overhead-seconds`` of ecslite's
   own processes — the server, its children (the telemetry writer) and the per-task shims, but not
   the task's containers or their health checks — as a percentage of one core.
3. **uncached** (unless ``--no-uncached``): the same ``up`` with ``ECSLITE_VENV_CACHE`` an empty
   directory, so the five virtualenvs are built by pip (pip's own download cache is kept, as on a
   machine that has run pip before); the example's ``.venvs`` links are pointed back at the usual
   cache afterwards.

Goals (issue 10): ≤ 15 s cached, ≤ 2 min uncached, overhead ≤ 10 % of one core. Exits non-zero when
a goal is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "otel-demo"
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from tests.fixtures.ports import free_port  # noqa: E402

from ecslite.cli.envs import ensure_venv  # noqa: E402
from ecslite.cli.project import load_project  # noqa: E402
from ecslite.runtime.process.cgroups import cgroup_key  # noqa: E402

BRIDGE, VPC = "ecslbup0", "10.232.0.0/16"
TICKS = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def demo(data_dir: Path, cache: Path | None) -> Iterator[tuple[str, dict[str, str]]]:
    endpoint = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "ECSLITE_BRIDGE": BRIDGE,
        "ECSLITE_VPC_CIDR": VPC,
        "ECSLITE_OTLP_GRPC_PORT": "0",
        "ECSLITE_OTLP_HTTP_PORT": "0",
        "ECSLITE_FORWARD_PORT": "0",
    }
    if cache is not None:
        env["ECSLITE_VENV_CACHE"] = str(cache)
    try:
        yield endpoint, env
    finally:
        subprocess.run(
            [sys.executable, "-m", "ecslite", "down", str(EXAMPLE), "--endpoint", endpoint, "--stop-server"],
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )
        info = data_dir / "server.json"
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.kill(int(json.loads(info.read_text())["pid"]), signal.SIGTERM)


def up(endpoint: str, env: dict[str, str], data_dir: Path) -> tuple[float, float]:
    """Seconds of the whole ``up`` command and of its own ``Ready in`` figure."""
    argv = [sys.executable, "-m", "ecslite", "up", str(EXAMPLE), "--endpoint", endpoint]
    argv += ["--data-dir", str(data_dir), "--runtime", "process", "--timeout", "300"]
    started = time.monotonic()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1200, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"ecslite up failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    found = re.search(r"Ready in ([0-9.]+) s", result.stdout)
    return elapsed, float(found.group(1)) if found else float("nan")


def server_pid(data_dir: Path) -> int:
    return int(json.loads((data_dir / "server.json").read_text())["pid"])


def own_processes(server: int, runtime_dir: Path) -> list[int]:
    """The server, its descendants outside the tasks' cgroups, and the per-task shims."""
    marker = f"/ecslite/{cgroup_key(runtime_dir)}/"
    parents: dict[int, int] = {}
    in_tasks: set[int] = set()
    shims: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            cgroup = (entry / "cgroup").read_text()
        except OSError:
            continue
        parents[pid] = int(stat[stat.rfind(")") + 2 :].split()[1])
        if len(cmdline) > 2 and cmdline[1] == b"serve" and str(runtime_dir).encode() in cmdline[2]:
            shims.add(pid)
        elif marker in cgroup:
            in_tasks.add(pid)
    own = {server} | shims
    changed = True
    while changed:
        added = {pid for pid, parent in parents.items() if parent in own and pid not in in_tasks} - own
        own |= added
        changed = bool(added)
    return sorted(own)


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def overhead(data_dir: Path, seconds: float) -> tuple[float, int]:
    """ecslite's CPU as % of one core over ``seconds``, and how many of its processes were measured."""
    pid = server_pid(data_dir)
    runtime_dir = data_dir / "runtime"
    before = {p: cpu_seconds(p) for p in own_processes(pid, runtime_dir)}
    started = time.monotonic()
    time.sleep(seconds)
    after_pids = own_processes(pid, runtime_dir)
    elapsed = time.monotonic() - started
    used = 0.0
    for process in after_pids:
        now = cpu_seconds(process)
        if now is not None:
            used += now - (before.get(process) or 0.0)
    return 100.0 * used / elapsed, len(after_pids)


def ensure_cached() -> None:
    project = load_project(EXAMPLE)
    for environment in project.environments:
        ensure_venv(environment.name, environment.requirements, EXAMPLE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--overhead-seconds", type=float, default=60.0)
    parser.add_argument("--no-uncached", action="store_true", help="Skip the run that builds the virtualenvs.")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("benchmarks/demo_up.py needs root (the process runtime).")
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    ensure_cached()
    failed = False
    with tempfile.TemporaryDirectory(prefix="ecslite-bench-up-") as scratch:
        data = Path(scratch) / "cached"
        with demo(data, None) as (endpoint, env):
            total, ready = up(endpoint, env, data)
            print(f"cached:   up {total:6.1f} s (deployments ready in {ready:.1f} s)  goal <= 15 s")
            failed |= total > 15
            percent, processes = overhead(data, args.overhead_seconds)
            print(
                f"overhead: {percent:5.1f} % of one core over {args.overhead_seconds:.0f} s "
                f"({processes} ecslite processes: server, telemetry writer, shims)  goal <= 10 %"
            )
            failed |= percent > 10
        if not args.no_uncached:
            data = Path(scratch) / "uncached"
            cache = Path(scratch) / "venvs"
            try:
                with demo(data, cache) as (endpoint, env):
                    total, ready = up(endpoint, env, data)
                    print(f"uncached: up {total:6.1f} s (deployments ready in {ready:.1f} s)  goal <= 120 s")
                    failed |= total > 120
            finally:
                ensure_cached()  # the example's .venvs links point at the usual cache again
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
