"""Amazon EC2: the virtual VPC ecslite runs awsvpc tasks in (VPCs, subnets, security groups, ENIs)."""
