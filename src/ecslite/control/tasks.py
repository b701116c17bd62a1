"""The task controller (in progress)."""

from __future__ import annotations

from typing import Any


class TaskController:
    name = "tasks"

    def __init__(self, *args: Any) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass
