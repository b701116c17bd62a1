"""Calling into an asyncio event loop from whichever thread a change is noticed on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def call_in_loop(loop: asyncio.AbstractEventLoop | None, callback: Callable[[], object]) -> None:
    """Run ``callback`` on ``loop``: at once when already on it, else scheduled thread-safely.

    Store changes are published on the thread that committed them (the event loop's or a worker's),
    while the waiters they wake live on the loop; a closed or missing loop has nobody to wake.
    """
    if loop is None or loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        callback()
    else:
        loop.call_soon_threadsafe(callback)
