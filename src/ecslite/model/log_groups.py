"""Facts about CloudWatch Logs log groups that the Logs API and ``ecslite up`` both check."""

from __future__ import annotations

# retentionInDays values PutRetentionPolicy accepts (spec/ecs.md §10.2).
RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)
