"""Application Auto Scaling's arithmetic (spec/ecs.md §6), pure: no store, no clock.

- Target tracking: scale-out to ``ceil(current × metric / target)``; scale-in by the same formula,
  at most ``max(1, 10 %)`` of the current capacity per activity (§6.2 "safe model").
- Step scaling: the breach (metric − threshold) picks the step adjustment (lower bound inclusive
  and upper exclusive above the threshold, the other way round below it; a missing bound is
  infinite); ``ChangeInCapacity``, ``ExactCapacity`` and ``PercentChangeInCapacity`` (rounded
  towards zero, at least 1, at least ``MinAdjustmentMagnitude``) (§6.3).
- Bounds: a result is clamped to [min, max]; a capacity outside the range goes to the nearer bound
  first (§6.1).
- Cooldowns: a scale-out during its cooldown happens only when it asks for more than the activity
  that started the cooldown set; a scale-in waits out its cooldown, which a later scale-out ends.
- Schedules: ``at(yyyy-mm-ddThh:mm:ss)``, ``rate(<n> minute|minutes|hour|hours|day|days)`` and
  ``cron(<min> <hour> <dom> <month> <dow> <year>)`` (``,`` ``-`` ``*`` ``/`` ``?`` ``L`` ``W`` ``#``,
  month and day names), each in an IANA time zone (UTC by default).
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC
SCALE_IN_FRACTION = 0.1  # §6.2: scale-in removes at most max(1, 10 %) of the capacity per activity
# CloudWatch's resolution: a metric value this close to a whole number of tasks counts as that number.
_EPSILON = 1e-9


# -- capacity ------------------------------------------------------------------------------------


def clamp(capacity: int, minimum: int, maximum: int) -> int:
    return max(minimum, min(maximum, capacity))


def tracking_capacity(current: int, metric: float, target: float) -> int:
    """The capacity that brings ``metric`` back to ``target``: ``ceil(current × metric / target)``."""
    if target <= 0 or current <= 0:
        return current
    wanted = current * metric / target
    return max(0, math.ceil(wanted - _EPSILON))


def tracking_scale_in(current: int, metric: float, target: float) -> int:
    """Scale-in by the tracking formula, gradually: never more than ``max(1, 10 %)`` at once."""
    wanted = tracking_capacity(current, metric, target)
    step = max(1, math.floor(current * SCALE_IN_FRACTION))
    return max(wanted, current - step)


@dataclass(frozen=True, slots=True)
class StepAdjustment:
    scaling_adjustment: int
    lower: float | None = None  # MetricIntervalLowerBound; None = −∞
    upper: float | None = None  # MetricIntervalUpperBound; None = +∞

    @classmethod
    def from_api(cls, item: dict[str, float | int]) -> StepAdjustment:
        lower, upper = item.get("MetricIntervalLowerBound"), item.get("MetricIntervalUpperBound")
        return cls(
            int(item["ScalingAdjustment"]),
            None if lower is None else float(lower),
            None if upper is None else float(upper),
        )


def pick_step(steps: Sequence[StepAdjustment], breach: float) -> StepAdjustment | None:
    """The step whose interval holds ``breach`` (metric − threshold), per the model's bound rules."""
    above = breach >= 0
    for step in steps:
        low = -math.inf if step.lower is None else step.lower
        high = math.inf if step.upper is None else step.upper
        if (above and low <= breach < high) or (not above and low < breach <= high):
            return step
    return None


def step_capacity(current: int, adjustment_type: str, adjustment: int, min_magnitude: int | None = None) -> int:
    """The capacity a step adjustment asks for (before the [min, max] clamp)."""
    if adjustment_type == "ExactCapacity":
        return adjustment
    if adjustment_type == "ChangeInCapacity":
        return current + adjustment
    change = current * adjustment / 100.0
    # Application Auto Scaling rounds a fractional change towards zero, but never to nothing.
    whole = int(change) if abs(change) >= 1 else (1 if change > 0 else -1 if change < 0 else 0)
    if min_magnitude and 0 < abs(whole) < min_magnitude:
        whole = min_magnitude if whole > 0 else -min_magnitude
    return current + whole


def bounded_start(current: int, minimum: int, maximum: int) -> int | None:
    """Where a capacity outside [min, max] goes first (§6.1), or ``None`` when it is inside."""
    if current < minimum:
        return minimum
    if current > maximum:
        return maximum
    return None


