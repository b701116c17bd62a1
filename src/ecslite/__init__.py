"""ecslite: Amazon ECS on one Linux machine, for real, with observability built in."""

__version__ = "0.1.0"
