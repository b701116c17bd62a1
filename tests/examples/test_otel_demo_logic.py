"""Pure logic of the demo's services (spec/otel-demo.md §2.2, §2.4, §3): what the OTEL_* variables mean,
the failure-injection draw, and the generator's settings. No processes, no network."""

from __future__ import annotations

import random
import sys

import pytest

from tests.examples.otel_demo import EXAMPLE

if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from services.common import otel_env
from services.common.faults import FaultDecision, Faults, FaultSettings
from services.loadgen import settings as ho11y

# -- OTEL_* ---------------------------------------------------------------------------------------


def test_signal_endpoint_wins_over_the_generic_one() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://localhost:4317",
    }
    assert otel_env.signal_export(env, "traces") == otel_env.SignalExport(
        "traces", "grpc", "http://localhost:4317", True
    )
    assert otel_env.signal_export(env, "metrics").endpoint == "http://collector:4317"


def test_http_signal_endpoint_is_used_as_is_like_the_seeds_java_container() -> None:
    # Java auto-instrumentation defaults to http/protobuf: the signal endpoint http://localhost:4317
    # is posted to as it is, path "/", which the router rejects (§2.2 seed quirk).
    env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://localhost:4317",
    }
    assert otel_env.signal_export(env, "traces").endpoint == "http://localhost:4317"


def test_http_generic_endpoint_gets_the_signal_path() -> None:
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318/"}
    assert otel_env.signal_export(env, "logs").endpoint == "http://localhost:4318/v1/logs"
    assert otel_env.signal_export({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "metrics").endpoint == (
        "http://localhost:4318/v1/metrics"
    )


def test_defaults_are_grpc_to_localhost_4317() -> None:
    assert otel_env.signal_export({}, "traces") == otel_env.SignalExport(
        "traces", "grpc", "http://localhost:4317", True
    )


def test_signal_protocol_wins_and_unknown_protocols_warn() -> None:
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/protobuf"}
    assert otel_env.signal_protocol(env, "logs") == ("http/protobuf", ())
    protocol, warnings = otel_env.signal_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "traces")
    assert protocol == "http/protobuf"
    assert warnings == ("OTLP protocol http/json has no Python exporter; traces use http/protobuf",)


def test_bare_host_port_is_plaintext_unless_insecure_is_false() -> None:
    assert otel_env.signal_export({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:55680"}, "traces").endpoint == (
        "http://collector:55680"
    )
    secure = otel_env.signal_export(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317", "OTEL_EXPORTER_OTLP_INSECURE": "false"}, "traces"
    )
    assert (secure.endpoint, secure.insecure) == ("https://collector:4317", False)
    assert otel_env.signal_export({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317"}, "traces").insecure is False


def test_exporters_propagators_and_sampler() -> None:
    assert otel_env.exporters({}, "logs") == ("otlp",)
    assert otel_env.exporters({"OTEL_METRICS_EXPORTER": "otlp, prometheus"}, "metrics") == ("otlp", "prometheus")
    assert otel_env.exporters({"OTEL_TRACES_EXPORTER": "none"}, "traces") == ()
    assert otel_env.propagators({}) == ("tracecontext", "baggage", "xray")
    assert otel_env.propagators({"OTEL_PROPAGATORS": "xray"}) == ("xray",)
    assert otel_env.sampler({}) == ("always_on", None)
    assert otel_env.sampler({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}) == (
        "traceidratio",
        0.25,
    )


def test_demo_defaults_fill_only_what_is_unset() -> None:
    assert otel_env.with_defaults({"OTEL_METRIC_EXPORT_INTERVAL": "1000"}) == {
        "OTEL_BSP_SCHEDULE_DELAY": "1000",
        "OTEL_BLRP_SCHEDULE_DELAY": "1000",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
    }


def test_adot_notice_and_service_name() -> None:
    assert otel_env.adot_notice({}) is None
    notice = otel_env.adot_notice({"OTEL_PYTHON_DISTRO": "aws_distro"})
    assert notice is not None and notice.startswith("OTEL_PYTHON_DISTRO=aws_distro name the AWS Distro")
    assert otel_env.service_name({}, "go-gin-service") == "go-gin-service"
    assert otel_env.service_name({"OTEL_RESOURCE_ATTRIBUTES": "a=b,service.name=x"}, "d") == "x"
    assert otel_env.service_name({"OTEL_SERVICE_NAME": "y", "OTEL_RESOURCE_ATTRIBUTES": "service.name=x"}, "d") == "y"


# -- FAULT_* --------------------------------------------------------------------------------------


def test_no_fault_variables_inject_nothing() -> None:
    assert Faults.from_env({}).decide("/orders") is None


def test_error_rate_one_always_errors_and_health_is_spared() -> None:
    faults = Faults(FaultSettings.from_env({"FAULT_ERROR_RATE": "1"}))
    assert faults.decide("/pricing/calculate") == FaultDecision(error=True)
    assert faults.decide("/health") is None


def test_latency_with_jitter_stays_in_range_and_never_negative() -> None:
    faults = Faults(FaultSettings(latency_ms=50, latency_jitter_ms=50), random.Random(7))
    delays = [decision.delay_s for decision in (faults.decide("/x") for _ in range(500)) if decision is not None]
    assert all(0.0 <= d <= 0.1 for d in delays)
    assert min(delays) < 0.01 and max(delays) > 0.09
    assert len(delays) >= 495  # a draw of exactly 0 ms injects nothing


def test_error_and_stall_rates_are_probabilities() -> None:
    faults = Faults(FaultSettings(error_rate=0.05, slow_rate=0.02, slow_ms=3000), random.Random(11))
    decisions = [faults.decide("/notifications/send") for _ in range(20_000)]
    errors = sum(1 for d in decisions if d is not None and d.error)
    stalls = [d for d in decisions if d is not None and d.stalled]
    assert 800 <= errors <= 1200
    assert 300 <= len(stalls) <= 500
    assert {d.delay_s for d in stalls} == {3.0}
    assert {d.kind for d in stalls if not d.error} == {"stall"}


def test_fault_paths_cover_the_path_and_what_is_under_it() -> None:
    settings = FaultSettings.from_env({"FAULT_ERROR_RATE": "1", "FAULT_PATHS": "/orders, /health"})
    assert settings.applies_to("/orders") and settings.applies_to("/orders/error") and settings.applies_to("/health")
    assert not settings.applies_to("/ordersx") and not settings.applies_to("/")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FAULT_ERROR_RATE", "1.5", "FAULT_ERROR_RATE must be a probability between 0 and 1; got 1.5"),
        ("FAULT_LATENCY_MS", "-1", "FAULT_LATENCY_MS must not be negative; got -1.0"),
        ("FAULT_SLOW_RATE", "often", "FAULT_SLOW_RATE must be a number; got 'often'"),
    ],
)
def test_bad_fault_values_are_refused_with_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        FaultSettings.from_env({variable: value})
    assert str(refused.value) == message


# -- the generator --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"), [("187kB", 187 * 1024), ("13kB", 13 * 1024), ("2MB", 2 << 20), ("512", 512), ("1.5k", 1536)]
)
def test_dummy_sizes_are_binary_multiples_like_datasize(text: str, size: int) -> None:
    assert ho11y.parse_size(text) == size


