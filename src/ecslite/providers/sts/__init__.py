"""AWS STS: the caller's identity, and temporary credentials for IAM roles (AssumeRole)."""
