"""The EventBridge Scheduler provider (REST-JSON ``/schedules``, ``/schedule-groups``, ``/tags``).

It records schedules and computes when each is next due; the scheduler controller
(:mod:`ecslite.control.scheduler`) invokes the targets.
"""

from __future__ import annotations

from ecslite.providers.scheduler.groups import GroupOps
from ecslite.providers.scheduler.schedules import ScheduleOps


class SchedulerProvider(ScheduleOps, GroupOps):
    pass
