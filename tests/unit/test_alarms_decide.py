"""The alarm evaluator's decision (control.alarms.decide): datapoints to alarm and missing data."""

from __future__ import annotations

from ecslite.control.alarms import breaches, decide, is_policy_action


def test_m_out_of_n_breaching_datapoints_alarm() -> None:
    assert decide([80, 85, 90], 70, "GreaterThanThreshold", 3, "missing", "OK").state == "ALARM"
    assert decide([80, 60, 90], 70, "GreaterThanThreshold", 3, "missing", "OK").state == "OK"
    assert decide([80, 60, 90], 70, "GreaterThanThreshold", 2, "missing", "OK").state == "ALARM"


def test_missing_data_treatments() -> None:
    gaps = [None, None, 90.0]
    assert decide([None, None, None], 70, "GreaterThanThreshold", 3, "missing", "OK").state == "INSUFFICIENT_DATA"
    assert decide([None, None, None], 70, "GreaterThanThreshold", 3, "ignore", "ALARM").state == "ALARM"
    assert decide(gaps, 70, "GreaterThanThreshold", 3, "breaching", "OK").state == "ALARM"
    assert decide(gaps, 70, "GreaterThanThreshold", 3, "notBreaching", "OK").state == "OK"
    assert decide(gaps, 70, "GreaterThanThreshold", 3, "missing", "OK").state == "OK"


def test_comparisons_and_policy_actions() -> None:
    assert breaches(70, 70, "GreaterThanOrEqualToThreshold") and not breaches(70, 70, "GreaterThanThreshold")
    assert breaches(10, 45, "LessThanThreshold") and breaches(45, 45, "LessThanOrEqualToThreshold")
    arn = "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:1-2:resource/ecs/service/a/b:policyName/p"
    assert is_policy_action(arn)
    assert not is_policy_action("arn:aws:sns:us-east-1:000000000000:topic")
