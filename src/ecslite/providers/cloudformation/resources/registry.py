"""Imports every resource handler module, so that each type's ``@register`` has run and
:data:`~ecslite.providers.cloudformation.resources.base.HANDLERS` holds every type a template can use."""

from __future__ import annotations

import importlib
import logging

from ecslite.providers.cloudformation.resources.base import HANDLERS, ResourceHandler

log = logging.getLogger(__name__)

MODULES = (
    "core",
    "ecs",
    "logs",
    "iam",
    "autoscaling",
    "elbv2",
    "ec2",
    "servicediscovery",
    "ssm",
    "secretsmanager",
    "cloudwatch",
    "events",
    "scheduler",
    "acm",
    "s3",
    "ecr",
)


def load() -> dict[str, ResourceHandler]:
    """Every registered handler by type name, once each handler module present has been imported."""
    for name in MODULES:
        try:
            importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__package__}.{name}":
                raise
            log.debug("no CloudFormation handlers for %s", name)
    return HANDLERS
