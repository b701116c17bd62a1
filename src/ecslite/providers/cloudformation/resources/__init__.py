"""The resource types a CloudFormation stack can hold here, one module per AWS service."""
