"""The server's parts, wired by area; :mod:`ecslite.server` calls the areas in order.

Each area builds its components, appends them to the one component list (started in list order,
stopped in reverse, so a producer stops before what it feeds), and returns what the server's own
routes or a later area need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.runtime.base import Runtime
from ecslite.store.db import Database


class Component(Protocol):
    """A long-lived part started and stopped with the app (controllers, receivers)."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Core:
    """What every area is wired from, and the component list each appends to."""

    settings: Settings
    clock: Clock
    db: Database
    runtime: Runtime
    components: list[Component]
