"""Task cpu/memory parsing and the Fargate size table (spec/ecs.md §2.2, §2.3)."""

from __future__ import annotations

import pytest

from ecslite.model.task_definitions import (
    FARGATE_SIZES,
    describe_values,
    fargate_cpu_options,
    fargate_memory_options,
    is_fargate_size,
    parse_task_cpu,
    parse_task_memory,
)


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("256", 256),
        ("1024", 1024),
        (" 512 ", 512),
        ("0.25 vCPU", 256),
        ("0.5 vcpu", 512),
        ("1 vcpu", 1024),
        ("1 vCPU", 1024),
        ("2vCPU", 2048),
        ("16 VCPU", 16384),
        (".25 vCPU", 256),
    ],
)
def test_parse_task_cpu_accepts_units_and_vcpus(text: str, units: int) -> None:
    assert parse_task_cpu(text) == units


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1.5",
        "-256",
        "0.1 vCPU",
        "1 cpu",
        "vCPU",
        "1 vCPU extra",
        "0x100",
        "٢٥٦",
        "9" * 5000,
        "1" * 400 + " vCPU",
    ],
)
def test_parse_task_cpu_rejects_other_text(text: str) -> None:
    assert parse_task_cpu(text) is None


@pytest.mark.parametrize(
    ("text", "mib"),
    [("512", 512), ("1GB", 1024), ("1 GB", 1024), ("2 gb", 2048), ("0.5GB", 512), ("30 GB", 30720), ("120GB", 122880)],
)
def test_parse_task_memory_accepts_mib_and_gb(text: str, mib: int) -> None:
    assert parse_task_memory(text) == mib


@pytest.mark.parametrize("text", ["", "lots", "1 MB", "1GiB", "512MiB", "1.5", "0.0001 GB", "GB", "9" * 5000])
def test_parse_task_memory_rejects_other_text(text: str) -> None:
    assert parse_task_memory(text) is None


def test_fargate_table_matches_the_published_sizes() -> None:
    assert fargate_memory_options(256) == (512, 1024, 2048)
    assert fargate_memory_options(512) == (1024, 2048, 3072, 4096)
    assert fargate_memory_options(1024) == tuple(range(2048, 8193, 1024))
    assert fargate_memory_options(2048) == tuple(range(4096, 16385, 1024))
    assert fargate_memory_options(4096) == tuple(range(8192, 30721, 1024))
    assert fargate_memory_options(8192) == tuple(range(16384, 61441, 4096))
    assert fargate_memory_options(16384) == tuple(range(32768, 122881, 8192))
    assert sorted(FARGATE_SIZES) == [256, 512, 1024, 2048, 4096, 8192, 16384]


@pytest.mark.parametrize(
    ("cpu", "memory", "valid"),
    [
        (256, 512, True),
        (256, 4096, False),
        (512, 512, False),
        (2048, 4096, True),
        (2048, 3072, False),
        (4096, 30720, True),
        (4096, 31744, False),
        (8192, 20480, True),
        (8192, 18432, False),  # 8 vCPU steps by 4 GB
        (16384, 40960, True),
        (16384, 36864, False),  # 16 vCPU steps by 8 GB
        (300, 512, False),
    ],
)
def test_is_fargate_size_follows_the_table(cpu: int, memory: int, valid: bool) -> None:
    assert is_fargate_size(cpu, memory) is valid


def test_windows_fargate_needs_at_least_one_vcpu_and_at_most_four() -> None:
    assert fargate_memory_options(512, windows=True) == ()
    assert fargate_memory_options(8192, windows=True) == ()
    assert fargate_memory_options(1024, windows=True) == fargate_memory_options(1024)
    assert fargate_cpu_options(windows=True) == (1024, 2048, 4096)


def test_describe_values_lists_short_sets_and_summarises_regular_ranges() -> None:
    assert describe_values((512, 1024, 2048)) == "512, 1024, 2048"
    assert describe_values(tuple(range(4096, 16385, 1024))) == "4096–16384 in steps of 1024"
    assert describe_values((1, 2, 4, 8, 16)) == "1, 2, 4, 8, 16"
