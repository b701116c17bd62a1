"""AWS Secrets Manager: secrets, their versions and staging labels, for containers' ``secrets``."""
