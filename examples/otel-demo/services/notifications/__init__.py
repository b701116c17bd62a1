"""notifications (container ``java-service``, ``java-spring-boot-service``): aiohttp.web, port 8081, and
a Prometheus exporter of its OpenTelemetry metrics on 9464."""
