"""The service reconciler's read of a service's live task documents, parsed once per stored text.

Every step of a service reads all of its tasks that are not yet STOPPED (``Step.live``). While a
service grows or rolls, it runs ten or more times a second, and most of its tasks have not changed
since the last step: parsing their JSON again was most of a step's time (200 tasks: ~5 ms). The
rows are still read in full on every step, inside the step's transaction, and a document is parsed
again whenever its stored text differs from the text it was parsed from, so what a step sees is
exactly what the store holds at that moment: no invalidation through the change feed, no window in
which a committed write is not yet seen, nothing to repair after a rollback or a reset.

The parsed documents are shared between steps, so the scheduler treats task documents as read-only
(its writes go through ``store.tasks``, which parses its own copy). Only the service's current live
tasks are kept; a service with none left (deleted, scaled to zero) keeps nothing.
"""

from __future__ import annotations

from typing import Any

from ecslite.control.service_launch import ServiceRef
from ecslite.store.db import Database, loads

Doc = dict[str, Any]


class LiveTaskDocs:
    def __init__(self, db: Database) -> None:
        self.db = db
        # service → task ARN → (stored text, the document parsed from it)
        self._parsed: dict[ServiceRef, dict[str, tuple[str, Doc]]] = {}

    def read(self, ref: ServiceRef) -> list[Doc]:
        """The service's tasks that are not yet STOPPED, oldest first (``store.services.task_docs``)."""
        rows = self.db.query(
            """SELECT arn, doc FROM tasks WHERE account=? AND region=? AND cluster=? AND service_name=?
               AND last_status != 'STOPPED' ORDER BY rid""",
            (ref.account, ref.region, ref.cluster, ref.name),
        )
        before = self._parsed.get(ref) or {}
        now: dict[str, tuple[str, Doc]] = {}
        docs: list[Doc] = []
        for row in rows:
            arn, text = row["arn"], row["doc"]
            seen = before.get(arn)
            if seen is None or seen[0] != text:
                seen = (text, loads(text))
            now[arn] = seen
            docs.append(seen[1])
        if now:
            self._parsed[ref] = now
        else:
            self._parsed.pop(ref, None)
        return docs

    def clear(self) -> None:
        self._parsed.clear()