@pytest.mark.parametrize(("text", "seconds"), [("42ms", 0.042), ("2ms", 0.002), ("1m30s", 90.0), ("1.5s", 1.5)])
def test_dummy_durations_use_go_syntax(text: str, seconds: float) -> None:
    assert ho11y.parse_duration(text) == pytest.approx(seconds)


def test_downstream_forms() -> None:
    assert ho11y.parse_downstream(1, "DUMMY:187kB:42ms") == ho11y.Downstream(
        1, "DUMMY:187kB:42ms", "DUMMY", size=191488, duration_s=0.042
    )
    assert ho11y.parse_downstream(0, "POST http://orders:8000/orders").method == "POST"
    assert ho11y.parse_downstream(2, "http://downstream0/") == ho11y.Downstream(
        2, "http://downstream0/", "GET", url="http://downstream0/"
    )
    with pytest.raises(ho11y.SettingError, match=r"DOWNSTREAM3='DUMMY:1kB': a dummy is DUMMY:<size>:<duration>"):
        ho11y.parse_downstream(3, "DUMMY:1kB")
    with pytest.raises(ho11y.SettingError, match="cannot read '4 seconds' as a Go duration"):
        ho11y.parse_downstream(3, "DUMMY:1kB:4 seconds")
    with pytest.raises(ho11y.SettingError, match="expected a URL"):
        ho11y.parse_downstream(4, "orders:8000")


def test_settings_from_the_environment() -> None:
    settings = ho11y.from_env(
        {
            "DOWNSTREAM0": "POST http://orders.otel-demo.local:8000/orders",
            "DOWNSTREAM2": "DUMMY:13kB:2ms",
            "HO11Y_CUTOFF_TPS": "50",
            "HO11Y_LOG_DEST": "stdout",
            "DISABLE_OM": "",
            "OTEL_RESOURCE_ATTRIB": "frontend",
            "HO11Y_LOAD_PROFILE": "burst",
        }
    )
    assert [d.slot for d in settings.downstreams] == [0, 2]
    assert (settings.cutoff_tps, settings.log_to_stdout, settings.openmetrics) == (50.0, True, False)
    assert (settings.service_name, settings.load_rps, settings.load_profile) == ("frontend", 2.0, "burst")
    assert ho11y.from_env({}) == ho11y.Settings()
    with pytest.raises(ho11y.SettingError, match="HO11Y_LOAD_PROFILE='spiky': expected one of steady, burst, high"):
        ho11y.from_env({"HO11Y_LOAD_PROFILE": "spiky"})
    with pytest.raises(ho11y.SettingError, match="HO11Y_CUTOFF_TPS='many'"):
        ho11y.from_env({"HO11Y_CUTOFF_TPS": "many"})


def test_load_profiles() -> None:
    steady, burst, high = (ho11y.Settings(load_rps=2, load_profile=name) for name in ("steady", "burst", "high"))
    assert [ho11y.load_rate(steady, t) for t in (0, 280, 600)] == [2, 2, 2]
    assert [ho11y.load_rate(burst, t) for t in (0, 269, 270, 299, 300, 575)] == [2, 2, 20, 20, 2, 20]
    assert ho11y.load_rate(high, 0) == 40


def test_xray_trace_id_form() -> None:
    assert ho11y.xray_trace_id(0x6193A9BE53693F29A0119EE4D661BA0D) == "1-6193a9be-53693f29a0119ee4d661ba0d"
