"""Amazon ECS (API 2014-11-13)."""
