"""The EventBridge Scheduler provider (REST-JSON): schedules, schedule groups and their tags."""
