"""ecslite's AWS Distro for OpenTelemetry collector (``amazon/aws-otel-collector``): the collector
configuration (YAML, ``AOT_CONFIG_CONTENT`` or ``--config``; the image's ECS default configuration
when none is given), the common receivers (``otlp``, ``awsxray``) and exporters (``otlp``,
``otlphttp``, ``prometheusremotewrite``, ``debug``/``logging``; the AWS exporters deliver to ecslite).
See :mod:`.collector`.
"""
