"""The UI's pure rules: which stopped tasks are failures, a service's one-word state, the dependsOn
start layers, and request rates counted per chart step from the span-metric counters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ecslite.telemetry.store import Matcher
from ecslite.telemetry.store.metrics import SeriesData
from ecslite.ui.ecs_views import is_failing, rollout_health, start_order
from ecslite.ui.red_views import LOOKBACK_MS, rate_series


def stopped(code: str, reason: str = "", **container: Any) -> dict[str, Any]:
    return {
        "lastStatus": "STOPPED",
        "stopCode": code,
        "stoppedReason": reason,
        "containers": [{"name": "app", "lastStatus": "STOPPED", **container}],
    }


@pytest.mark.parametrize(
    ("task", "failing"),
    [
        (stopped("EssentialContainerExited", exitCode=3), True),
        (stopped("EssentialContainerExited", exitCode=137, reason="OutOfMemoryError: Container killed"), True),
        (stopped("EssentialContainerExited", exitCode=0), False),
        (stopped("TaskFailedToStart", reason="CannotPullContainerError: pull failed"), True),
        (stopped("UserInitiated", "Task stopped by user", exitCode=143), False),
        (stopped("ServiceSchedulerInitiated", "Task failed container health checks"), True),
        (stopped("ServiceSchedulerInitiated", "Scaling activity initiated by (deployment ecs-svc/1)"), False),
        ({"lastStatus": "RUNNING", "stopCode": "EssentialContainerExited", "containers": []}, False),
    ],
)
def test_is_failing_counts_only_real_failures(task: dict[str, Any], failing: bool) -> None:
    assert is_failing(task) is failing


def service(status: str = "ACTIVE", running: int = 2, desired: int = 2, *rollouts: str) -> dict[str, Any]:
    return {
        "status": status,
        "runningCount": running,
        "desiredCount": desired,
        "deployments": [{"rolloutState": state} for state in rollouts or ("COMPLETED",)],
    }


def test_rollout_health_names_the_service_state() -> None:
    assert rollout_health(service()) == "steady"
    assert rollout_health(service("ACTIVE", 2, 2, "FAILED", "COMPLETED")) == "failed"
    assert rollout_health(service("ACTIVE", 1, 2, "IN_PROGRESS")) == "deploying"
    assert rollout_health(service("ACTIVE", 2, 2, "COMPLETED", "COMPLETED")) == "deploying"
    assert rollout_health(service("ACTIVE", 1, 2)) == "degraded"
    assert rollout_health(service("DRAINING")) == "draining"
    assert rollout_health(service("INACTIVE")) == "inactive"


def container(name: str, *needs: str) -> dict[str, Any]:
    return {"name": name, "dependsOn": [{"containerName": n, "condition": "START"} for n in needs]}


def test_start_order_layers_containers_by_their_deepest_dependency() -> None:
    containers = [
        container("app", "proxy", "migrate"),
        container("proxy"),
        container("migrate", "proxy"),
        container("log"),
    ]
    assert start_order(containers) == [["proxy", "log"], ["migrate"], ["app"]]


def test_start_order_puts_a_cycle_last_instead_of_looping() -> None:
    assert start_order([container("a", "b"), container("b", "a"), container("c")]) == [["c"], ["a", "b"]]


def reader(*series: SeriesData) -> Any:
    def read(matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[SeriesData]:
        name = next(m.value for m in matchers if m.name == "__name__")
        found = []
        for s in series:
            if dict(s.labels)["__name__"] != name:
                continue
            kept = [(t, v) for t, v in zip(s.timestamps, s.values, strict=True) if start_ms <= t <= end_ms]
            found.append(SeriesData(s.labels, [t for t, _ in kept], [v for _, v in kept]))
        return found

    return read


def counter(service: str, kind: str, points: list[tuple[int, float]]) -> SeriesData:
    labels = (("__name__", "calls"), ("service", service), ("span_kind", kind))
    return SeriesData(labels, [t for t, _ in points], [v for _, v in points])


def by_service(labels: Any) -> str | None:
    return str(labels["service"]) if labels.get("span_kind") == "SERVER" else None


def test_rate_series_counts_a_new_series_from_zero_in_its_first_step() -> None:
    read = reader(counter("web", "SERVER", [(105_000, 6.0), (110_000, 6.0), (125_000, 9.0)]))
    rates = rate_series(read, "calls", 100_000, 130_000, 15_000, by_service)
    # Steps end at 115 s and 130 s: six calls in the first (the series began there), three in the second.
    assert rates == {"web": [[115_000.0, 6 / 15], [130_000.0, 3 / 15]]}


def test_rate_series_takes_the_baseline_before_the_window_and_survives_a_restart() -> None:
    before = 100_000 - LOOKBACK_MS // 2
    points = [(before, 50.0), (100_000, 60.0), (108_000, 64.0), (120_000, 2.0)]  # a restart at 120 s
    read = reader(counter("web", "SERVER", points), counter("web", "CLIENT", [(108_000, 99.0)]))
    rates = rate_series(read, "calls", 100_000, 130_000, 15_000, by_service)
    assert rates == {"web": [[115_000.0, 4 / 15], [130_000.0, 2 / 15]]}


def test_rate_series_sums_the_series_of_one_key() -> None:
    read = reader(counter("web", "SERVER", [(101_000, 1.0)]), counter("web", "SERVER", [(102_000, 2.0)]))
    assert rate_series(read, "calls", 100_000, 110_000, 10_000, by_service) == {"web": [[110_000.0, 0.3]]}
