"""The local Application Load Balancer's data plane (spec/ecs.md §7.3, §7.5): listener rule
evaluation (:mod:`ecslite.elb.rules`) and the HTTP proxy that serves each listener
(:mod:`ecslite.elb.proxy`)."""
