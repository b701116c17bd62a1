"""AWS IAM roles: the task and execution roles ECS task definitions name, with their policies."""
