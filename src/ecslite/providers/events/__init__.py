"""Amazon EventBridge (``events``): rules on the default event bus, their targets and PutEvents."""
