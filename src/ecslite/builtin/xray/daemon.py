"""The X-Ray daemon process: segments on UDP (``-b``, default ``0.0.0.0:2000`` as the
``amazon/aws-xray-daemon`` image starts it), the sampling proxy on TCP (``-t``, same port).

Segments are batched (up to 100 or every second) and handed to ecslite as OTLP traces through the
gateway (:mod:`ecslite.builtin.tap`). The sampling proxy answers ``POST /GetSamplingRules`` with
X-Ray's default rule (one request a second, then 5 %) and ``POST /SamplingTargets`` with targets
for the rules the SDK reports, so SDKs configured for the daemon sample as they would on AWS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from typing import Any

import orjson

from ecslite.builtin.http import HttpServer, Request, Response, json_response
from ecslite.builtin.tap import Tap
from ecslite.builtin.xray.segments import BadSegment, parse_datagram, to_request

log = logging.getLogger("ecslite.builtin.xray")

BATCH = 100
FLUSH_SECONDS = 1.0
DEFAULT_RATE = 0.05
DEFAULT_RESERVOIR = 1


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "0.0.0.0", int(port)


class SegmentReceiver(asyncio.DatagramProtocol):
    """UDP datagrams → parsed documents, batched for :meth:`Daemon.flush`."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            self.daemon.pending.append(parse_datagram(data))
        except BadSegment as error:
            self.daemon.bad += 1
            log.warning("segment dropped: %s", error)
            return
        if len(self.daemon.pending) >= BATCH:
            self.daemon.flush_soon()


class Daemon:
    def __init__(self, tap: Tap, region: str, account: str) -> None:
        self.tap = tap
        self.region = region
        self.account = account
        self.pending: list[dict[str, Any]] = []
        self.sent = 0
        self.bad = 0
        self._flushing: asyncio.Task[None] | None = None

    def flush_soon(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        while self.pending:
            documents, self.pending = self.pending[:BATCH], self.pending[BATCH:]
            request, bad = to_request(documents)
            self.bad += bad
            if not request.resource_spans:
                continue
            while True:
                status, text, retry_after = await self.tap.otlp(
                    "traces", request.SerializeToString(), "application/x-protobuf", ""
                )
                if status != 503:
                    break
                await asyncio.sleep(retry_after or 1.0)
            if status != 200:
                log.warning("ecslite refused segments (HTTP %s): %s", status, text)
            self.sent += len(documents)

    async def run_flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    # -- sampling proxy ---------------------------------------------------------------------------

    def _rule(self) -> dict[str, Any]:
        return {
            "RuleName": "Default",
            "RuleARN": f"arn:aws:xray:{self.region}:{self.account}:sampling-rule/Default",
            "ResourceARN": "*",
            "Priority": 10000,
            "FixedRate": DEFAULT_RATE,
            "ReservoirSize": DEFAULT_RESERVOIR,
            "ServiceName": "*",
            "ServiceType": "*",
            "Host": "*",
            "HTTPMethod": "*",
            "URLPath": "*",
            "Version": 1,
            "Attributes": {},
        }

    async def handle(self, request: Request) -> Response:
        now = time.time()
        if request.method == "POST" and request.path == "/GetSamplingRules":
            record = {"SamplingRule": self._rule(), "CreatedAt": 0.0, "ModifiedAt": 0.0}
            return json_response({"SamplingRuleRecords": [record]})
        if request.method == "POST" and request.path == "/SamplingTargets":
            try:
                body = orjson.loads(request.body or b"{}")
            except orjson.JSONDecodeError:
                return json_response({"__type": "InvalidRequestException", "message": "invalid JSON"}, 400)
            names = {
                str(s.get("RuleName")) for s in body.get("SamplingStatisticsDocuments") or () if isinstance(s, dict)
            }
            targets = [
                {
                    "RuleName": name,
                    "FixedRate": DEFAULT_RATE,
                    "ReservoirQuota": DEFAULT_RESERVOIR,
                    "ReservoirQuotaTTL": now + 10,
                    "Interval": 10,
                }
                for name in sorted(names)
            ]
            return json_response(
                {"SamplingTargetDocuments": targets, "LastRuleModification": 0.0, "UnprocessedStatistics": []}
            )
        return json_response({"__type": "NotFoundException", "message": f"{request.method} {request.path}"}, 404)


async def run(args: argparse.Namespace) -> int:
    tap = Tap()
    context = await asyncio.to_thread(tap.context) or {}
    task = context.get("task") or {}
    daemon = Daemon(tap, args.region or task.get("region") or "us-east-1", task.get("account") or "000000000000")
    loop = asyncio.get_running_loop()
    udp_host, udp_port = _address(args.bind)
    transport, _ = await loop.create_datagram_endpoint(lambda: SegmentReceiver(daemon), local_addr=(udp_host, udp_port))
    proxy = HttpServer(daemon.handle)
    tcp_host, tcp_port = _address(args.bind_tcp)
    await proxy.listen(tcp_host, tcp_port)
    print(f"[Info] Initializing AWS X-Ray daemon (ecslite built-in); UDP {udp_host}:{udp_port}", flush=True)
    print(f"[Info] Starting proxy http server on {tcp_host}:{tcp_port}", flush=True)
    flusher = loop.create_task(daemon.run_flusher())
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    flusher.cancel()
    transport.close()
    proxy.close()
    with contextlib.suppress(Exception):
        await daemon.flush()
    await tap.close()
    print(f"[Info] Shutdown finished. {daemon.sent} segments sent, {daemon.bad} dropped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xray", description="ecslite's built-in AWS X-Ray daemon")
    parser.add_argument("-b", "--bind", default="0.0.0.0:2000", help="UDP address for segments")
    parser.add_argument("-t", "--bind-tcp", default="0.0.0.0:2000", help="TCP address of the sampling proxy")
    parser.add_argument("-n", "--region", default=None)
    parser.add_argument("-o", "--local-mode", action="store_true")
    parser.add_argument("-l", "--log-level", default="info")
    args, _unknown = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="[Warn] %(message)s")
    return asyncio.run(run(args))
