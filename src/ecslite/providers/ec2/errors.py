"""EC2's errors: a code and a message each (EC2 has no per-error shapes in its model).

Texts are AWS's own where known; each is built in one place so a correction is one edit.
"""

from __future__ import annotations

from ecslite.protocol.errors import AwsError


class Ec2Error(AwsError):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code, message, status)


def invalid_value(message: str) -> Ec2Error:
    return Ec2Error("InvalidParameterValue", message)


def vpc_not_found(vpc_id: str) -> Ec2Error:
    return Ec2Error("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")


def subnet_not_found(subnet_id: str) -> Ec2Error:
    return Ec2Error("InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist")


def group_not_found(group: str) -> Ec2Error:
    return Ec2Error("InvalidGroup.NotFound", f"The security group '{group}' does not exist")


def group_name_not_found(name: str, vpc_id: str) -> Ec2Error:
    return Ec2Error("InvalidGroup.NotFound", f"The security group '{name}' does not exist in default VPC '{vpc_id}'")


def interface_not_found(interface_id: str) -> Ec2Error:
    return Ec2Error("InvalidNetworkInterfaceID.NotFound", f"The networkInterface ID '{interface_id}' does not exist")


def interface_in_use(interface_id: str) -> Ec2Error:
    """DeleteNetworkInterface of an attached interface (a requester-managed one is always attached here)."""
    return invalid_value(f"Network interface '{interface_id}' is currently in use.")


def malformed(code: str, value: str, prefix: str) -> Ec2Error:
    return Ec2Error(code, f'Invalid id: "{value}" (expecting "{prefix}-...")')


def bad_cidr(value: str, parameter: str) -> Ec2Error:
    return invalid_value(f"Value ({value}) for parameter {parameter} is invalid. This is not a valid CIDR block.")


def dependency(message: str) -> Ec2Error:
    return Ec2Error("DependencyViolation", message)


def unknown_filter(name: str) -> Ec2Error:
    return invalid_value(f"The filter '{name}' is invalid")


def dry_run() -> Ec2Error:
    return Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)


def bad_max_results(value: int, low: int, high: int) -> Ec2Error:
    return invalid_value(
        f"Value ( {value} ) for parameter maxResults is invalid. Parameter must be between {low} and {high}."
    )


def bad_token() -> Ec2Error:
    return invalid_value("The parameter NextToken is not valid. Use the NextToken from a previous response.")
