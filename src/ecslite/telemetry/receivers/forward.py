"""The Fluent Forward receiver (spec/telemetry.md §4): Forward messages into the telemetry pipeline.

The protocol is split by step:

- :mod:`.forward_protocol`: msgpack values → :class:`ForwardMessage` (modes, EventTime, acks);
- :mod:`.forward_session`: one connection's framing and ``shared_key`` handshake, no I/O;
- :mod:`.forward_server`: listeners, connections and the decoding worker feeding a
  :class:`ForwardSink`;
- this module: :class:`PipelineSink` turns messages into log records (:mod:`.forward_records`) for
  the telemetry pipeline, and :class:`ForwardReceiver` is the server component behind
  ``--forward-port``. The names other modules use are importable from here.

Invariants: nothing is dropped silently. Messages the sink cannot use (``fluent_signal`` metrics
and traces, entries without a time or a map record) are counted; a delivery the pipeline refuses
(§1.4) is offered again as the records already converted, so they are converted and counted once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ecslite.telemetry.receivers.forward_protocol import (
    BUFFER_CHUNK_SIZE,
    BUFFER_MAX_SIZE,
    EVENT_TIME_EXT,
    NS,
    SIGNAL_LOGS,
    SIGNAL_METRICS,
    SIGNAL_TRACES,
    EventTime,
    ForwardError,
    ForwardMessage,
    ack,
    chunk_id,
    decode_entries,
    decode_message,
    event_time,
    ext_hook,
    time_ns,
    unpacker,
)
from ecslite.telemetry.receivers.forward_server import ForwardServer, ForwardSink, Peer
from ecslite.telemetry.receivers.forward_session import Fed, ForwardSession, ForwardSettings, ping

if TYPE_CHECKING:
    from ecslite.telemetry.enrich import TaskOwner, TaskOwners
    from ecslite.telemetry.log_records import LogBatch
    from ecslite.telemetry.pipeline import Pipeline

__all__ = [
    "BUFFER_CHUNK_SIZE",
    "BUFFER_MAX_SIZE",
    "EVENT_TIME_EXT",
    "NS",
    "SIGNAL_LOGS",
    "SIGNAL_METRICS",
    "SIGNAL_TRACES",
    "EventTime",
    "Fed",
    "ForwardError",
    "ForwardMessage",
    "ForwardReceiver",
    "ForwardServer",
    "ForwardSession",
    "ForwardSettings",
    "ForwardSink",
    "Peer",
    "PipelineSink",
    "ack",
    "chunk_id",
    "decode_entries",
    "decode_message",
    "event_time",
    "ext_hook",
    "ping",
    "time_ns",
    "unpacker",
]


class PipelineSink:
    """Forward messages → log records → the telemetry pipeline (§2.3, §4.7).

    The owning task comes from ``owner_of(peer)`` (a listener inside or for one task), else from a
    FireLens record's ``ecs_task_arn`` (the host receiver can be fed by any task's router).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        owners: TaskOwners | None,
        *,
        receiver: str = "forward",
        owner_of: Callable[[Peer], TaskOwner | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from ecslite.telemetry.receivers.forward_records import RecordConverter

        self.pipeline = pipeline
        self.receiver = receiver
        self.owner_of = owner_of
        self.converter = RecordConverter(owners)
        self.clock = clock
        self.dropped_signals: Counter[int] = Counter()
        self.invalid_entries = 0
        self._local = threading.local()  # per delivering thread: the batches of a refused delivery

    def deliver(self, messages: Sequence[ForwardMessage], peer: Peer) -> bool:
        from ecslite.telemetry.model import Signal

        refused: tuple[Sequence[ForwardMessage], list[LogBatch]] | None = getattr(self._local, "refused", None)
        if refused is not None and refused[0] is messages:
            # Offered again after a refusal (§1.4): converted and counted once, with the time it
            # was first received as its observed time.
            batches = refused[1]
        else:
            owner = self.owner_of(peer) if self.owner_of is not None else None
            for message in messages:
                self.invalid_entries += message.invalid
                if message.signal != SIGNAL_LOGS:
                    self.dropped_signals[message.signal] += 1
            batches = self.converter.batches(messages, owner, int(self.clock() * NS))
        # Batches are enriched already (per record's task); the pipeline adds nothing more.
        if batches and self.pipeline.submit_batches(Signal.LOGS, batches, None, self.receiver) is None:
            self._local.refused = (messages, batches)
            return False
        self._local.refused = None
        return True

    def counters(self) -> dict[str, int]:
        return {
            "invalidEntries": self.invalid_entries,
            "droppedMetricsMessages": self.dropped_signals[SIGNAL_METRICS],
            "droppedTracesMessages": self.dropped_signals[SIGNAL_TRACES],
        }


class ForwardReceiver:
    """The host Forward receiver on 127.0.0.1 (``--forward-port``, 0 turns it off); a server component.

    The port is bound when the component is built, so a busy port stops the server before anything
    else starts (:class:`~.listeners.ReceiverPortBusy`), as the OTLP receivers do.
    """

    name = "forward-receiver"

    def __init__(
        self, pipeline: Pipeline, owners: TaskOwners | None, *, port: int = 24224, host: str = "127.0.0.1"
    ) -> None:
        self.sink = PipelineSink(pipeline, owners, receiver="forward")
        self.server = ForwardServer(self.sink, name="forward")
        self._socket: socket.socket | None = None
        if port:
            from ecslite.telemetry.receivers.listeners import ReceiverPortBusy

            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as error:
                sock.close()
                raise ReceiverPortBusy(
                    f"Cannot listen for Fluent Forward on {host}:{port}: {error.strerror or error}. Another "
                    "Fluent Bit, Fluentd or ecslite server holds it; pass --forward-port with another port, or "
                    "--forward-port 0 to turn this receiver off."
                ) from None
            sock.listen(1024)
            sock.setblocking(False)
            self._socket = sock

    @property
    def port(self) -> int | None:
        return self._socket.getsockname()[1] if self._socket is not None else None

    async def start(self) -> None:
        if self._socket is not None:
            await self.server.listen_socket(self._socket)

    async def stop(self) -> None:
        await self.server.close()

    def stats(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "connections": len(self.server.connections),
            "protocolErrors": self.server.worker.errors["protocol"],
            "refusals": self.server.worker.refusals,
            **self.sink.counters(),
        }
