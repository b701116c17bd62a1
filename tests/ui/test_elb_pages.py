"""The load balancer pages (spec/ecs.md §7.5 "Beyond ECS") against a real server: a load balancer with
a listener and rules, a target group whose instance target a local HTTP server answers (healthy,
last check HTTP 200), and a service behind another group whose health check port nothing answers (its task's
target goes unhealthy, and the service page says why); an HTTPS listener with imported certificates
shows its policy and certificates, and requests through it show as the group's traffic. No console
error; screenshots not blank."""

from __future__ import annotations

import datetime
import re
import ssl
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.fixtures.http_backend import LocalHttpServer, QuietHandler
from tests.integration.test_acm import TestCa, import_made
from tests.ui.conftest import UiServer, screenshot
from tests.ui.seed import network, register, wait_for

pytestmark = pytest.mark.integration

INSTANCE = "i-0123456789abcdef0"
CHECKS = {
    "HealthCheckIntervalSeconds": 5,
    "HealthCheckTimeoutSeconds": 2,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2,
}


# A metrics period of 6 s publishes the ALB's metrics every second (six times a period).
METRICS_PERIOD = "6"


@pytest.fixture(scope="module")
def ui_server_args() -> tuple[str, ...]:
    """The UI tests' server (tests/ui/conftest.py) with a short --metrics-period, so traffic shows fast."""
    return ("--metrics-period", METRICS_PERIOD)


