"""The service page of a blue/green service whose deployment waits at a PAUSE hook (spec/ecs.md §4.11,
"Beyond ECS"): the deployment history shows the lifecycle stage and, for the waiting hook, when it
times out and the command that lets the deployment go on; after that command the page shows the
deployment finished. No console error; screenshot not blank."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fixtures.ports import free_port
from tests.integration.test_blue_green import deployment, group, rule
from tests.integration.test_elb_ecs import PORT, definition, network
from tests.ui.conftest import UiServer, screenshot
from tests.ui.seed import wait_for

pytestmark = pytest.mark.integration


def test_a_paused_deployment_shows_its_stage_and_how_to_continue(page: Any, ui_server: UiServer) -> None:
    ecs, elbv2, ec2 = ui_server.client("ecs"), ui_server.client("elbv2"), ui_server.client("ec2")
    vpc, subnets = network(ec2)
    blue, green = group(elbv2, vpc, "blue"), group(elbv2, vpc, "green")
    lb = elbv2.create_load_balancer(Name="shop", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=free_port(),
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]["ListenerArn"]
    production = rule(elbv2, listener, 1, [{"Field": "path-pattern", "Values": ["/*"]}], {blue: 100, green: 0})
    definition(ecs)
    advanced = {"alternateTargetGroupArn": green, "productionListenerRule": production}
    service = ecs.create_service(
        serviceName="web",
        taskDefinition="web",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets[:1]}},
        loadBalancers=[
            {"targetGroupArn": blue, "containerName": "web", "containerPort": PORT, "advancedConfiguration": advanced}
        ],
        deploymentConfiguration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0},
    )["service"]
    first = service["currentServiceDeployment"]
    wait_for(lambda: deployment(ecs, first)["status"] == "SUCCESSFUL", 60, what="the first deployment")
    pause = {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}
    hooked = {"lifecycleHooks": [pause]}
    update = ecs.update_service(service="web", forceNewDeployment=True, deploymentConfiguration=hooked)
    arn = update["service"]["currentServiceDeployment"]
    hooks = wait_for(lambda: deployment(ecs, arn).get("lifecycleHookDetails"), 60, what="the PAUSE hook waiting")

    page.goto(f"{ui_server.endpoint}/ui/service?arn={urllib.parse.quote(service['serviceArn'])}")
    page.wait_for_load_state("networkidle")
    row = page.locator("tr", has_text=arn.rsplit("/", 1)[-1])
    expect(row).to_contain_text("POST_SCALE_UP")
    paused = row.locator(".paused")
    expect(paused).to_contain_text("Paused by a PAUSE hook until")
    expect(paused).to_contain_text("(then ROLLBACK)")
    expect(paused).to_contain_text(
        f"aws ecs continue-service-deployment --service-deployment-arn {arn} --hook-id {hooks[0]['hookId']}"
    )
    screenshot(page, "deployment-paused")

    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hooks[0]["hookId"])
    wait_for(lambda: deployment(ecs, arn)["status"] == "SUCCESSFUL", 60, what="the deployment to finish")
    page.reload()
    page.wait_for_load_state("networkidle")
    expect(row.locator(".badge").first).to_have_text("SUCCESSFUL")
    expect(row.locator(".paused")).to_have_count(0)
