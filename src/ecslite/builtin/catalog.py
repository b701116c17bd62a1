"""The built-in images ecslite implements (design.md "Built-in images", issue 7 item 1).

Each entry names the repositories it stands for (every tag and digest of them, any account for the
ECR patterns) and the module run as the container's process. Images built FROM one of these (the
seed's custom router image) are marked as such in the image map (``"builtin": "<name>"``).
"""

from __future__ import annotations

from ecslite.builtin.registry import REGISTRY, BuiltinImage, BuiltinRegistry, normalize_repository_pattern

AWS_FOR_FLUENT_BIT = BuiltinImage(
    name="aws-for-fluent-bit",
    repositories=(
        "amazon/aws-for-fluent-bit",
        "public.ecr.aws/aws-observability/aws-for-fluent-bit",
        "*.dkr.ecr.*.amazonaws.com/aws-for-fluent-bit",
        "*.dkr.ecr.*.amazonaws.com/aws-observability/aws-for-fluent-bit",
    ),
    module="ecslite.builtin.fluentbit",
    description="AWS for Fluent Bit (FireLens log router): forward, OTLP, the 2020 monitoring API",
)
FLUENT_BIT = BuiltinImage(
    name="fluent-bit",
    repositories=("fluent/fluent-bit", "cr.fluentbit.io/fluent/fluent-bit", "public.ecr.aws/fluent/fluent-bit"),
    module="ecslite.builtin.fluentbit",
    description="Fluent Bit",
)
AWS_OTEL_COLLECTOR = BuiltinImage(
    name="aws-otel-collector",
    repositories=(
        "amazon/aws-otel-collector",
        "public.ecr.aws/aws-observability/aws-otel-collector",
        "*.dkr.ecr.*.amazonaws.com/aws-otel-collector",
    ),
    module="ecslite.builtin.otelcol",
    description="AWS Distro for OpenTelemetry collector: OTLP 4317/4318, X-Ray UDP 2000",
)
AWS_XRAY_DAEMON = BuiltinImage(
    name="aws-xray-daemon",
    repositories=(
        "amazon/aws-xray-daemon",
        "public.ecr.aws/xray/aws-xray-daemon",
        "*.dkr.ecr.*.amazonaws.com/aws-xray-daemon",
    ),
    module="ecslite.builtin.xray",
    description="AWS X-Ray daemon: segments on UDP 2000, sampling proxy on TCP 2000",
)
IMAGES = (AWS_FOR_FLUENT_BIT, FLUENT_BIT, AWS_OTEL_COLLECTOR, AWS_XRAY_DAEMON)


def by_name(name: str) -> BuiltinImage | None:
    """A built-in image by its short name (``aws-for-fluent-bit``), for image map entries."""
    for image in IMAGES:
        if image.name == name:
            return image
    return None


def register_all(registry: BuiltinRegistry = REGISTRY) -> None:
    taken = set(registry.patterns())
    for image in IMAGES:
        if not any(normalize_repository_pattern(p) in taken for p in image.repositories):
            registry.register(image)
