"""CloudFormation: stacks of templates whose resources are made through ecslite's own operations."""
