"""The cgroup support: finding hierarchies, reading counters (on fake trees), converting limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ecslite.runtime.process.cgroups import (
    Activity,
    CgroupError,
    Cgroups,
    Layout,
    _walk,
    cfs_quota_us,
    cgroup_key,
    cpu_shares,
    cpu_weight,
    parse_flat_keyed,
    parse_limit,
    parse_mountinfo,
)

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

COMOUNTED = """\
25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory
"""

PURE_V2 = """\
22 1 0:21 / /proc rw,nosuid - proc proc rw
29 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""


def test_hybrid_hosts_use_the_v1_controllers_and_ignore_the_unified_mount() -> None:
    layout = parse_mountinfo(HYBRID)
    assert layout.version == 1
    assert layout.mounts == {
        "cpu": Path("/sys/fs/cgroup/cpu"),
        "cpuacct": Path("/sys/fs/cgroup/cpuacct"),
        "memory": Path("/sys/fs/cgroup/memory"),
        "freezer": Path("/sys/fs/cgroup/freezer"),
        "pids": Path("/sys/fs/cgroup/pids"),
    }


def test_comounted_controllers_share_one_hierarchy() -> None:
    layout = parse_mountinfo(COMOUNTED)
    assert layout.mount_of("cpu") == layout.mount_of("cpuacct") == Path("/sys/fs/cgroup/cpu,cpuacct")
    assert layout.hierarchies() == [Path("/sys/fs/cgroup/cpu,cpuacct"), Path("/sys/fs/cgroup/memory")]


def test_a_pure_v2_host_has_one_unified_hierarchy() -> None:
    layout = parse_mountinfo(PURE_V2)
    assert layout == Layout(version=2, mounts={"unified": Path("/sys/fs/cgroup")})
    assert layout.mount_of("memory") == Path("/sys/fs/cgroup")


def test_escaped_mount_points_are_decoded() -> None:
    layout = parse_mountinfo("32 31 0:29 / /mnt/my\\040cgroups rw - cgroup cgroup rw,memory\n")
    assert layout.mount_of("memory") == Path("/mnt/my cgroups")


def test_no_cgroup_mounts_is_an_error_naming_the_source() -> None:
    with pytest.raises(CgroupError, match="no cgroup hierarchy is mounted"):
        parse_mountinfo("22 1 0:21 / /proc rw - proc proc rw\n")


def test_task_and_container_groups_hang_off_each_hierarchy_under_the_servers_key() -> None:
    cgroups = Cgroups(parse_mountinfo(COMOUNTED), "k")
    assert cgroups.container_dirs("t1", "app") == [
        Path("/sys/fs/cgroup/cpu,cpuacct/ecslite/k/t1/app"),
        Path("/sys/fs/cgroup/memory/ecslite/k/t1/app"),
    ]
    assert [d.name for d in cgroups.shim_dirs("t1")] == ["ecslite.shim", "ecslite.shim"]


def test_each_runtime_directory_gets_its_own_stable_key() -> None:
    assert cgroup_key(Path("/a/runtime")) == cgroup_key(Path("/a/runtime"))
    assert cgroup_key(Path("/a/runtime")) != cgroup_key(Path("/b/runtime"))


def test_flat_keyed_files_are_read_as_integers() -> None:
    text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"
    assert parse_flat_keyed(text) == {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 3}
    assert parse_flat_keyed("low 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n")["oom_kill"] == 1


@pytest.mark.parametrize(
    ("text", "limit"),
    [("max\n", None), ("9223372036854771712\n", None), ("67108864\n", 64 << 20)],
)
def test_memory_limits_without_a_limit_read_as_none(text: str, limit: int | None) -> None:
    assert parse_limit(text) == limit


@pytest.mark.parametrize(("units", "shares"), [(0, 2), (1, 2), (2, 2), (256, 256), (10_000_000, 262144)])
def test_cpu_units_become_shares_with_ecs_floor_of_two(units: int, shares: int) -> None:
    assert cpu_shares(units) == shares


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (1024, 39), (262144, 10000)])
def test_shares_map_onto_v2_weights_as_runc_does(shares: int, weight: int) -> None:
    assert cpu_weight(shares) == weight


@pytest.mark.parametrize(("units", "quota"), [(1024, 100_000), (256, 25_000), (2048, 200_000), (1, 1000)])
def test_task_cpu_is_a_cfs_quota_per_100ms(units: int, quota: int) -> None:
    assert cfs_quota_us(units) == quota


def _fake_v1(root: Path) -> Cgroups:
    return Cgroups(Layout(version=1, mounts={c: root / c for c in ("cpu", "cpuacct", "memory", "pids")}), "k")


def _group(directory: Path, procs: list[int], files: tuple[str, ...] = ("cpu.shares", "memory.stat")) -> None:
    directory.mkdir(parents=True)
    (directory / "cgroup.procs").write_text("".join(f"{pid}\n" for pid in procs))
    for name in files:
        (directory / name).write_text("0\n")


def test_activity_counts_each_process_once_across_hierarchies_and_nested_groups(tmp_path: Path) -> None:
    cgroups = _fake_v1(tmp_path)
    app = "ecslite/k/t1/app"
    parent, init = os.getppid(), os.getpid()
    _group(tmp_path / "cpu" / app, [init, parent])
    _group(tmp_path / "memory" / app, [init])
    _group(tmp_path / "memory" / app / "worker", [1])  # a group the container made for itself
    _group(tmp_path / "cpuacct" / app, [])
    _group(tmp_path / "pids" / app, [init])

    assert cgroups.activity("t1", "app").pids == 3

    (tmp_path / "pids" / app / "pids.current").write_text("5\n")
    assert cgroups.activity("t1", "app").pids == 5  # the pids controller's own count wins


def test_activity_of_a_container_without_groups_is_empty(tmp_path: Path) -> None:
    assert _fake_v1(tmp_path).activity("t1", "gone") == Activity(io_read_bytes=0, io_write_bytes=0, pids=0)


def test_walk_lists_groups_parents_first_and_skips_interface_files(tmp_path: Path) -> None:
    top = tmp_path / "t1"
    _group(top / "b" / "inner", [])
    _group(top / "a", [])
    (top / "cgroup.procs").write_text("")
    assert _walk(top) == [top, top / "a", top / "b", top / "b" / "inner"]
    assert _walk(tmp_path / "missing") == []


def test_existing_tasks_are_the_groups_under_any_hierarchy(tmp_path: Path) -> None:
    cgroups = _fake_v1(tmp_path)
    _group(tmp_path / "cpu/ecslite/k/t1", [])
    _group(tmp_path / "memory/ecslite/k/t2", [])
    (tmp_path / "memory/ecslite/k/cgroup.procs").write_text("")
    assert cgroups.existing_tasks() == ["t1", "t2"]
