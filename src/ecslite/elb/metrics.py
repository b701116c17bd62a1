"""The local ALB's ``AWS/ApplicationELB`` counts, kept in memory on the proxy's path.

Each listener's proxy holds its load balancer's :class:`BalancerCounts` (one per load balancer, the
same object for as long as the meter lives, so a connection can keep it) and bumps plain integers
per request: no store write, no allocation beyond a new response-time bin.
:class:`ecslite.elb.publish.AlbMetricsPublisher` takes the counts every few seconds
(:meth:`AlbMeter.take`, which zeroes them in place) and writes CloudWatch datapoints.

- Responses are counted by who answered: a target (``HTTPCode_Target_<n>XX_Count``, also per target
  group) or the load balancer itself (``HTTPCode_ELB_<n>XX_Count`` and, for 502/503/504, the exact
  code for 500/502/503/504); fixed responses and redirects are the rules' (``HTTP_Fixed_Response_Count``,
  ``HTTP_Redirect_Count``, a redirect also an ``HTTPCode_ELB_3XX_Count``).
- ``TargetResponseTime`` values (seconds) go into logarithmic bins about 5 % wide, each with its
  count, sum, minimum and maximum: one datum per bin, so Average, Minimum and Maximum are exact and
  percentiles are within a bin's width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Bins of response time: bin k holds [1.05^k, 1.05^(k+1)) seconds.
_BIN_SCALE = 1.0 / math.log(1.05)
_SMALLEST = 1e-6  # a response faster than a microsecond is put in the microsecond's bin

Bin = list[float]  # [count, sum, minimum, maximum]


def _add_time(bins: dict[int, Bin], seconds: float) -> None:
    key = math.floor(math.log(max(seconds, _SMALLEST)) * _BIN_SCALE)
    found = bins.get(key)
    if found is None:
        bins[key] = [1.0, seconds, seconds, seconds]
        return
    found[0] += 1.0
    found[1] += seconds
    if seconds < found[2]:
        found[2] = seconds
    if seconds > found[3]:
        found[3] = seconds


@dataclass(slots=True)
class GroupCounts:
    """One target group's requests through one load balancer."""

    requests: int = 0
    target_codes: list[int] = field(default_factory=lambda: [0] * 6)  # by status // 100
    times: dict[int, Bin] = field(default_factory=dict)

    def active(self) -> bool:
        return self.requests > 0


@dataclass(slots=True)
class BalancerCounts:
    """One load balancer's counts since the last :meth:`AlbMeter.take` (``open`` carries over)."""

    requests: int = 0
    target_codes: list[int] = field(default_factory=lambda: [0] * 6)  # by status // 100
    elb_codes: list[int] = field(default_factory=lambda: [0] * 6)
    elb_500: int = 0
    elb_502: int = 0
    elb_503: int = 0
    elb_504: int = 0
    fixed_responses: int = 0
    redirects: int = 0
    new_connections: int = 0
    open: int = 0  # client connections open now
    active: int = 0  # connections open at some time since the last take
    processed_bytes: int = 0
    times: dict[int, Bin] = field(default_factory=dict)
    groups: dict[str, GroupCounts] = field(default_factory=dict)

    # -- the proxy's calls ---------------------------------------------------------------------

    def connection_opened(self) -> None:
        self.new_connections += 1
        self.active += 1
        self.open += 1

    def connection_closed(self) -> None:
        self.open -= 1

    def target_response(self, group: str, status: int, seconds: float) -> None:
        """A target answered ``status`` after ``seconds`` (request sent to response head received)."""
        self.requests += 1
        index = status // 100 if 1 <= status // 100 <= 5 else 0
        self.target_codes[index] += 1
        _add_time(self.times, seconds)
        counts = self.groups.get(group)
        if counts is None:
            counts = self.groups[group] = GroupCounts()
        counts.requests += 1
        counts.target_codes[index] += 1
        _add_time(counts.times, seconds)

    def elb_response(self, status: int, group: str | None = None) -> None:
        """The load balancer answered ``status`` itself; ``group`` when a target had been chosen."""
        self.requests += 1
        index = status // 100 if 1 <= status // 100 <= 5 else 0
        self.elb_codes[index] += 1
        if status == 500:
            self.elb_500 += 1
        elif status == 502:
            self.elb_502 += 1
        elif status == 503:
            self.elb_503 += 1
        elif status == 504:
            self.elb_504 += 1
        if group is not None:
            counts = self.groups.get(group)
            if counts is None:
                counts = self.groups[group] = GroupCounts()
            counts.requests += 1

    def rule_response(self, redirect: bool) -> None:
        """A fixed-response or redirect action answered."""
        self.requests += 1
        if redirect:
            self.redirects += 1
            self.elb_codes[3] += 1  # a redirect is the load balancer's 3XX
        else:
            self.fixed_responses += 1

    # -- the publisher's -----------------------------------------------------------------------

    def idle(self) -> bool:
        return not (self.requests or self.active or self.processed_bytes)

    def take(self) -> BalancerCounts:
        """A copy of the counts, which start again from zero here (open connections stay open)."""
        taken = BalancerCounts(
            self.requests,
            self.target_codes,
            self.elb_codes,
            self.elb_500,
            self.elb_502,
            self.elb_503,
            self.elb_504,
            self.fixed_responses,
            self.redirects,
            self.new_connections,
            self.open,
            self.active,
            self.processed_bytes,
            self.times,
            self.groups,
        )
        self.requests = self.elb_500 = self.elb_502 = self.elb_503 = self.elb_504 = 0
        self.fixed_responses = self.redirects = self.new_connections = self.processed_bytes = 0
        self.target_codes, self.elb_codes = [0] * 6, [0] * 6
        self.times, self.groups = {}, {}
        # Connections still open are active in the next interval too.
        self.active = self.open
        return taken


class AlbMeter:
    """Every load balancer's counts, kept until they are taken."""

    def __init__(self) -> None:
        self._balancers: dict[str, BalancerCounts] = {}

    def balancer(self, load_balancer_arn: str) -> BalancerCounts:
        counts = self._balancers.get(load_balancer_arn)
        if counts is None:
            counts = self._balancers[load_balancer_arn] = BalancerCounts()
        return counts

    def take(self) -> dict[str, BalancerCounts]:
        """Each load balancer's counts since the last take (idle ones left out)."""
        return {arn: counts.take() for arn, counts in self._balancers.items() if not counts.idle()}

    def forget(self, load_balancer_arn: str) -> None:
        """A load balancer gone: its counts (no connection of it is left) are dropped."""
        counts = self._balancers.get(load_balancer_arn)
        if counts is not None and counts.open <= 0:
            del self._balancers[load_balancer_arn]
