"""WebSocket through the local ALB (:mod:`ecslite.elb.proxy`): which requests are upgrades, and the
joined connections once a target has answered **101 Switching Protocols**.

An ALB carries WebSocket only: an HTTP/1.1 ``GET`` whose ``Connection`` names ``upgrade`` and whose
``Upgrade`` names ``websocket``. Other upgrades (``h2c`` among them) are plain requests to it.
After the 101 the load balancer reads no frames: bytes are passed on both ways as they arrive, and
the listener's idle timeout ends the pair when neither side sends a byte for that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from ecslite.elb.http1 import READ_SIZE, RequestHead


def _tokens(head: RequestHead, name: bytes) -> list[bytes]:
    return [token.strip().lower() for key, value in head.headers if key.lower() == name for token in value.split(b",")]


def websocket_upgrade(head: RequestHead) -> bytes | None:
    """The ``Upgrade`` value to send on when ``head`` asks for a WebSocket, else None."""
    if head.method != b"GET" or not head.keep_alive_version:
        return None
    # One pass first: on the proxy's path almost every request has no Upgrade at all.
    upgrade = [value for key, value in head.headers if key.lower() == b"upgrade"]
    if not upgrade or b"upgrade" not in _tokens(head, b"connection") or b"websocket" not in _tokens(head, b"upgrade"):
        return None
    return b", ".join(upgrade)


async def tunnel(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    target: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    idle_timeout: float,
    counted: Callable[[int], None] | None = None,
) -> None:
    """Bytes both ways between ``client`` and ``target`` (readers first: bytes already buffered
    after the heads go first) until one side ends its connection or breaks it, or no byte has gone
    either way for ``idle_timeout`` seconds. ``counted`` hears of each piece relayed. The caller
    closes both connections."""
    last = time.monotonic()

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal last
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    return  # one side ended: the pair ends, as a half-open WebSocket is of no use
                last = time.monotonic()
                if counted is not None:
                    counted(len(data))
                writer.write(data)
                await writer.drain()

    pumps = [asyncio.ensure_future(pump(client[0], target[1])), asyncio.ensure_future(pump(target[0], client[1]))]
    try:
        while True:
            left = last + idle_timeout - time.monotonic()
            if left <= 0:
                return
            done, _ = await asyncio.wait(pumps, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            if done:
                return
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
