"""What the UI tests put into a server: ECS state through boto3 (fake runtime, scripted by labels) and
telemetry through the OpenTelemetry SDK's OTLP/HTTP exporters, as an instrumented program sends it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.conftest import make_client

HEALTH = {"command": ["CMD", "true"], "interval": 5, "timeout": 2, "retries": 1}
EXECUTION_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"


def wait_for(check: Callable[[], Any], timeout: float = 45.0, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s")
        time.sleep(interval)


def wait_for_trace(endpoint: str, trace_id: str, spans: int) -> None:
    """Wait until the UI's API has ``spans`` spans of a trace (spans become readable within seconds)."""
    import httpx

    def complete() -> bool:
        answer = httpx.get(f"{endpoint}/ui/api/traces/{trace_id}", timeout=10)
        return answer.status_code == 200 and len(answer.json()["spans"]) >= spans

    wait_for(complete, timeout=30, what=f"trace {trace_id}")


def awslogs(group: str) -> dict[str, Any]:
    options = {"awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}
    return {"logDriver": "awslogs", "options": {**options, "awslogs-create-group": "true"}}


def network(endpoint: str) -> dict[str, Any]:
    subnets = [s["SubnetId"] for s in make_client("ec2", endpoint).describe_subnets()["Subnets"]]
    return {"awsvpcConfiguration": {"subnets": subnets[:2]}}


def register(ecs: Any, family: str, containers: list[dict[str, Any]]) -> str:
    answer = ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        executionRoleArn=EXECUTION_ROLE,
        containerDefinitions=containers,
    )
    return str(answer["taskDefinition"]["taskDefinitionArn"])


def web_containers(image: str = "example/web:1", labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """An init container that finishes, then the app (dependsOn SUCCESS) logging through awslogs."""
    output = {
        "ecslite.fake.output": "listening on :8080\nGET /orders 200 {n}",
        "ecslite.fake.output-interval": "0.5",
        "ecslite.fake.output-repeat": "0",
    }
    return [
        {
            "name": "init",
            "image": "example/migrate:1",
            "essential": False,
            "dockerLabels": {"ecslite.fake.exit-code": "0", "ecslite.fake.output": "migrated 3 tables\n2>1 warning"},
        },
        {
            "name": "app",
            "image": image,
            "healthCheck": HEALTH,
            "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
            "portMappings": [{"containerPort": 8080}],
            "logConfiguration": awslogs("/ecs/web"),
            "dockerLabels": {**output, **(labels or {})},
        },
    ]


@dataclass
class EcsSeed:
    cluster: str
    service_arn: str
    running_task: str
    failed_task: str


def seed_ecs(endpoint: str, cluster: str = "shop") -> EcsSeed:
    """A cluster with a steady two-task service and a standalone task that failed (exit 3)."""
    ecs = make_client("ecs", endpoint)
    ecs.create_cluster(clusterName=cluster)
    register(ecs, "web", web_containers())
    service = ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition="web",
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration=network(endpoint),
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )["service"]
    register(
        ecs,
        "batch",
        [{"name": "job", "image": "example/batch:1", "dockerLabels": {"ecslite.fake.exit-code": "3"}}],
    )
    failed = ecs.run_task(
        cluster=cluster, taskDefinition="batch", launchType="FARGATE", networkConfiguration=network(endpoint)
    )["tasks"][0]["taskArn"]

    def steady() -> bool:
        found = ecs.describe_services(cluster=cluster, services=["web"])["services"][0]
        return bool(found["runningCount"] == 2 and found["deployments"][0]["rolloutState"] == "COMPLETED")

    wait_for(steady, what="service web steady")
    wait_for(
        lambda: ecs.describe_tasks(cluster=cluster, tasks=[failed])["tasks"][0]["lastStatus"] == "STOPPED",
        what="batch task stopped",
    )
    running = ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"][0]
    return EcsSeed(cluster, service["serviceArn"], running, failed)


# -- telemetry -----------------------------------------------------------------------------------


class Telemetry:
    """One TracerProvider and LoggerProvider per service name, exporting synchronously over OTLP/HTTP."""

    def __init__(self, otlp_http: str) -> None:
        self.otlp_http = otlp_http
        self._tracers: dict[str, tuple[TracerProvider, trace_api.Tracer]] = {}
        self._loggers: dict[str, LoggerProvider] = {}

    def _resource(self, service: str) -> Resource:
        return Resource.create({"service.name": service, "service.namespace": "ui-tests"})

    def tracer(self, service: str) -> trace_api.Tracer:
        if service not in self._tracers:
            provider = TracerProvider(resource=self._resource(service))
            provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{self.otlp_http}/v1/traces")))
            self._tracers[service] = (provider, provider.get_tracer("ui-tests"))
        return self._tracers[service][1]

    def log(self, service: str, body: str, span: trace_api.Span | None = None, *, error: bool = False) -> None:
        if service not in self._loggers:
            provider = LoggerProvider(resource=self._resource(service))
            provider.add_log_record_processor(
                SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{self.otlp_http}/v1/logs"))
            )
            self._loggers[service] = provider
        context = span.get_span_context() if span is not None else None
        self._loggers[service].get_logger("ui-tests").emit(
            LogRecord(
                timestamp=time.time_ns(),
                trace_id=context.trace_id if context else None,
                span_id=context.span_id if context else None,
                trace_flags=context.trace_flags if context else None,
                severity_text="ERROR" if error else "INFO",
                severity_number=SeverityNumber.ERROR if error else SeverityNumber.INFO,
                body=body,
            )
        )

    def call(self, client: str, server: str, route: str, *, fail: bool = False) -> str:
        """A request into ``client`` that calls ``server``: SERVER → CLIENT in one service, SERVER in the
        other (its parent the CLIENT span), a log line in each with the trace context. Returns the
        trace id (32 hex digits)."""
        front, back = self.tracer(client), self.tracer(server)
        with front.start_as_current_span(f"GET {route}", kind=SpanKind.SERVER) as root:
            root.set_attribute("http.route", route)
            root.set_attribute("http.request.method", "GET")
            self.log(client, f"handling {route}", root)
            with front.start_as_current_span(f"GET {server}", kind=SpanKind.CLIENT) as outgoing:
                outgoing.set_attribute("server.address", server)
                with back.start_as_current_span(
                    f"GET /{server}", kind=SpanKind.SERVER, context=trace_api.set_span_in_context(outgoing)
                ) as handler:
                    handler.add_event("cache.miss", {"key": route})
                    self.log(server, f"{server} answered {route}", handler, error=fail)
                    if fail:
                        handler.set_status(Status(StatusCode.ERROR, "downstream failed"))
                        outgoing.set_status(Status(StatusCode.ERROR))
            if fail:
                root.set_status(Status(StatusCode.ERROR, "upstream error"))
        return f"{root.get_span_context().trace_id:032x}"

    def close(self) -> None:
        for provider, _tracer in self._tracers.values():
            provider.shutdown()
        for logger in self._loggers.values():
            logger.shutdown()
