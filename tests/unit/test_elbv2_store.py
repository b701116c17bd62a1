"""The ELBv2 store: links give a group its load balancers, deletes cascade, targets keep their state."""

from __future__ import annotations

from ecslite.store import elbv2 as store
from ecslite.store.db import Database

LB = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0123456789abcdef"
TG = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/api/0123456789abcdef"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/0123456789abcdef/aaaaaaaaaaaaaaaa"
RULE = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/web/0123456789abcdef/aaaaaaaaaaaaaaaa/bb"


def _seed(db: Database) -> None:
    with db.transaction():
        store.insert_load_balancer(db, "000000000000", "us-east-1", {"LoadBalancerName": "web", "LoadBalancerArn": LB})
        store.insert_target_group(
            db, "000000000000", "us-east-1", {"TargetGroupName": "api", "TargetGroupArn": TG}, {"a": "1"}
        )
        store.insert_listener(
            db, "000000000000", "us-east-1", {"ListenerArn": LISTENER, "LoadBalancerArn": LB, "Port": 80}
        )
        store.insert_rule(db, "000000000000", "us-east-1", LISTENER, 5, {"RuleArn": RULE})
        store.set_links(db, RULE, LB, [TG])


def test_a_group_forwarded_to_by_a_rule_names_the_rules_load_balancer() -> None:
    db = Database()
    _seed(db)
    group = store.get_target_group(db, TG)
    assert group is not None and group["LoadBalancerArns"] == [LB]
    assert store.users_of(db, TG) == [RULE]
    assert store.target_group_attributes(db, TG) == {"a": "1"}


def test_deleting_the_load_balancer_removes_its_listeners_rules_and_links() -> None:
    db = Database()
    _seed(db)
    with db.transaction():
        store.delete_load_balancer(db, LB)
    assert store.get_listener(db, LISTENER) is None
    assert store.get_rule(db, RULE) is None
    assert store.users_of(db, TG) == []
    group = store.get_target_group(db, TG)
    assert group is not None and group["LoadBalancerArns"] == []


def test_targets_keep_state_and_drained_ones_are_found_by_time() -> None:
    db = Database()
    _seed(db)
    row = store.TargetRow(TG, "10.0.0.5", 8080, "us-east-1a", "healthy", None, None, 100.0, None, None)
    with db.transaction():
        store.put_target(db, "000000000000", "us-east-1", row)
        store.set_target_state(db, TG, "10.0.0.5", 8080, "draining", "Target.DeregistrationInProgress", "d", 400.0)
    assert store.drained(db, 399.0) == []
    assert [t.id for t in store.drained(db, 400.0)] == ["10.0.0.5"]
    assert store.next_drain_end(db) == 400.0
    with db.transaction():
        store.delete_target_group(db, TG)
    assert store.targets_of(db, TG) == []
