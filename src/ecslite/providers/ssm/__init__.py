"""AWS Systems Manager Parameter Store: parameters, their versions and labels, for containers' ``secrets``."""
