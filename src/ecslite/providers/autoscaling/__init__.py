"""Application Auto Scaling (API 2016-02-06) for ECS services: targets, policies, scheduled actions."""
