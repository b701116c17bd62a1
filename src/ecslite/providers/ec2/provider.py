"""The EC2 provider: the operations of the virtual VPC, grouped by resource in the mixins below."""

from __future__ import annotations

from ecslite.providers.ec2.network_interfaces import NetworkInterfaceOps
from ecslite.providers.ec2.route_tables import RouteTableOps
from ecslite.providers.ec2.security_groups import SecurityGroupOps
from ecslite.providers.ec2.subnets import SubnetOps
from ecslite.providers.ec2.vpcs import VpcOps


class Ec2Provider(VpcOps, SubnetOps, SecurityGroupOps, NetworkInterfaceOps, RouteTableOps):
    """Amazon EC2, API version 2016-11-15, as far as ECS's networking needs it; other operations
    answer ``NotImplemented``."""
