"""EC2 instance types a virtual container instance can be (spec/ecs.md §5.1 local model).

Each type has its vCPUs, memory and GPUs. What its agent registers: ``CPU`` = vCPUs × 1024 units;
``MEMORY`` = the instance's MiB less what the kernel and the agent keep (about 4.5 %, at least
192 MiB: a t3.medium offers 3904 of its 4096 MiB, as the ECS-optimized AMI does); ``GPU`` = one id
per GPU. Architecture follows the family (``g`` after the generation digit: Graviton, arm64).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_TYPE = "m5.large"


@dataclass(frozen=True, slots=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: float
    gpus: int = 0

    @property
    def cpu_units(self) -> int:
        return self.vcpus * 1024

    @property
    def task_memory(self) -> int:
        """MiB the agent offers to tasks."""
        total = int(self.memory_gib * 1024)
        return total - max(192, int(total * 0.045))

    @property
    def architecture(self) -> str:
        family = self.name.split(".", 1)[0]
        return "arm64" if re.fullmatch(r"[a-z]+\d+[a-z]*g[a-z]*", family) and family[0] != "g" else "x86_64"


_SIZES = {
    "medium": (1, 1),  # overridden per family below where it differs
    "large": (2, 1),
    "xlarge": (4, 2),
    "2xlarge": (8, 4),
    "4xlarge": (16, 8),
    "8xlarge": (32, 16),
    "12xlarge": (48, 24),
    "16xlarge": (64, 32),
}
# Memory per vCPU of the general families: m = 4 GiB, c = 2 GiB, r = 8 GiB.
_RATIO = {"m": 4.0, "c": 2.0, "r": 8.0}
_GENERAL = (
    "m5",
    "m5a",
    "m6i",
    "m6a",
    "m6g",
    "m7i",
    "m7g",
    "c5",
    "c5a",
    "c6i",
    "c6a",
    "c6g",
    "c7g",
    "c7i",
    "r5",
    "r5a",
    "r6i",
    "r6g",
    "r7g",
)
_BURSTABLE = {
    "nano": (2, 0.5),
    "micro": (2, 1.0),
    "small": (2, 2.0),
    "medium": (2, 4.0),
    "large": (2, 8.0),
    "xlarge": (4, 16.0),
    "2xlarge": (8, 32.0),
}
_GPU = {
    "g4dn.xlarge": (4, 16.0, 1),
    "g4dn.2xlarge": (8, 32.0, 1),
    "g4dn.4xlarge": (16, 64.0, 1),
    "g4dn.12xlarge": (48, 192.0, 4),
    "g5.xlarge": (4, 16.0, 1),
    "g5.2xlarge": (8, 32.0, 1),
    "g5.12xlarge": (48, 192.0, 4),
    "p3.2xlarge": (8, 61.0, 1),
    "p3.8xlarge": (32, 244.0, 4),
    "p3.16xlarge": (64, 488.0, 8),
}


def _table() -> dict[str, InstanceType]:
    table: dict[str, InstanceType] = {}
    for family in _GENERAL:
        ratio = _RATIO[family[0]]
        for size, (vcpus, _) in _SIZES.items():
            if size == "medium" and not family.endswith("g"):
                continue  # only Graviton families have a medium size
            table[f"{family}.{size}"] = InstanceType(f"{family}.{size}", vcpus, vcpus * ratio)
    for family in ("t2", "t3", "t3a", "t4g"):
        for size, (vcpus, gib) in _BURSTABLE.items():
            if family == "t2" and size == "nano":
                vcpus = 1
            if family == "t2" and size in ("micro", "small"):
                vcpus = 1
            table[f"{family}.{size}"] = InstanceType(f"{family}.{size}", vcpus, gib)
    for name, (vcpus, gib, gpus) in _GPU.items():
        table[name] = InstanceType(name, vcpus, gib, gpus)
    return table


INSTANCE_TYPES: dict[str, InstanceType] = _table()


def instance_type(name: str) -> InstanceType | None:
    return INSTANCE_TYPES.get(name)


def families() -> list[str]:
    return sorted({name.split(".", 1)[0] for name in INSTANCE_TYPES})
