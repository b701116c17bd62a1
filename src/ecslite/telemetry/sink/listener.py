"""The export sink's listeners: Loki push on 3100, OTLP/HTTP on 4318, remote write on 19291, bound to
the gateway addresses of the server's VPC bridge (spec/otel-demo.md §4.1 step 2; telemetry.md §6.2–6.4).

``ecslite up`` points a router's ``LOKI_ENDPOINT``/``TEMPO_ENDPOINT``/``THANOS_ENDPOINT`` at a subnet
gateway, the address a task reaches the host by. Each request is checked as the backend would check
it (:mod:`.checks`), answered like it, and counted per source task and output (:mod:`.counters`);
nothing is stored, since the router's input tap already stored every record (§6.5).

Binding: every address is bound on the bridge (``SO_BINDTODEVICE``) with ``IP_FREEBIND``, because a
subnet's gateway appears on the bridge only once a task uses that subnet; so a host process on
another interface never sees the sink and two servers with different bridges keep apart. Any port
already taken on the configured addresses (the default subnets' and the bridge range's gateways)
leaves the sink off with one warning, and the server goes on. Checks run on one thread owned by the
sink, never on the event loop.

Subnets come and go (CreateSubnet, DeleteSubnet): :meth:`ExportSink.serve_gateways` names the
gateways of the subnets that exist now (control.sink_gateways), and the sink binds the new ones and
closes the listeners of those no longer named, on the ports the configured addresses got. The
configured addresses are served for the sink's whole life. One sync runs at a time, and the last
one always runs with the latest set, so the listeners end as the last announcement says.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ecslite.builtin.http import HttpServer, Request, Response
from ecslite.listen_sockets import listen_tcp
from ecslite.telemetry.enrich import TaskOwner, TaskOwners
from ecslite.telemetry.sink import checks
from ecslite.telemetry.sink.counters import HOST, OutputStats, SinkCounters

log = logging.getLogger(__name__)

LOKI, OTLP, REMOTE_WRITE = "loki", "otlp", "remote_write"


@dataclass(frozen=True, slots=True)
class SinkPorts:
    loki: int = 3100
    otlp: int = 4318
    remote_write: int = 19291

    def items(self) -> list[tuple[str, int]]:
        return [(LOKI, self.loki), (OTLP, self.otlp), (REMOTE_WRITE, self.remote_write)]


class ExportSink:
    """A server component (process runtime): the sink's listeners and counters."""

    name = "export-sink"

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        device: str | None = None,
        ports: SinkPorts = SinkPorts(),
        owners: TaskOwners | None = None,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.configured = tuple(dict.fromkeys(addresses))
        self.device = device
        self.ports = ports
        self.now_ns = now_ns
        self.counters = SinkCounters()
        self.series = checks.SeriesClock()
        self.bound: dict[str, int] = {}  # kind -> port actually bound (a test may ask for port 0)
        self.problem: str | None = None
        self._gateways: tuple[str, ...] = ()  # the subnets' gateways last announced
        self._listeners: dict[str, list[HttpServer]] = {}  # address -> its servers, one per kind
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync: asyncio.Task[None] | None = None
        self._sync_again = False
        self._by_address: dict[str, str] = {}
        self._lock = threading.Lock()
        if owners is not None:
            for arn, owner in owners.all().items():
                self._on_owner(arn, owner)
            owners.subscribe(self._on_owner)

    @property
    def listening(self) -> bool:
        return bool(self._listeners)

    @property
    def addresses(self) -> tuple[str, ...]:
        """What the sink is to serve: the configured addresses, then the announced gateways."""
        return tuple(dict.fromkeys([*self.configured, *self._gateways]))

    def served(self) -> list[str]:
        """The addresses listened on now."""
        return list(self._listeners)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        sockets: dict[str, list[tuple[str, socket.socket]]] = {}
        try:
            for kind, port in self.ports.items():
                chosen = port
                for address in self.configured:
                    sock = self._bind(address, chosen)
                    sockets.setdefault(address, []).append((kind, sock))
                    chosen = sock.getsockname()[1]  # port 0: the same port on every address
                self.bound[kind] = chosen
        except OSError as error:
            for opened in sockets.values():
                for _, sock in opened:
                    sock.close()
            self.bound.clear()
            self.problem = f"port {port} on {address} is not free ({error.strerror or error})"
            log.warning(
                "export sink off: tasks' Loki, Tempo and Thanos endpoints will not answer",
                extra={"address": address, "port": port, "error": str(error), "device": self.device},
            )
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-sink")
        for address, opened in sockets.items():
            self._listeners[address] = await self._serve(opened)
        self._loop = asyncio.get_running_loop()
        # The gateways announced before start go through the one sync path, like later ones.
        self._sync = self._loop.create_task(self._sync_until_settled())
        await self._sync

    async def stop(self) -> None:
        self._loop = None  # no new sync from here on
        if self._sync is not None:
            # Awaited, not cancelled: a sync cut between bind and serve would leave a socket open.
            await self._sync
            self._sync = None
        for address in list(self._listeners):
            self._close(address)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def reset(self) -> None:
        self.counters.clear()
        self.series.clear()

    def _bind(self, address: str, port: int) -> socket.socket:
        return listen_tcp(address, port, device=self.device, freebind=bool(self.device))

    async def _serve(self, opened: Sequence[tuple[str, socket.socket]]) -> list[HttpServer]:
        handlers = {LOKI: self._loki, OTLP: self._otlp, REMOTE_WRITE: self._remote_write}
        servers = []
        for kind, sock in opened:
            server = HttpServer(handlers[kind])
            await server.listen_socket(sock)
            servers.append(server)
        return servers

    def _close(self, address: str) -> None:
        for server in self._listeners.pop(address, ()):
            server.close()

    # -- subnets as they come and go ----------------------------------------------------------------

    def serve_gateways(self, addresses: Sequence[str]) -> None:
        """Serve these subnet gateways beside the configured addresses from now on (and no others).

        Called from the event loop's thread (the store's change feed); the binding runs in a task
        the sink owns. Before :meth:`start` it only records them.
        """
        self._gateways = tuple(dict.fromkeys(addresses))
        if self._loop is None or not self._listeners:
            return
        if self._sync is not None and not self._sync.done():
            self._sync_again = True
            return
        self._sync = self._loop.create_task(self._sync_until_settled())

    async def synced(self) -> None:
        """Return once the listeners match the last :meth:`serve_gateways` (at once if they do)."""
        while self._sync is not None and not self._sync.done():
            await asyncio.shield(self._sync)

    async def _sync_until_settled(self) -> None:
        self._sync_again = True
        while self._sync_again:
            self._sync_again = False
            await self._sync_gateways()

    async def _sync_gateways(self) -> None:
        wanted = self.addresses
        for address in [a for a in self._listeners if a not in wanted]:
            self._close(address)
            log.info("export sink: subnet gateway let go", extra={"address": address})
        for address in [a for a in wanted if a not in self._listeners]:
            opened: list[tuple[str, socket.socket]] = []
            try:
                for kind, _ in self.ports.items():
                    opened.append((kind, self._bind(address, self.bound[kind])))
            except OSError as error:
                for _, sock in opened:
                    sock.close()
                self.problem = f"port {self.bound[kind]} on {address} is not free ({error.strerror or error})"
                log.warning(
                    "export sink: a subnet's tasks will not reach the sink at their gateway",
                    extra={"address": address, "port": self.bound[kind], "error": str(error), "device": self.device},
                )
                continue
            self._listeners[address] = await self._serve(opened)
            log.info("export sink: subnet gateway served", extra={"address": address})
        if all(address in self._listeners for address in wanted):
            self.problem = None

    # -- what it shows -----------------------------------------------------------------------------

    def urls(self, address: str) -> dict[str, str]:
        """What a router at ``address``'s subnet is pointed at (``up`` prints these)."""
        return {
            "loki": f"http://{address}:{self.ports.loki}/loki/api/v1/push",
            "tempo": f"http://{address}:{self.ports.otlp}/v1/traces",
            "thanos": f"http://{address}:{self.ports.remote_write}/api/v1/receive",
        }

    def stats(self) -> dict[str, Any]:
        return {
            "listening": self.listening,
            "addresses": self.served() if self.listening else list(self.addresses),
            "ports": dict(self.bound) if self.bound else {kind: port for kind, port in self.ports.items()},
            "problem": self.problem,
            "totals": self.counters.totals(),
            "tasks": self.counters.sources(),
        }

    def task_stats(self, task_arn: str) -> dict[str, OutputStats]:
        return self.counters.of(task_arn)

    # -- who is sending ------------------------------------------------------------------------------

    def _on_owner(self, task_arn: str, owner: TaskOwner | None) -> None:
        with self._lock:
            for address, arn in list(self._by_address.items()):
                if arn == task_arn:
                    del self._by_address[address]
            if owner is not None and owner.ipv4:
                self._by_address[owner.ipv4] = task_arn

    def source_of(self, request: Request) -> str:
        address = request.peer[0] if request.peer else None
        with self._lock:
            return self._by_address.get(address or "", HOST)

    # -- handlers ------------------------------------------------------------------------------------

    async def _run(self, function: Callable[[], checks.Verdict]) -> checks.Verdict:
        executor = self._executor
        if executor is None:
            return checks.Verdict(503, b"shutting down\n")
        return await asyncio.get_running_loop().run_in_executor(executor, function)

    async def _answer(self, request: Request, output: str | None, verdict: checks.Verdict) -> Response:
        if output is not None:
            self.counters.record(self.source_of(request), output, len(request.body), verdict)
        return Response(verdict.status, verdict.body, verdict.content_type, verdict.headers)

    async def _loki(self, request: Request) -> Response:
        now = self.now_ns()
        verdict = await self._run(
            lambda: checks.check_loki(request.method, request.path, request.headers, request.body, now)
        )
        pushed = request.path == "/loki/api/v1/push" and request.method == "POST"
        return await self._answer(request, "loki" if pushed else None, verdict)

    async def _otlp(self, request: Request) -> Response:
        verdict = await self._run(
            lambda: checks.check_otlp(request.method, request.path, request.headers, request.body)
        )
        signal = checks.OTLP_PATHS.get(request.path)
        counted = f"otlp/{signal}" if signal is not None and request.method == "POST" else None
        return await self._answer(request, counted, verdict)

    async def _remote_write(self, request: Request) -> Response:
        verdict = await self._run(
            lambda: checks.check_remote_write(request.method, request.path, request.body, self.series)
        )
        written = request.path == "/api/v1/receive" and request.method == "POST"
        return await self._answer(request, "remote_write" if written else None, verdict)