# -- cooldowns -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LastActivity:
    """The most recent scale-out and scale-in a policy made: when, and the capacity it set."""

    out_at: float | None = None
    out_to: int | None = None
    in_at: float | None = None


def scale_out_allowed(last: LastActivity, now: float, cooldown: float, wanted: int) -> bool:
    """During a scale-out cooldown the capacity that scale-out added counts: only more goes through."""
    if last.out_at is None or now - last.out_at >= cooldown:
        return True
    return last.out_to is None or wanted > last.out_to


def scale_in_allowed(last: LastActivity, now: float, cooldown: float) -> bool:
    """A scale-in waits out the scale-in cooldown; a scale-out after the last scale-in ends it."""
    if last.in_at is None:
        return True
    if last.out_at is not None and last.out_at > last.in_at:
        return True
    return now - last.in_at >= cooldown


# -- schedules -------------------------------------------------------------------------------------


class ScheduleError(ValueError):
    """A schedule expression, time zone or time range ecslite cannot read."""


MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}
MONTHS_UPPER = {name.upper(): i for name, i in MONTHS.items()}
DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
LAST_YEAR = 2199
_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
_CRON = re.compile(r"cron\((.*)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


@dataclass(frozen=True, slots=True)
class Schedule:
    kind: str  # at | rate | cron
    at: dt.datetime | None = None  # local wall time (naive)
    every: int | None = None  # rate in seconds
    cron: CronFields | None = None


def parse_schedule(expression: str) -> Schedule:
    text = expression.strip()
    if match := _AT.fullmatch(text):
        try:
            return Schedule("at", at=dt.datetime.fromisoformat(match.group(1)))
        except ValueError:
            raise ScheduleError(f"{match.group(1)} is not a date and time") from None
    if match := _RATE.fullmatch(text):
        value, unit = int(match.group(1)), match.group(2)
        if value <= 0:
            raise ScheduleError("a rate needs a positive value")
        if (value == 1) != (not unit.endswith("s")):
            raise ScheduleError("a rate of 1 takes a singular unit, any other value a plural one")
        return Schedule("rate", every=value * _UNIT_SECONDS[unit.rstrip("s")])
    if match := _CRON.fullmatch(text):
        return Schedule("cron", cron=parse_cron(match.group(1)))
    raise ScheduleError("a schedule is at(...), rate(...) or cron(...)")


def next_run(
    schedule: Schedule,
    after: float,
    timezone: str | None = None,
    *,
    start: float | None = None,
    end: float | None = None,
    origin: float | None = None,
) -> float | None:
    """The first time (epoch seconds) strictly after ``after`` the schedule fires, within [start, end]."""
    tz = zone(timezone)
    floor = after if start is None else max(after, start - 1e-6)
    found: float | None
    if schedule.kind == "at":
        assert schedule.at is not None
        when = schedule.at.replace(tzinfo=tz).timestamp()
        found = when if when > after and (start is None or when >= start) else None
    elif schedule.kind == "rate":
        assert schedule.every is not None
        base = start if start is not None else (origin if origin is not None else after)
        steps = max(0, math.floor((floor - base) / schedule.every) + 1)
        found = base + steps * schedule.every
    else:
        assert schedule.cron is not None
        found = schedule.cron.next_after(floor, tz)
    if found is None or (end is not None and found > end):
        return None
    return found


@dataclass(frozen=True, slots=True)
class CronFields:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: str  # the day-of-month field as given ("?" when unused)
    months: frozenset[int]
    weekdays: str  # the day-of-week field as given ("?" when unused)
    years: frozenset[int]

    def day_matches(self, day: dt.date) -> bool:
        if self.days != "?":
            return _dom_matches(self.days, day)
        return _dow_matches(self.weekdays, day)

    def next_after(self, after: float, tz: ZoneInfo) -> float | None:
        local = dt.datetime.fromtimestamp(after, tz).replace(tzinfo=None, second=0, microsecond=0)
        day = local.date()
        first = True
        while day.year <= LAST_YEAR:
            if day.year not in self.years:
                day = dt.date(day.year + 1, 1, 1)
                first = False
                continue
            if day.month in self.months and self.day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        moment = dt.datetime(day.year, day.month, day.day, hour, minute)
                        if first and moment < local:
                            continue
                        stamp = moment.replace(tzinfo=tz).timestamp()
                        if stamp > after:
                            return stamp
            day += dt.timedelta(days=1)
            first = False
        return None


def parse_cron(fields_text: str) -> CronFields:
    fields = fields_text.split()
    if len(fields) != 6:
        raise ScheduleError("a cron expression has six fields: minutes hours day-of-month month day-of-week year")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError("exactly one of day-of-month and day-of-week must be '?'")
    if dom != "?":
        _check_dom(dom)
    if dow != "?":
        _check_dow(dow)
    return CronFields(
        minutes=_values(minute, 0, 59),
        hours=_values(hour, 0, 23),
        days=dom.upper(),
        months=_values(month, 1, 12, MONTHS_UPPER),
        weekdays=dow.upper(),
        years=_values(year, 1970, LAST_YEAR),
    )


def _number(text: str, low: int, high: int, names: dict[str, int] | None = None) -> int:
    upper = text.upper()
    if names and upper in names:
        return names[upper]
    if not text.isdigit():
        raise ScheduleError(f"{text!r} is not a value")
    value = int(text)
    if not low <= value <= high:
        raise ScheduleError(f"{value} is outside {low}-{high}")
    return value


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    out: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = _number(step_text, 1, high) if step_text else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _number(a, low, high, names), _number(b, low, high, names)
            if first > last:
                raise ScheduleError(f"range {base} runs backwards")
        else:
            first = _number(base, low, high, names)
            last = high if step_text else first
        out.update(range(first, last + 1, step))
    return frozenset(out)


def _check_dom(field: str) -> None:
    for part in field.upper().split(","):
        if part in ("L", "LW") or re.fullmatch(r"\d{1,2}W", part):
            if part.endswith("W") and part not in ("LW",):
                _number(part[:-1], 1, 31)
            continue
        _values(part, 1, 31)


def _check_dow(field: str) -> None:
    for part in field.upper().split(","):
        if match := re.fullmatch(r"(\w+)#([1-5])", part):
            _number(match.group(1), 1, 7, DAYS)
            continue
        if match := re.fullmatch(r"(\w*)L", part):
            if match.group(1):
                _number(match.group(1), 1, 7, DAYS)
            continue
        _values(part, 1, 7, DAYS)


def _weekday(day: dt.date) -> int:
    """1 = Sunday … 7 = Saturday, as cron counts."""
    return (day.isoweekday() % 7) + 1


def _nearest_weekday(year: int, month: int, wanted: int) -> int:
    last = calendar.monthrange(year, month)[1]
    wanted = min(wanted, last)
    weekday = dt.date(year, month, wanted).weekday()  # Monday 0 … Sunday 6
    if weekday == 5:  # Saturday → Friday, unless that leaves the month
        return wanted - 1 if wanted > 1 else wanted + 2
    if weekday == 6:  # Sunday → Monday, unless that leaves the month
        return wanted + 1 if wanted < last else wanted - 2
    return wanted


def _dom_matches(field: str, day: dt.date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    for part in field.split(","):
        if part == "L":
            hit = day.day == last
        elif part == "LW":
            hit = day.day == _nearest_weekday(day.year, day.month, last)
        elif part.endswith("W"):
            hit = day.day == _nearest_weekday(day.year, day.month, int(part[:-1]))
        else:
            hit = day.day in _values(part, 1, 31)
        if hit:
            return True
    return False


def _dow_matches(field: str, day: dt.date) -> bool:
    weekday = _weekday(day)
    for part in field.split(","):
        if match := re.fullmatch(r"(\w+)#([1-5])", part):
            hit = weekday == _number(match.group(1), 1, 7, DAYS) and (day.day - 1) // 7 + 1 == int(match.group(2))
        elif match := re.fullmatch(r"(\w*)L", part):
            target = _number(match.group(1), 1, 7, DAYS) if match.group(1) else 7
            last = calendar.monthrange(day.year, day.month)[1]
            hit = weekday == target and day.day + 7 > last
        else:
            hit = weekday in _values(part, 1, 7, DAYS)
        if hit:
            return True
    return False


# -- CloudWatch time, scaled for local experiments ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeScale:
    """How long one CloudWatch minute lasts here (``ecslite server --metrics-period``, default 60 s).

    Alarm periods and scaling cooldowns are multiplied by ``metrics_period / 60``, so a policy
    written for AWS (3 datapoints of 60 s, a 300 s cooldown) plays out the same way, faster.
    """

    metrics_period: float = 60.0

    @property
    def factor(self) -> float:
        return self.metrics_period / 60.0

    def seconds(self, aws_seconds: float) -> float:
        return aws_seconds * self.factor
