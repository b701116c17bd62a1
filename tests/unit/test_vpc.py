"""The virtual VPC's pure rules (model.vpc, model.vpc_docs): ids, zones, carving, CIDR rules, IPAM, filters."""

from __future__ import annotations

import dataclasses
import re

import pytest

from ecslite.model.vpc import (
    BadVpcCidr,
    Filter,
    conflict,
    default_layout,
    dns_address,
    filters_from,
    gateway,
    matches,
    new_id,
    new_mac,
    next_free_address,
    parse_cidr,
    size_ok,
    stable_id,
    unknown_filter,
    usable,
    usable_count,
    zone_id,
    zone_names,
)
from ecslite.model.vpc_docs import EniFacts, eni_doc, security_group_doc, subnet_doc


def test_ids_have_a_prefix_and_17_hex_digits() -> None:
    for prefix in ("vpc", "subnet", "sg", "eni"):
        value = new_id(prefix)
        assert re.fullmatch(prefix + r"-[0-9a-f]{17}", value), value
    assert new_id("vpc") != new_id("vpc")


def test_stable_ids_depend_on_every_part() -> None:
    assert stable_id("vpc", "000000000000", "us-east-1") == stable_id("vpc", "000000000000", "us-east-1")
    assert stable_id("vpc", "000000000000", "us-east-1") != stable_id("vpc", "000000000000", "eu-west-1")
    assert re.fullmatch(r"subnet-[0-9a-f]{17}", stable_id("subnet", "a", "b"))


def test_macs_are_locally_administered_unicast() -> None:
    mac = new_mac()
    first = int(mac.split(":")[0], 16)
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", mac)
    assert first & 0b10 and not first & 0b1


@pytest.mark.parametrize(
    ("region", "zone", "expected"),
    [
        ("us-east-1", "us-east-1a", "use1-az1"),
        ("eu-west-1", "eu-west-1c", "euw1-az3"),
        ("ap-northeast-1", "ap-northeast-1b", "apne1-az2"),
        ("ap-southeast-2", "ap-southeast-2a", "apse2-az1"),
        ("eu-central-1", "eu-central-1a", "euc1-az1"),
    ],
)
def test_zone_ids_follow_ec2(region: str, zone: str, expected: str) -> None:
    assert zone_id(region, zone) == expected


def test_default_vpc_is_carved_like_aws() -> None:
    layout = default_layout("172.31.0.0/16")
    assert [(suffix, str(cidr)) for suffix, cidr in layout.subnets] == [
        ("a", "172.31.0.0/20"),
        ("b", "172.31.16.0/20"),
        ("c", "172.31.32.0/20"),
    ]
    assert str(layout.bridge_range) == "172.31.240.0/20"
    assert zone_names("eu-west-1") == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


def test_smaller_default_vpcs_keep_the_proportions() -> None:
    layout = default_layout("10.100.0.0/20")
    assert [str(c) for _, c in layout.subnets] == ["10.100.0.0/24", "10.100.1.0/24", "10.100.2.0/24"]
    assert str(layout.bridge_range) == "10.100.15.0/24"


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "10.0.0.0/26", "127.0.0.0/16", "169.254.0.0/16", "nonsense"])
def test_unusable_default_vpc_ranges_are_refused(cidr: str) -> None:
    with pytest.raises(BadVpcCidr):
        default_layout(cidr)


def test_resolver_and_gateway_addresses() -> None:
    assert dns_address("10.0.0.0/16") == "10.0.0.2"
    assert gateway("10.0.16.0/20") == "10.0.16.1"


def test_cidr_parsing_wants_canonical_blocks() -> None:
    assert str(parse_cidr("10.0.1.0/24")) == "10.0.1.0/24"
    assert parse_cidr("10.0.1.5/24") is None
    assert parse_cidr("10.0.1.0") is None
    assert parse_cidr("300.0.0.0/8") is None
    assert size_ok(parse_cidr("10.0.0.0/16")) and size_ok(parse_cidr("10.0.0.0/28"))  # type: ignore[arg-type]
    assert not size_ok(parse_cidr("10.0.0.0/15")) and not size_ok(parse_cidr("10.0.0.0/29"))  # type: ignore[arg-type]
    assert not usable(parse_cidr("127.0.0.0/16"))  # type: ignore[arg-type]