class Backend:
    """A local HTTP server answering 200 to the health check path and everything else but
    ``/missing``, which answers 404 (a target 4xx)."""

    def __init__(self) -> None:
        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self.send_response(404 if self.path.startswith("/missing") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.http = LocalHttpServer(Handler)
        self.port = self.http.port

    def close(self) -> None:
        self.http.close()


@dataclass
class Seeded:
    ui: UiServer
    service_arn: str
    load_balancer: str
    listener: str
    api_group: str
    web_group: str


def health(elbv2: Any, arn: str) -> list[str]:
    described = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return [d["TargetHealth"]["State"] for d in described]


@pytest.fixture(scope="module")
def seeded(ui_server: UiServer) -> Iterator[Seeded]:
    backend = Backend()
    endpoint = ui_server.endpoint
    elbv2, ec2, ecs = ui_server.client("elbv2"), ui_server.client("ec2"), ui_server.client("ecs")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = network(endpoint)["awsvpcConfiguration"]["subnets"]
    api = elbv2.create_target_group(
        Name="api",
        Protocol="HTTP",
        Port=backend.port,
        VpcId=vpc,
        TargetType="instance",
        HealthCheckPath="/health",
        Matcher={"HttpCode": "200-299"},
        **CHECKS,
    )["TargetGroups"][0]["TargetGroupArn"]
    # Checked on a port the task's container does not map: nothing answers there.
    web = elbv2.create_target_group(
        Name="web-tg",
        Protocol="HTTP",
        Port=8080,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckPath="/ready",
        HealthCheckPort="8081",
        **CHECKS,
    )["TargetGroups"][0]["TargetGroupArn"]
    lb = elbv2.create_load_balancer(Name="shop", Subnets=subnets)["LoadBalancers"][0]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": web}],
    )["Listeners"][0]["ListenerArn"]
    rules = [
        (30, [{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST"]}}], "redirect"),
        (10, [{"Field": "path-pattern", "Values": ["/api/*"]}], "api"),
        (20, [{"Field": "host-header", "Values": ["admin.example.com"]}], "fixed"),
    ]
    for priority, conditions, kind in rules:
        if kind == "api":
            actions: list[dict[str, Any]] = [{"Type": "forward", "TargetGroupArn": api}]
        elif kind == "fixed":
            actions = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403", "MessageBody": "no"}}]
        else:
            actions = [
                {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
            ]
        elbv2.create_rule(ListenerArn=listener, Priority=priority, Conditions=conditions, Actions=actions)
    elbv2.register_targets(TargetGroupArn=api, Targets=[{"Id": INSTANCE}])

    ecs.create_cluster(clusterName="lb")
    register(ecs, "front", [{"name": "front", "image": "example/front:1", "portMappings": [{"containerPort": 8080}]}])
    service = ecs.create_service(
        cluster="lb",
        serviceName="front",
        taskDefinition="front",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network(endpoint),
        loadBalancers=[{"targetGroupArn": web, "containerName": "front", "containerPort": 8080}],
        healthCheckGracePeriodSeconds=3600,  # the failing target keeps its task: the page is to explain it
    )["service"]
    wait_for(lambda: health(elbv2, api) == ["healthy"], what="the api target healthy")
    wait_for(lambda: health(elbv2, web) == ["unhealthy"], timeout=60, what="the web target unhealthy")
    yield Seeded(ui_server, service["serviceArn"], lb["LoadBalancerArn"], listener, api, web)
    backend.close()


def open_page(page: Any, seeded: Seeded, path: str) -> None:
    page.goto(f"{seeded.ui.endpoint}{path}")
    page.wait_for_load_state("networkidle")


def test_load_balancers_page_shows_listeners_rules_and_groups(page: Any, seeded: Seeded) -> None:
    open_page(page, seeded, "/ui/load-balancers")
    lb = page.locator('[data-load-balancer="shop"]')
    lb.wait_for()
    assert page.locator('header nav a[aria-current="page"]').inner_text() == "Load balancers"
    served = httpx.get(f"{seeded.ui.endpoint}/_ecslite/elb/listeners", timeout=10).json()[seeded.listener]
    expect(lb.locator("[data-local-url]")).to_have_text(f"http://{served['endpoint']}/")
    assert "internet-facing" in lb.locator("h2").inner_text() and "active" in lb.locator("h2").inner_text()
    dns = seeded.ui.client("elbv2").describe_load_balancers(Names=["shop"])["LoadBalancers"][0]["DNSName"]
    assert dns in lb.inner_text()
    rows = [
        [cell.strip() for cell in row.split("\t")]
        for row in lb.locator('[data-listener="8080"] tbody tr').all_inner_texts()
    ]
    assert [row[0] for row in rows] == ["10", "20", "30", "default"]  # evaluation order
    assert rows[0][1:] == ['If path is "/api/*"', "forward to api"]
    assert rows[1][1:] == ['If host is "admin.example.com"', 'answer 403 "no"']
    assert rows[2][1:] == [
        "If method is POST",
        "redirect (301) to HTTPS://#{host}:443/#{path}?#{query}",
    ]
    assert rows[3][1:] == ["Otherwise (default rule)", "forward to web-tg"]
    groups = lb.locator("[data-target-group]").all_inner_texts()
    assert sorted(groups) == ["api", "web-tg"]
    # A group's targets open on a click and stay open while the page refetches (every 5 s).
    api = lb.locator("tbody tr", has=page.locator('[data-target-group="api"]'))
    api.locator("summary").click()
    expect(api.locator("[data-last-check]")).to_contain_text("HTTP 200")
    first = api.locator("[data-last-check] time").get_attribute("datetime")
    expect(api.locator("[data-last-check] time")).not_to_have_attribute("datetime", first or "", timeout=15_000)
    assert api.locator("details").evaluate("d => d.open")
    screenshot(page, "load-balancers")


def test_target_group_page_shows_settings_and_each_last_check(page: Any, seeded: Seeded) -> None:
    open_page(page, seeded, "/ui/load-balancers")
    page.locator('[data-load-balancer="shop"] [data-target-group="api"]').click()
    page.wait_for_url(f"**/ui/target-group?arn={urllib.parse.quote(seeded.api_group, safe='')}")
    check = page.locator("[data-health-check]")
    expect(check).to_contain_text("GET /health")
    expect(check).to_contain_text("every 5 s (timeout 2 s)")
    expect(check).to_contain_text("success codes 200-299")
    row = page.locator("tbody tr", has_text=INSTANCE)
    expect(row.locator(".badge").first).to_have_text("healthy")
    expect(row.locator("[data-last-check]")).to_contain_text("HTTP 200")
    assert " ms" in row.locator("[data-last-check]").inner_text()
    assert "not a task" in row.inner_text()
    screenshot(page, "target-group")


def test_service_page_shows_its_targets_health_and_last_check(page: Any, seeded: Seeded) -> None:
    open_page(page, seeded, f"/ui/service?arn={urllib.parse.quote(seeded.service_arn)}")
    group = page.locator('[data-service-target-group="web-tg"]')
    group.wait_for()
    expect(group.locator(".badge").first).to_have_text("1 unhealthy")
    row = group.locator("tbody tr").first
    expect(row).to_contain_text("unhealthy")
    described = seeded.ui.client("elbv2").describe_target_health(TargetGroupArn=seeded.web_group)
    health = described["TargetHealthDescriptions"][0]["TargetHealth"]
    expect(row).to_contain_text(health["Reason"])
    expect(row).to_contain_text(health["Description"])
    last = row.locator("[data-last-check]")
    expect(last).to_contain_text(" ms")
    # The last check agrees with the reason: the code that failed it, or an error without a status.
    code = re.search(r"\[(\d+)\]", health["Description"])
    if health["Reason"] == "Target.ResponseCodeMismatch" and code:
        assert f"HTTP {code.group(1)}" in last.inner_text()
    else:
        assert "HTTP" not in last.inner_text()
    screenshot(page, "service-target-groups")
    task_id = row.locator("a.mono").inner_text()
    row.locator("a.mono").click()
    page.wait_for_url("**/ui/task?id=*")
    assert task_id in page.url


def test_keyboard_and_theme_on_the_load_balancers_page(page: Any, seeded: Seeded) -> None:
    open_page(page, seeded, "/ui")
    page.locator("main h1").wait_for()
    page.keyboard.press("g")
    page.keyboard.press("b")
    page.wait_for_url("**/ui/load-balancers")
    page.locator('[data-load-balancer="shop"]').wait_for()
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.keyboard.press("t")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != light
    screenshot(page, "load-balancers-dark")
    page.keyboard.press("t")


def test_https_listener_shows_its_certificates_and_traffic_appears(page: Any, seeded: Seeded) -> None:
    elbv2, acm = seeded.ui.client("elbv2"), seeded.ui.client("acm")
    ca = TestCa()
    shop = import_made(acm, ca.issue(["shop.test"]))
    admin = import_made(acm, ca.issue(["admin.shop.test"]))
    policy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    listener = elbv2.create_listener(
        LoadBalancerArn=seeded.load_balancer,
        Protocol="HTTPS",
        Port=8443,
        SslPolicy=policy,
        Certificates=[{"CertificateArn": shop}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": seeded.api_group}],
    )["Listeners"][0]["ListenerArn"]
    elbv2.add_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": admin}])
    open_page(page, seeded, "/ui/load-balancers")
    lb = page.locator('[data-load-balancer="shop"]')
    https = lb.locator('[data-listener="8443"]')
    expect(https.locator("h3")).to_have_text("HTTPS : 8443")
    expect(https.locator("[data-ssl-policy]")).to_have_text(policy)
    certs = https.locator("[data-tls] tbody tr")
    expect(certs).to_have_count(2)
    expect(certs.nth(0)).to_contain_text("shop.test")
    expect(certs.nth(0)).to_contain_text(shop)
    expect(certs.nth(0).locator(".badge")).to_have_text("default")
    expect(certs.nth(1)).to_contain_text("admin.shop.test")
    expect(certs.nth(1)).to_contain_text(admin)
    expect(certs.nth(1).locator(".badge")).to_have_count(0)
    expires = acm.describe_certificate(CertificateArn=shop)["Certificate"]["NotAfter"]
    shown = certs.nth(0).locator("time").get_attribute("datetime") or ""
    assert shown[:19] == expires.astimezone(datetime.UTC).isoformat()[:19]
    served = wait_for(
        lambda: httpx.get(f"{seeded.ui.endpoint}/_ecslite/elb/listeners", timeout=10).json().get(listener),
        what="the HTTPS listener served",
    )
    expect(https.locator("[data-local-url]")).to_have_text(f"https://{served['endpoint']}/", timeout=15_000)
    # Nothing went through the load balancer yet: the traffic table says so.
    traffic = lb.locator("[data-traffic]")
    expect(traffic.locator("[data-no-traffic]")).to_be_visible()
    api = traffic.locator("tbody tr", has=page.locator('[data-traffic-group="api"]'))
    expect(api).to_contain_text("no traffic yet")

    context = ssl.create_default_context(cadata=ca.pem.decode())
    context.check_hostname = False  # 127.0.0.1 is not a name of the certificate; its chain is still checked
    with httpx.Client(base_url=f"https://{served['endpoint']}", verify=context, timeout=10) as client:
        codes = [client.get(path).status_code for path in ["/"] * 7 + ["/missing"] * 3]
    assert codes == [200] * 7 + [404] * 3
    expect(api.locator("[data-requests]")).to_have_text("10", timeout=20_000)
    expect(api.locator("[data-4xx]")).to_have_text("3")
    expect(api.locator("[data-5xx]")).to_have_text("0")
    expect(api.locator("[data-hosts]")).to_have_text("1 / 0")
    cells = [c.strip() for c in api.inner_text().split("\t")]
    average, p99 = cells[5], cells[6]
    assert re.fullmatch(r"[\d.]+ (µs|ms|s)", average) and re.fullmatch(r"[\d.]+ (µs|ms|s)", p99), cells
    expect(traffic.locator("[data-no-traffic]")).to_have_count(0)
    screenshot(page, "load-balancer-https-traffic")
