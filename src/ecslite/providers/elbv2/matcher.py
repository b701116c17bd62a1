"""A target group's ``Matcher.HttpCode``: ``200``, ``200,204``, ``200-299`` or a mix, within 200–499."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d{3})(?:-(\d{3}))?")
LOWEST, HIGHEST = 200, 499


def parse_matcher(text: str) -> frozenset[int] | None:
    """The status codes ``text`` accepts, or None when it is not a valid matcher."""
    codes: set[int] = set()
    for part in text.split(","):
        match = _PART.fullmatch(part.strip())
        if match is None:
            return None
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not LOWEST <= low <= high <= HIGHEST:
            return None
        codes.update(range(low, high + 1))
    return frozenset(codes)
