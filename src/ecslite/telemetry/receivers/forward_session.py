"""Fluent Forward protocol v1, one connection's state without I/O (spec/telemetry.md §4.1, §4.5):
bytes in, decoded :class:`~.forward_protocol.ForwardMessage`\\ s and handshake replies out.

:class:`ForwardSession` is used by ecslite's host receiver, by the task-side gateway and by the
built-in Fluent Bit's ``forward`` input alike.

Invariants:

- Framing follows §4.1: a stream of msgpack objects, ``nil`` heartbeats ignored, a buffer cap
  (Fluent Bit's ``Buffer_Max_Size``) past which the connection is closed.
- With a ``shared_key`` (or ``empty_shared_key``) the server speaks first (``HELO``) and nothing
  is decoded as a request before a ``PING`` that passes; a failed handshake answers ``PONG`` with
  the reason and closes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

import msgpack

from ecslite.telemetry.receivers.forward_protocol import (
    BUFFER_CHUNK_SIZE,
    BUFFER_MAX_SIZE,
    ForwardError,
    ForwardMessage,
    as_text,
    decode_message,
    unpacker,
)


def _sha512_hex(*parts: bytes | str) -> str:
    digest = hashlib.sha512()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ForwardSettings:
    """A listener's options, named as Fluent Bit's ``forward`` input names them."""

    buffer_chunk_size: int = BUFFER_CHUNK_SIZE
    buffer_max_size: int = BUFFER_MAX_SIZE
    shared_key: str | None = None
    self_hostname: str = "localhost"
    users: tuple[tuple[str, str], ...] = ()  # security.users: (username, password)
    empty_shared_key: bool = False


@dataclass(slots=True)
class Fed:
    """What feeding bytes to a session produced."""

    messages: list[ForwardMessage] = field(default_factory=list)
    replies: list[bytes] = field(default_factory=list)
    close: bool = False
    error: str | None = None


class ForwardSession:
    """One connection's protocol state: framing, decoding and the handshake; no I/O."""

    def __init__(self, settings: ForwardSettings | None = None) -> None:
        self.settings = settings or ForwardSettings()
        self._reader = unpacker(self.settings.buffer_max_size)
        self._secured = self.settings.shared_key is not None or self.settings.empty_shared_key
        self._nonce = secrets.token_bytes(16)
        self._auth_salt = secrets.token_bytes(16) if self.settings.users else b""
        self.authenticated = not self._secured
        self.peer_hostname: str | None = None
        self._mark = 0  # stream offset where the next request starts

    def greeting(self) -> bytes | None:
        """``HELO`` when a shared key is configured (the server speaks first), else nothing."""
        if not self._secured:
            return None
        helo: bytes = msgpack.packb(
            ["HELO", {"nonce": self._nonce, "auth": self._auth_salt, "keepalive": True}], use_bin_type=True
        )
        return helo

    def feed(self, data: bytes) -> Fed:
        fed = Fed()
        try:
            self._reader.feed(data)
        except msgpack.BufferFull:
            fed.close = True
            fed.error = f"request larger than the buffer limit ({self.settings.buffer_max_size} bytes)"
            return fed
        try:
            for value in self._reader:
                end = self._reader.tell()
                size, self._mark = end - self._mark, end
                if not self.authenticated:
                    self._handshake(value, fed)
                    if fed.close:
                        return fed
                    continue
                message = decode_message(value, size, self.settings.buffer_max_size * 8)
                if message is not None:
                    fed.messages.append(message)
        except ForwardError as error:
            fed.close, fed.error = True, str(error)
        except (ValueError, msgpack.UnpackException) as error:
            fed.close, fed.error = True, f"malformed msgpack: {error}"
        return fed

    def _handshake(self, value: Any, fed: Fed) -> None:
        if value is None:
            return
        if not isinstance(value, list) or len(value) < 6 or as_text(value[0]) != "PING":
            fed.close, fed.error = True, "expected PING after HELO (shared_key is configured)"
            return
        hostname = as_text(value[1]) or ""
        salt = value[2] if isinstance(value[2], bytes) else (as_text(value[2]) or "").encode()
        digest = as_text(value[3]) or ""
        username = as_text(value[4]) or ""
        password_digest = as_text(value[5]) or ""
        key = self.settings.shared_key or ""
        reason = ""
        if hostname == self.settings.self_hostname:
            reason = "Same hostname between input and output"
        elif digest != _sha512_hex(salt, hostname, self._nonce, key):
            reason = "shared_key mismatch"
        elif self.settings.users:
            known = dict(self.settings.users)
            password = known.get(username)
            if password is None or password_digest != _sha512_hex(self._auth_salt, username, password):
                reason = "username/password mismatch"
        ok = not reason
        pong = [
            "PONG",
            ok,
            reason,
            self.settings.self_hostname,
            _sha512_hex(salt, self.settings.self_hostname, self._nonce, key) if ok else "",
        ]
        fed.replies.append(msgpack.packb(pong, use_bin_type=True))
        if ok:
            self.authenticated = True
            self.peer_hostname = hostname
        else:
            fed.close, fed.error = True, f"handshake failed: {reason}"


def ping(helo: Any, shared_key: str, hostname: str, username: str = "", password: str = "") -> bytes:
    """A client's ``PING`` answering ``helo`` (used by ecslite's own senders and tests)."""
    options = helo[1] if isinstance(helo, list) and len(helo) > 1 and isinstance(helo[1], dict) else {}
    nonce = options.get("nonce", b"")
    auth = options.get("auth", b"")
    salt = secrets.token_bytes(16)
    password_digest = _sha512_hex(auth, username, password) if auth else ""
    packed: bytes = msgpack.packb(
        ["PING", hostname, salt, _sha512_hex(salt, hostname, nonce, shared_key), username, password_digest],
        use_bin_type=True,
    )
    return packed
