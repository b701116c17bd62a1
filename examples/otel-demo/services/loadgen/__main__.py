"""``python -m services.loadgen``: ho11y's start-up (logs of the settings), telemetry with X-Ray trace
ids, then the aiohttp app until SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from services.common import otel_setup
from services.loadgen import settings as settings_module

log = logging.getLogger("ho11y")


class LogrusJsonFormatter(otel_setup.JsonLineFormatter):
    """logrus' JSON lines as ho11y writes them (``level``, ``msg``, ``time`` and the fields), plus the
    W3C ``trace_id``/``span_id`` that link a line to its trace."""

    def format(self, record: logging.LogRecord) -> str:
        base = json.loads(super().format(record))
        document: dict[str, Any] = {
            "level": record.levelname.lower(),
            "msg": base.pop("message"),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
        }
        base.pop("level", None)
        base.pop("time", None)
        document.update(base)
        return json.dumps(document, default=str, ensure_ascii=False)


def main() -> int:
    try:
        settings = settings_module.from_env(os.environ)
    except settings_module.SettingError as error:
        print(json.dumps({"level": "fatal", "msg": str(error)}), file=sys.stderr)
        return 2
    from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator

    stream = sys.stdout if settings.log_to_stdout else sys.stderr
    telemetry = otel_setup.configure(
        settings.service_name,
        id_generator=AwsXRayIdGenerator(),
        log_stream=stream,
        log_formatter=LogrusJsonFormatter(settings.service_name),
    )
    from aiohttp import web

    from services.loadgen.app import create_app

    if settings.inject_failure:
        log.info("Failure injection enabled, dropping half of the requests")
    for downstream in settings.downstreams:
        log.info(f"Using downstream {downstream.slot}: {downstream.spec}")
    if settings.cutoff_tps is not None:
        log.info(f"Throttling enabled with a {settings.cutoff_tps:g} TPS cutoff point")
    if not settings.openmetrics:
        log.info("OpenMetrics disabled")
    if settings.load_rps:
        log.info(f"Self-invoking / at {settings.load_rps:g} calls per second ({settings.load_profile} profile)")
    host = os.environ.get("HOST", "").strip() or "0.0.0.0"
    log.info(f"Launching ho11y: I am [{settings.service_name}] listening on port :{settings.port} on all local IPs.")
    try:
        web.run_app(
            create_app(settings, telemetry),
            host=host,
            port=settings.port,
            print=None,
            access_log=None,
            shutdown_timeout=5.0,
        )
    finally:
        telemetry.shutdown(timeout_s=5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
