"""Which target of a group gets the next request (spec/ecs.md §7.2 ``load_balancing.algorithm.type``).

- ``round_robin`` (the default): the group's targets in turn, one counter per group, so two
  listeners forwarding to one group share the rotation as an ALB's nodes do;
- ``least_outstanding_requests``: the target with the fewest requests in flight from this
  balancer, ties broken by the rotation;
- ``weighted_random`` is answered as round robin here (its anomaly mitigation is not modelled).

The routing set itself (healthy targets, or every registered non-draining one when none is healthy)
is the caller's; this module only counts and chooses. Targets are ``(address, port)`` pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

ROUND_ROBIN = "round_robin"
LEAST_OUTSTANDING = "least_outstanding_requests"

Endpoint = tuple[str, int]


class Balancer:
    def __init__(self) -> None:
        self._turn: Counter[str] = Counter()
        self._outstanding: Counter[tuple[str, Endpoint]] = Counter()

    def pick(self, group: str, targets: Sequence[Endpoint], algorithm: str = ROUND_ROBIN) -> Endpoint | None:
        if not targets:
            return None
        ordered = sorted(targets)
        turn = self._turn[group]
        self._turn[group] = turn + 1
        if algorithm != LEAST_OUTSTANDING:
            return ordered[turn % len(ordered)]
        rotated = ordered[turn % len(ordered) :] + ordered[: turn % len(ordered)]
        return min(rotated, key=lambda endpoint: self._outstanding[(group, endpoint)])

    def started(self, group: str, endpoint: Endpoint) -> None:
        self._outstanding[(group, endpoint)] += 1

    def finished(self, group: str, endpoint: Endpoint) -> None:
        key = (group, endpoint)
        self._outstanding[key] -= 1
        if self._outstanding[key] <= 0:
            del self._outstanding[key]

    def outstanding(self, group: str, endpoint: Endpoint) -> int:
        return self._outstanding[(group, endpoint)]
