"""Application Auto Scaling's arithmetic (model.scaling): tracking formula, steps, cooldowns, bounds and
at/rate/cron schedules in time zones."""

from __future__ import annotations

import datetime as dt

import pytest

from ecslite.model.scaling import (
    LastActivity,
    ScheduleError,
    StepAdjustment,
    clamp,
    next_run,
    parse_schedule,
    pick_step,
    scale_in_allowed,
    scale_out_allowed,
    step_capacity,
    tracking_capacity,
    tracking_scale_in,
)

UTC = dt.UTC


def at(*parts: int, tz: str = "UTC") -> float:
    from zoneinfo import ZoneInfo

    return dt.datetime(*parts, tzinfo=ZoneInfo(tz)).timestamp()


def test_tracking_formula_rounds_up_and_scale_in_is_gradual() -> None:
    assert tracking_capacity(2, 90.0, 50.0) == 4
    assert tracking_capacity(3, 70.0, 70.0) == 3
    assert tracking_scale_in(20, 10.0, 50.0) == 18  # 10 % of 20
    assert tracking_scale_in(4, 10.0, 50.0) == 3  # at least one
    assert tracking_scale_in(1, 10.0, 50.0) == 1


def test_steps_follow_the_bound_rules_above_and_below_the_threshold() -> None:
    steps = [
        StepAdjustment(1, 0.0, 20.0),
        StepAdjustment(3, 20.0, None),
        StepAdjustment(-1, None, 0.0),
    ]
    assert pick_step(steps, 0.0) == steps[0]  # lower bound inclusive above the threshold
    assert pick_step(steps, 20.0) == steps[1]
    assert pick_step(steps, -0.5) == steps[2]
    assert step_capacity(4, "ChangeInCapacity", 3) == 7
    assert step_capacity(4, "ExactCapacity", 2) == 2
    assert step_capacity(4, "PercentChangeInCapacity", 25) == 5
    assert step_capacity(4, "PercentChangeInCapacity", 25, 2) == 6  # MinAdjustmentMagnitude
    assert step_capacity(3, "PercentChangeInCapacity", 10) == 4  # a fraction below 1 still moves one
    assert step_capacity(10, "PercentChangeInCapacity", -55) == 5  # rounded towards zero
    assert clamp(12, 1, 10) == 10 and clamp(0, 1, 10) == 1


def test_cooldowns_block_repeats_but_not_a_bigger_scale_out_and_scale_out_ends_scale_in_cooldown() -> None:
    last = LastActivity(out_at=100.0, out_to=4, in_at=None)
    assert not scale_out_allowed(last, 130.0, 60.0, 4)
    assert scale_out_allowed(last, 130.0, 60.0, 5)
    assert scale_out_allowed(last, 161.0, 60.0, 4)
    assert not scale_in_allowed(LastActivity(in_at=100.0), 200.0, 300.0)
    assert scale_in_allowed(LastActivity(in_at=100.0), 400.0, 300.0)
    assert scale_in_allowed(LastActivity(out_at=150.0, out_to=3, in_at=100.0), 200.0, 300.0)


def test_cron_runs_at_the_next_matching_minute_in_its_time_zone() -> None:
    daily = parse_schedule("cron(0 8 * * ? *)")
    assert next_run(daily, at(2026, 3, 2, 7, 59)) == at(2026, 3, 2, 8, 0)
    assert next_run(daily, at(2026, 3, 2, 8, 0)) == at(2026, 3, 3, 8, 0)
    tokyo = next_run(daily, at(2026, 3, 1, 20, 0), "Asia/Tokyo")  # 05:00 in Tokyo
    assert tokyo == at(2026, 3, 2, 8, 0, tz="Asia/Tokyo")
    weekdays = parse_schedule("cron(30 9 ? * MON-FRI *)")
    assert next_run(weekdays, at(2026, 3, 7, 12, 0)) == at(2026, 3, 9, 9, 30)  # Saturday → Monday
    last_friday = parse_schedule("cron(0 0 ? * 6L *)")
    assert next_run(last_friday, at(2026, 3, 1)) == at(2026, 3, 27)
    every_15 = parse_schedule("cron(0/15 * * * ? *)")
    assert next_run(every_15, at(2026, 3, 2, 8, 1)) == at(2026, 3, 2, 8, 15)


def test_rate_and_at_schedules() -> None:
    rate = parse_schedule("rate(5 minutes)")
    assert next_run(rate, 1000.0, origin=1000.0) == 1300.0
    assert next_run(rate, 1299.0, origin=1000.0) == 1300.0
    once = parse_schedule("at(2026-03-02T08:00:00)")
    assert next_run(once, at(2026, 3, 2, 7, 0)) == at(2026, 3, 2, 8, 0)
    assert next_run(once, at(2026, 3, 2, 9, 0)) is None
    assert next_run(once, at(2026, 3, 2, 7, 0), end=at(2026, 3, 2, 7, 30)) is None


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 8 * * *)",  # five fields
        "cron(0 8 * * * *)",  # neither day field is '?'
        "cron(61 8 * * ? *)",
        "cron(0 8 ? * FUNDAY *)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "at(2026-13-02T08:00:00)",
        "every 5 minutes",
    ],
)
def test_malformed_schedules_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(expression)
