"""One package per AWS service; each provider's methods are the service's operations."""