def test_identical_cidrs_share_a_pool_but_partial_overlaps_conflict() -> None:
    candidate = parse_cidr("10.0.1.0/24")
    assert candidate is not None
    assert conflict(candidate, ["10.0.1.0/24", "10.0.2.0/24"]) is None
    assert conflict(candidate, ["10.0.0.0/20"]) == "10.0.0.0/20"
    assert conflict(candidate, ["10.0.1.128/25"]) == "10.0.1.128/25"


def test_addresses_skip_aws_reserved_ones_and_fill_from_the_bottom() -> None:
    assert next_free_address("10.0.1.0/24", []) == "10.0.1.4"
    assert next_free_address("10.0.1.0/24", ["10.0.1.4", "10.0.1.6"]) == "10.0.1.5"
    assert usable_count("10.0.1.0/24") == 251
    small = "10.0.1.0/28"  # 16 addresses, 11 usable: .4 … .14
    used = [f"10.0.1.{i}" for i in range(4, 15)]
    assert next_free_address(small, used[:-1]) == "10.0.1.14"
    assert next_free_address(small, used) is None


def test_filters_match_any_value_of_every_filter_with_wildcards() -> None:
    values = {"vpc-id": ["vpc-1"], "group-name": ["web", "default"]}
    tags = {"Name": "frontend", "team": "obs"}
    assert matches([Filter("vpc-id", ("vpc-2", "vpc-1"))], values, tags)
    assert not matches([Filter("vpc-id", ("vpc-1",)), Filter("group-name", ("db",))], values, tags)
    assert matches([Filter("group-name", ("we*",))], values, tags)
    assert matches([Filter("tag:Name", ("front?nd",))], values, tags)
    assert not matches([Filter("tag:Name", ("back*",))], values, tags)
    assert matches([Filter("tag-key", ("team",))], values, tags)
    assert not matches([Filter("vpc-id", ("vpc-[1]",))], values, tags)  # brackets are literal in EC2


def test_unknown_filters_are_reported_but_tag_filters_always_exist() -> None:
    filters = filters_from([{"Name": "tag:any", "Values": ["x"]}, {"Name": "bogus", "Values": ["y"]}])
    assert unknown_filter(filters, ["vpc-id"]) == "bogus"
    assert unknown_filter(filters[:1], ["vpc-id"]) is None


def test_an_eni_of_a_public_task_shows_its_reachable_address() -> None:
    subnet = subnet_doc(
        "000000000000", "us-east-1", "subnet-1", "vpc-1", "10.0.1.0/24", "us-east-1b", default=False, tags={}
    )
    group = security_group_doc("000000000000", "us-east-1", "sg-1", "vpc-1", "web", "web", tags={})
    facts = EniFacts(
        account="000000000000",
        region="us-east-1",
        eni_id="eni-0123456789abcdef0",
        subnet=subnet,
        address="10.0.1.4",
        mac="0a:01:02:03:04:05",
        groups=[group],
        attachment_id="att-1",
        public=True,
        attached_at=1.0,
    )
    doc = eni_doc(facts)
    assert doc["Description"] == "arn:aws:ecs:us-east-1:000000000000:attachment/att-1"
    assert (doc["Status"], doc["InterfaceType"], doc["RequesterManaged"]) == ("in-use", "interface", True)
    assert (doc["SubnetId"], doc["VpcId"], doc["AvailabilityZone"]) == ("subnet-1", "vpc-1", "us-east-1b")
    assert doc["Association"]["PublicIp"] == "10.0.1.4"
    assert doc["PrivateIpAddresses"][0]["PrivateDnsName"] == "ip-10-0-1-4.ec2.internal"
    assert doc["Groups"] == [{"GroupId": "sg-1", "GroupName": "web"}]
    assert "Association" not in eni_doc(dataclasses.replace(facts, public=False))
