"""Types shared by providers and controllers: ARNs, statuses, task definition helpers."""
