"""How a batch of queued items reaches a destination (spec/telemetry.md §6.1).

A :class:`Sender` turns one batch into one request and reports an
:class:`~ecslite.telemetry.export.retry.Attempt`; it never raises for what the destination
answers. :class:`HttpSender` POSTs one body per batch: subclasses say how items become the body
(the protobuf encoders concatenate serialized messages, which protobuf reads as one merged
message). A connection that fails (refused, reset, timed out) is ``RETRY``: the receiver may come
back. Every request carries ``User-Agent: ecslite/<version>``.

A sender is used by one worker thread at a time and closed once, after its last batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import httpx

from ecslite import __version__
from ecslite.telemetry.export.retry import Attempt, Outcome, classify

USER_AGENT = f"ecslite/{__version__}"


class Sender(Protocol):
    """Turns a batch of items into one request to the destination and reports how it went."""

    name: str

    def send(self, items: Sequence[bytes]) -> Attempt: ...

    def close(self) -> None: ...


class HttpSender:
    """POSTs one body per batch; subclasses say how items become the body (:meth:`encode`)."""

    def __init__(
        self,
        name: str,
        url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._client = httpx.Client(timeout=timeout, auth=auth)

    def encode(self, items: Sequence[bytes]) -> tuple[bytes, dict[str, str]]:
        """The request body and its own headers (content type and encoding)."""
        raise NotImplementedError

    def send(self, items: Sequence[bytes]) -> Attempt:
        body, headers = self.encode(items)
        try:
            response = self._client.post(self.url, content=body, headers={**self.headers, **headers})
        except httpx.HTTPError as error:  # refused, reset, timed out: the receiver may come back
            return Attempt(Outcome.RETRY, None, None, f"{type(error).__name__}: {error}")
        return classify(response.status_code, response.headers.get("retry-after"), response.text)

    def close(self) -> None:
        self._client.close()
