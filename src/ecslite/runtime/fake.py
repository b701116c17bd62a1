"""The fake runtime (in progress)."""

from __future__ import annotations


class FakeRuntime:
    name = "fake"
