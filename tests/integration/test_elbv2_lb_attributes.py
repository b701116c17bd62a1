"""Load balancer attributes through boto3: defaults, changes, validation, deletion protection, and
what the local ALB does with ``idle_timeout``, the X-Forwarded-For mode and invalid header names."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.http_backend import LocalHttpServer, QuietHandler
from tests.fixtures.ports import free_port
from tests.integration.test_elbv2_api import default_network, error_of, forward, make_lb
from tests.integration.test_elbv2_health import wait_for


class EchoBackend:
    """Answers every request with the headers it received (JSON); ``/slow`` waits 3 s first."""

    def __init__(self) -> None:
        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path == "/slow":
                    time.sleep(3)
                body = json.dumps([[k, v] for k, v in self.headers.items()]).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.http = LocalHttpServer(Handler)
        self.port = self.http.port

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def backend() -> Iterator[EchoBackend]:
    running = EchoBackend()
    yield running
    running.close()


def attributes(elbv2: Any, arn: str) -> dict[str, str]:
    return {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}


def modify(elbv2: Any, arn: str, **values: str) -> dict[str, str]:
    items = [{"Key": k.replace("__", "."), "Value": v} for k, v in values.items()]
    answer = elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=items)["Attributes"]
    return {a["Key"]: a["Value"] for a in answer}


def test_new_load_balancer_has_aws_default_attributes(elbv2: Any, ec2: Any) -> None:
    arn = make_lb(elbv2, ec2)["LoadBalancerArn"]
    found = attributes(elbv2, arn)
    assert {
        "idle_timeout.timeout_seconds": "60",
        "deletion_protection.enabled": "false",
        "routing.http2.enabled": "true",
        "access_logs.s3.enabled": "false",
        "access_logs.s3.bucket": "",
        "access_logs.s3.prefix": "",
        "routing.http.drop_invalid_header_fields.enabled": "false",
        "routing.http.x_amzn_tls_version_and_cipher_suite_headers.enabled": "false",
        "routing.http.xff_header_processing.mode": "append",
        "client_keep_alive.seconds": "3600",
        "load_balancing.cross_zone.enabled": "true",
        "routing.http.desync_mitigation_mode": "defensive",
    }.items() <= found.items()
    # Never part of DescribeLoadBalancers.
    shown = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    assert "Attributes" not in shown


def test_modify_attributes_round_trip_and_keeps_the_others(elbv2: Any, ec2: Any) -> None:
    arn = make_lb(elbv2, ec2)["LoadBalancerArn"]
    answer = elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arn,
        Attributes=[
            {"Key": "idle_timeout.timeout_seconds", "Value": "4000"},
            {"Key": "routing.http2.enabled", "Value": "false"},
            {"Key": "routing.http.xff_header_processing.mode", "Value": "remove"},
            {"Key": "access_logs.s3.bucket", "Value": "my-logs"},
        ],
    )["Attributes"]
    found = attributes(elbv2, arn)
    assert {a["Key"]: a["Value"] for a in answer} == found
    assert found["idle_timeout.timeout_seconds"] == "4000"
    assert found["routing.http2.enabled"] == "false"
    assert found["routing.http.xff_header_processing.mode"] == "remove"
    assert found["access_logs.s3.bucket"] == "my-logs"
    assert found["deletion_protection.enabled"] == "false"
    assert found["client_keep_alive.seconds"] == "3600"


def test_attribute_keys_and_values_are_checked_and_nothing_changes_on_error(elbv2: Any, ec2: Any) -> None:
    arn = make_lb(elbv2, ec2)["LoadBalancerArn"]
    call = elbv2.modify_load_balancer_attributes
    code, message = error_of(call, LoadBalancerArn=arn, Attributes=[{"Key": "idle_timeout.seconds", "Value": "5"}])
    assert code == "ValidationError"
    assert message == "Load balancer attribute key 'idle_timeout.seconds' is not recognized"
    for bad in ("0", "4001", "ten"):
        code, message = error_of(
            call, LoadBalancerArn=arn, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": bad}]
        )
        assert code == "ValidationError" and "idle_timeout.timeout_seconds" in message
    code, _ = error_of(
        call, LoadBalancerArn=arn, Attributes=[{"Key": "routing.http.xff_header_processing.mode", "Value": "keep"}]
    )
    assert code == "ValidationError"
    code, _ = error_of(call, LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "yes"}])
    assert code == "ValidationError"
    code, _ = error_of(
        call, LoadBalancerArn=arn, Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "false"}]
    )
    assert code == "InvalidConfigurationRequest"
    # The first change is valid, the second is not: neither is made.
    error_of(
        call,
        LoadBalancerArn=arn,
        Attributes=[
            {"Key": "idle_timeout.timeout_seconds", "Value": "30"},
            {"Key": "client_keep_alive.seconds", "Value": "59"},
        ],
    )
    assert attributes(elbv2, arn)["idle_timeout.timeout_seconds"] == "60"
    missing = arn.rsplit("/", 1)[0] + "/0123456789abcdef"
    code, _ = error_of(elbv2.describe_load_balancer_attributes, LoadBalancerArn=missing)
    assert code == "LoadBalancerNotFound"


def test_deletion_protection_refuses_delete_until_turned_off(elbv2: Any, ec2: Any) -> None:
    arn = make_lb(elbv2, ec2)["LoadBalancerArn"]
    modify(elbv2, arn, deletion_protection__enabled="true")
    code, message = error_of(elbv2.delete_load_balancer, LoadBalancerArn=arn)
    assert code == "OperationNotPermitted"
    assert message == f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled"
    assert [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]] == [arn]
    modify(elbv2, arn, deletion_protection__enabled="false")
    elbv2.delete_load_balancer(LoadBalancerArn=arn)
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []


def test_load_balancer_holds_an_address_in_each_subnet_until_deleted(elbv2: Any, ec2: Any) -> None:
    _, subnets = default_network(ec2)

    def free() -> list[int]:
        found = {s["SubnetId"]: s for s in ec2.describe_subnets(SubnetIds=subnets[:2])["Subnets"]}
        return [found[s]["AvailableIpAddressCount"] for s in subnets[:2]]

    before = free()
    arn = make_lb(elbv2, ec2)["LoadBalancerArn"]
    assert free() == [n - 1 for n in before]
    elbv2.delete_load_balancer(LoadBalancerArn=arn)
    assert free() == before


def serve(elbv2: Any, ec2: Any, backend: EchoBackend) -> tuple[str, int]:
    """A load balancer with one listener forwarding to an instance group whose target is ``backend``."""
    vpc, _ = default_network(ec2)
    group = elbv2.create_target_group(
        Name="echo", Protocol="HTTP", Port=backend.port, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "i-0123456789abcdef0"}])
    lb = make_lb(elbv2, ec2)["LoadBalancerArn"]
    port = free_port()
    elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=forward(group))
    return lb, port


def headers_seen(port: int, **headers: str) -> dict[str, str] | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/", headers=headers, timeout=5)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    return {k.lower(): v for k, v in response.json()}


def test_local_alb_follows_the_xff_mode(endpoint: str, elbv2: Any, ec2: Any, backend: EchoBackend) -> None:
    lb, port = serve(elbv2, ec2, backend)
    seen = wait_for(lambda: headers_seen(port, **{"X-Forwarded-For": "203.0.113.7"}))
    assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    modify(elbv2, lb, routing__http__xff_header_processing__mode="preserve")
    assert wait_for(lambda: (s := headers_seen(port, **{"X-Forwarded-For": "203.0.113.7"})) and s["x-forwarded-for"])
    seen = headers_seen(port, **{"X-Forwarded-For": "203.0.113.7"})
    assert seen is not None and seen["x-forwarded-for"] == "203.0.113.7"
    seen = headers_seen(port)
    assert seen is not None and "x-forwarded-for" not in seen
    modify(elbv2, lb, routing__http__xff_header_processing__mode="remove")
    assert wait_for(lambda: (s := headers_seen(port, **{"X-Forwarded-For": "1.2.3.4"})) and "x-forwarded-for" not in s)
    seen = headers_seen(port, **{"X-Forwarded-For": "1.2.3.4"})
    assert seen is not None and "x-forwarded-for" not in seen and seen["x-forwarded-port"] == str(port)
    served = httpx.get(f"{endpoint}/_ecslite/elb/listeners").json()
    # The fake runtime has no bridge: 127.0.0.1 only.
    assert [v["privateEndpoints"] for v in served.values()] == [[]]
    dns_name = elbv2.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"][0]["DNSName"]
    assert [(v["dnsName"], v["endpoint"]) for v in served.values()] == [(dns_name, f"127.0.0.1:{port}")]


def test_local_alb_drops_invalid_header_names_when_asked(elbv2: Any, ec2: Any, backend: EchoBackend) -> None:
    lb, port = serve(elbv2, ec2, backend)
    seen = wait_for(lambda: headers_seen(port, **{"X_Custom": "1", "X-Fine": "2"}))
    assert seen["x_custom"] == "1" and seen["x-fine"] == "2"
    modify(elbv2, lb, routing__http__drop_invalid_header_fields__enabled="true")
    assert wait_for(lambda: (s := headers_seen(port, **{"X_Custom": "1", "X-Fine": "2"})) and "x_custom" not in s)
    seen = headers_seen(port, **{"X_Custom": "1", "X-Fine": "2"})
    assert seen is not None and "x_custom" not in seen and seen["x-fine"] == "2"


def test_local_alb_answers_504_after_the_idle_timeout(elbv2: Any, ec2: Any, backend: EchoBackend) -> None:
    lb, port = serve(elbv2, ec2, backend)
    wait_for(lambda: headers_seen(port))
    started = time.monotonic()
    assert httpx.get(f"http://127.0.0.1:{port}/slow", timeout=10).status_code == 200
    assert time.monotonic() - started >= 2.9
    modify(elbv2, lb, idle_timeout__timeout_seconds="1")
    time.sleep(0.5)  # the listener takes the new timeout from the next request on
    started = time.monotonic()
    response = httpx.get(f"http://127.0.0.1:{port}/slow", timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 504 and "504 Gateway Time-out" in response.text
    assert 0.9 <= elapsed < 2.5
