"""The VPC resolver addresses a host network put on its bridge, so that it can take them off again.

A task's resolver (its VPC's base + 2, answered by :mod:`.dns`) goes on the bridge as ``/32``, as
a load balancer's private addresses do, so the bridge alone cannot tell one from the other. The
addresses put there as resolvers are listed in a record file (``<runtime_dir>/network/resolvers.json``),
noted *before* they are added, so that one left by a crash, or by a VPC deleted while the server
was down, is still known. :meth:`ResolverRecord.prune` takes off those that no VPC wants any more
and no sandbox here still names, and forgets them.

Invariant: one lock covers the record, held by a prune from listing the bridge to forgetting. A
task notes its resolvers after writing its state (which names them) and before adding them: one
that noted first is seen by the prune's reading of the states; one that notes later finds the
address forgotten, notes it again and adds it again.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ecslite.runtime.process.netlink import Netlink

RECORD_NAME = "resolvers.json"


class ResolverRecord:
    """The resolver addresses put on one bridge (kept in memory once read; written when it changes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._known: set[str] | None = None

    def note(self, addresses: Iterable[str]) -> None:
        """Remember ``addresses`` as resolvers; call before putting them on the bridge.

        Writes only when one is new, so a task start in a known VPC costs no file I/O."""
        with self._lock:
            known = self._load()
            new = set(addresses) - known
            if new:
                self._save(known | new)

    def known(self) -> set[str]:
        with self._lock:
            return set(self._load())

    def clear(self) -> None:
        """Forget everything (the bridge itself is gone, and its addresses with it)."""
        with self._lock:
            self._known = set()
            self.path.unlink(missing_ok=True)

    def prune(
        self, host: Netlink, bridge_index: int, kept: frozenset[str], in_use: Callable[[], set[str]]
    ) -> list[str]:
        """Take off the bridge every recorded resolver but ``kept`` and those ``in_use`` names (the
        sandboxes' resolvers, read after the bridge is listed); returns the addresses taken off."""
        with self._lock:
            known = self._load()
            listed = {address for address, prefix in host.addresses(bridge_index) if prefix == 32}
            gone = known - kept - in_use()
            removed = []
            for address in sorted(gone & listed):
                host.delete_address(bridge_index, address, 32)
                removed.append(address)
            if gone:
                self._save(known - gone)
            return removed

    def _load(self) -> set[str]:
        if self._known is None:
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                data = []
            self._known = {str(address) for address in data} if isinstance(data, list) else set()
        return self._known

    def _save(self, known: set[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(sorted(known)))
        os.replace(tmp, self.path)
        self._known = known
