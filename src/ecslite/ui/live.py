"""Live updates for the UI: committed store changes, coalesced, as server-sent events.

The state store publishes every committed transaction's changes (``Database.subscribe``) on the
thread that committed it. :class:`ChangeHub` only records them and wakes the event loop; each open
``/ui/api/live`` stream then sends one ``change`` event per coalescing window (100 ms) naming the
kinds and keys that changed, and the page fetches what it shows again. A slow or gone browser never
slows a writer: a stream that falls behind loses nothing but merges more changes into one event.

Invariants: a change committed after a stream was opened reaches that stream within one window
plus one loop turn; a stream ends when the client goes away, when the hub closes (server stop),
or after :data:`STREAM_SECONDS`, after which ``EventSource`` reconnects on its own (``retry``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import orjson

from ecslite.loop_calls import call_in_loop
from ecslite.store.db import Change

COALESCE_SECONDS = 0.1
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 300.0
RETRY_MS = 1000
MAX_KEYS = 50  # a larger burst is sent as its kinds only: the page refetches everything anyway


@dataclass(slots=True)
class _Listener:
    wake: asyncio.Event
    kinds: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)


class ChangeHub:
    """Fans committed store changes out to the open event streams of this server's event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[_Listener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = asyncio.Event()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, changes: Sequence[Change]) -> None:
        """``Database.subscribe`` callback: record the changes for every listener, wake them."""
        with self._lock:
            listeners = list(self._listeners)
            for listener in listeners:
                for change in changes:
                    listener.kinds.add(change.kind)
                    if len(listener.keys) <= MAX_KEYS:
                        listener.keys.add(change.key)
        if not listeners or self._loop is None:
            return
        for listener in listeners:
            self._wake(listener.wake)

    def _wake(self, event: asyncio.Event) -> None:
        call_in_loop(self._loop, event.set)

    def close(self) -> None:
        """End every open stream (the server is stopping)."""
        self._closed.set()
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            self._wake(listener.wake)

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._listeners)

    def _take(self, listener: _Listener) -> dict[str, list[str]]:
        with self._lock:
            kinds, keys = sorted(listener.kinds), sorted(listener.keys)
            listener.kinds.clear()
            listener.keys.clear()
        return {"kinds": kinds, "keys": keys if len(keys) <= MAX_KEYS else []}

    async def stream(self, coalesce: float = COALESCE_SECONDS) -> AsyncIterator[bytes]:
        """The SSE byte stream of one client: a ``hello``, then ``change`` events and keep-alives."""
        listener = _Listener(asyncio.Event())
        with self._lock:
            self._listeners.append(listener)
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        try:
            yield f"retry: {RETRY_MS}\nevent: hello\ndata: {{}}\n\n".encode()
            while not self._closed.is_set() and loop.time() < ends:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(listener.wake.wait(), KEEPALIVE_SECONDS)
                if self._closed.is_set():
                    break
                if not listener.wake.is_set():
                    yield b": keep-alive\n\n"
                    continue
                # Let the burst that woke us finish (a reconcile step commits several times). This
                # paces a network stream in wall time; no domain logic waits on it.
                await asyncio.sleep(coalesce)
                listener.wake.clear()
                payload = self._take(listener)
                if payload["kinds"]:
                    yield b"event: change\ndata: " + orjson.dumps(payload) + b"\n\n"
        finally:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
