"""AWS Cloud Map (servicediscovery)."""
