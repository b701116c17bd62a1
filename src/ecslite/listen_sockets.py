"""Listening TCP sockets for the endpoints ecslite serves to tasks on its bridge.

Each is bound to the server's bridge (``SO_BINDTODEVICE``) so that servers with different bridges
can serve the same address and port side by side; ``freebind`` binds an address the bridge does
not carry yet (a subnet gateway appears with the subnet's first task).
"""

from __future__ import annotations

import socket

IP_FREEBIND = 15  # linux/in.h; not exported by Python's socket module


def listen_tcp(address: str, port: int, *, device: str | None = None, freebind: bool = False) -> socket.socket:
    """A non-blocking TCP socket listening on ``address:port`` (on ``device`` only, when given)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if freebind:
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        if device:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
        sock.bind((address, port))
        sock.listen(256)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
