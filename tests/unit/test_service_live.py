"""The service reconciler's read of live task documents (``control.service_live``): each document is
parsed once per stored text, and what a step sees is always what the store holds."""

from __future__ import annotations

from typing import Any

from ecslite.control.service_launch import ServiceRef
from ecslite.control.service_live import LiveTaskDocs
from ecslite.model.tasks import StopCode
from ecslite.store import services as svc_store
from ecslite.store import tasks as task_store
from ecslite.store.db import loads
from ecslite.store.tasks import StopRequest
from tests.unit.test_service_harness import ACCOUNT, REGION, ServiceHarness, run


def svc_ref(h: ServiceHarness, name: str = "web") -> ServiceRef:
    return ServiceRef(account=ACCOUNT, region=REGION, cluster="default", name=name)


def stored(h: ServiceHarness, ref: Any) -> list[dict[str, Any]]:
    return svc_store.task_docs(h.db, ref.account, ref.region, ref.cluster, ref.name)


def test_unchanged_documents_are_parsed_once_and_changed_ones_again() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=3)
        await h.until(lambda: h.completed())
        live = LiveTaskDocs(h.db)
        ref = svc_ref(h)
        first = live.read(ref)
        assert first == stored(h, ref) and len(first) == 3
        again = live.read(ref)
        assert all(a is b for a, b in zip(first, again, strict=True))  # nothing changed: nothing parsed

        # A write of one task (a visible one, and one that does not bump the version) is seen at once.
        changed = first[1]["taskArn"]

        def probe(doc: dict[str, Any]) -> bool:
            doc.setdefault("_run", {})["probe"] = 1
            return True

        with h.db.transaction():
            task_store.update(h.db, changed, probe, visible=False)
        after = live.read(ref)
        assert after == stored(h, ref)
        assert after[1] is not first[1] and after[1]["_run"]["probe"] == 1
        assert after[0] is first[0] and after[2] is first[2]

        # A stopped task leaves the read and what is kept for it.
        with h.db.transaction():
            task_store.request_stop(h.db, changed, StopRequest(StopCode.USER_INITIATED, "test", h.clock.now()))
        assert live.read(ref)[1]["desiredStatus"] == "STOPPED"
        await h.until(lambda: len(stored(h, ref)) == 3 and changed not in {t["taskArn"] for t in stored(h, ref)})
        assert live.read(ref) == stored(h, ref)
        assert changed not in live._parsed[ref]

    run(scenario)


def test_a_service_with_no_live_task_keeps_nothing() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=2)
        await h.until(lambda: h.completed())
        live, ref = h.services.reconciler.live, svc_ref(h)
        assert set(live._parsed[ref]) == {t["taskArn"] for t in h.service_tasks()}
        h.update(desiredCount=0)
        await h.until(lambda: not stored(h, ref))
        await h.settle()
        assert ref not in live._parsed

    run(scenario)


def test_the_scheduler_leaves_the_shared_documents_as_stored() -> None:
    """The parsed documents outlive a step, so no step may change them in place: after a rollout,
    a scale-in and a replacement, each kept document still equals the text it was parsed from."""

    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=4, deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 200})
        await h.until(lambda: h.completed())
        live, ref = h.services.reconciler.live, svc_ref(h)
        checked = 0

        def check() -> None:
            nonlocal checked
            for text, doc in list(live._parsed.get(ref, {}).values()):
                assert doc == loads(text)
                checked += 1

        h.changes.append(check)
        h.register(image="example/web:2")
        h.update(taskDefinition="web")
        await h.until(lambda: h.completed())
        h.update(desiredCount=2)
        await h.until(lambda: len(h.service_tasks()) == 2)
        victim = h.service_tasks()[0]
        h.runtime.exit(victim["taskArn"].rsplit("/", 1)[1], "app", 2)
        await h.until(lambda: victim["taskArn"] not in {t["taskArn"] for t in h.service_tasks()})
        await h.until(lambda: h.describe()["runningCount"] == 2)
        check()
        assert checked > 100

    run(scenario)
