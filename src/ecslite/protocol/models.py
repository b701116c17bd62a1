"""Loading botocore service models, lazily and once per process.

Models are large (EC2's is several megabytes), so each one is loaded on the first request that
needs it; an idle server holds only what it has served.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How one AWS service is reached on the wire and how it reports invalid input.

    ``validation_error`` is the error code the service uses when input breaks a model constraint
    (length, range, enum, pattern, required member); services disagree on it.
    """

    name: str  # botocore's service name, e.g. "ecs", "elbv2"
    protocol: str  # "json" | "query" | "ec2" | "smithy-rpc-v2-cbor" | "rest-json" | "rest-xml"
    signing_name: str  # the service name in the SigV4 credential scope
    target_prefix: str | None = None  # X-Amz-Target prefix for JSON protocols
    validation_error: str = "ValidationException"
    # Other protocols the service also answers in (the model's ``protocols`` beyond ``protocol``):
    # CloudWatch takes JSON 1.0, query and Smithy RPC v2 CBOR, whichever the client prefers.
    also: tuple[str, ...] = ()

    def speaks(self, protocol: str) -> bool:
        return protocol == self.protocol or protocol in self.also


# Every service ecslite answers for. A unit test checks this table against the installed models.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("ecs", "json", "ecs", "AmazonEC2ContainerServiceV20141113", "InvalidParameterException"),
    ServiceSpec("logs", "json", "logs", "Logs_20140328", "InvalidParameterException"),
    ServiceSpec("application-autoscaling", "json", "application-autoscaling", "AnyScaleFrontendService"),
    ServiceSpec(
        "servicediscovery",
        "json",
        "servicediscovery",
        "Route53AutoNaming_v20170314",
        "InvalidInput",
        also=("smithy-rpc-v2-cbor",),
    ),
    ServiceSpec("secretsmanager", "json", "secretsmanager", "secretsmanager", "InvalidParameterException"),
    ServiceSpec("ssm", "json", "ssm", "AmazonSSM"),
    ServiceSpec("acm", "json", "acm", "CertificateManager"),
    ServiceSpec("events", "json", "events", "AWSEvents"),
    # ECR reports broken constraints as "Invalid parameter at '<member>' failed to satisfy constraint".
    ServiceSpec("ecr", "json", "ecr", "AmazonEC2ContainerRegistry_V20150921", "InvalidParameterException"),
    ServiceSpec("sts", "query", "sts", None, "ValidationError"),
    ServiceSpec("iam", "query", "iam", None, "ValidationError"),
    ServiceSpec("elbv2", "query", "elasticloadbalancing", None, "ValidationError"),
    ServiceSpec("cloudformation", "query", "cloudformation", None, "ValidationError"),
    ServiceSpec("ec2", "ec2", "ec2", None, "InvalidParameterValue"),
    ServiceSpec(
        "cloudwatch",
        "json",
        "monitoring",
        "GraniteServiceVersion20100801",
        "ValidationError",
        also=("smithy-rpc-v2-cbor", "query"),
    ),
    ServiceSpec("scheduler", "rest-json", "scheduler"),
    # S3 is routed by the edge before the dispatcher (edge/s3.py): its bodies are streamed.
    ServiceSpec("s3", "rest-xml", "s3", None, "InvalidArgument"),
)

BY_TARGET_PREFIX = {s.target_prefix: s for s in SERVICES if s.target_prefix}
BY_SIGNING_NAME = {s.signing_name: s for s in SERVICES}
BY_NAME = {s.name: s for s in SERVICES}


@functools.cache
def _loader() -> Loader:
    return Loader()


@functools.cache
def service_model(name: str) -> ServiceModel:
    raw = _loader().load_service_model(name, "service-2")
    return ServiceModel(raw, service_name=name)


# Operation models by (service, operation), filled on first use. Only names the model defines are
# kept, so requests naming random operations cannot grow it.
_OPERATIONS: dict[tuple[str, str], OperationModel] = {}


@functools.cache
def _operation_names(service: str) -> frozenset[str]:
    return frozenset(service_model(service).operation_names)


def operation_model(service: str, operation: str) -> OperationModel | None:
    key = (service, operation)
    found = _OPERATIONS.get(key)
    if found is None:
        if operation not in _operation_names(service):
            return None
        found = _OPERATIONS[key] = service_model(service).operation_model(operation)
    return found


@functools.cache
def error_codes(service: str) -> frozenset[str]:
    """Codes of the errors the model declares (its ``error.code`` where set, else the shape name)."""
    model = service_model(service)
    codes = set()
    for shape in model.error_shapes:
        codes.add(shape.metadata.get("error", {}).get("code", shape.name))
    return frozenset(codes)


@functools.cache
def query_compatible(service: str) -> bool:
    """True for services that moved off the query protocol and keep its error codes (``awsQueryCompatible``):
    their JSON and CBOR errors name the query code in the ``x-amzn-query-error`` header."""
    return "awsQueryCompatible" in service_model(service).metadata


@functools.cache
def _error_shapes(service: str) -> dict[str, str]:
    model = service_model(service)
    return {shape.metadata.get("error", {}).get("code", shape.name): shape.name for shape in model.error_shapes}


def error_type(service: str, code: str) -> str:
    """The ``__type`` a JSON or CBOR error of ``code`` carries: the error shape's name where the model
    declares the code (CloudWatch's ``InvalidParameterValue`` is ``InvalidParameterValueException``)."""
    return _error_shapes(service).get(code, code)
