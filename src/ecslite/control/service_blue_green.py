"""The service scheduler's blue/green steps (``strategy: BLUE_GREEN``, ``model.blue_green``), a mixin of
the service reconciler working on its :class:`Step`, inside its transaction.

A PRIMARY deployment marked ``_blueGreen`` goes through the lifecycle stages instead of the rolling
step, taking as many stages per step as it can and waiting where it must:

- Start: each load balancer's green group is the one of ``targetGroupArn``/
  ``advancedConfiguration.alternateTargetGroupArn`` that does not serve production now, judged from
  the production rule's forward weights in the ELBv2 store (``_bgServing`` on the service records
  the same, follows every production shift, and stands in when the rule says nothing clear);
  without older tasks (a new service) the serving group itself. Green tasks register there
  (``_targetGroups``, honoured by ``control.service_registry.launch_config_of``). The blue
  deployments are the older ones whose tasks sit in the serving group; older tasks in the green
  group (a deployment interrupted by this one before its production shift, or the blue tasks one
  interrupted after it had left) are stopped at once, before traffic can reach them. The
  interrupted service deployment itself is STOPPED by UpdateService, as for rolling deployments.
- Hooks: at a stage with PAUSE hooks a ``lifecycleHookDetails`` entry per hook is made
  ``AWAITING_ACTION``; the deployment waits until ContinueServiceDeployment resolves it (CONTINUE
  goes on, ROLLBACK rolls back) or it expires (``TIMED_OUT``, then its ``timeoutAction``).
- ``SCALE_UP`` launches desiredCount green tasks at once and waits until all are healthy (§4.5, their
  target health in the green group); from then on green tasks that turn unhealthy are replaced.
- ``TEST_TRAFFIC_SHIFT`` / ``PRODUCTION_TRAFFIC_SHIFT`` rewrite the test / production listener rules
  (weight 100 to green, 0 to blue) in the ELBv2 store, which the local ALB follows at once and
  DescribeRules shows. ``BAKE_TIME`` waits ``bakeTimeInMinutes`` with both revisions running;
  ``CLEAN_UP`` stops the blue tasks and the deployment completes once they are gone; the green
  groups then serve production and the next deployment's green is the other group.
- Rollback (the circuit breaker, StopServiceDeployment, a hook): the rules go back to blue, the
  blue deployment becomes PRIMARY again (no new tasks: its tasks never stopped), the green one is
  FAILED and drained; its service deployment is ``ROLLBACK_IN_PROGRESS`` and ``ROLLBACK_SUCCESSFUL``
  once the last green task stopped. Without blue tasks left (a new service, or blue already
  cleaned up) the ordinary rollback to the last completed revision takes over.
- Blue capacity: until the production shift each blue deployment keeps the tasks it ran when the
  deployment began; blue tasks that stop or turn unhealthy are replaced (unverified, see
  :meth:`BlueGreenSteps._bg_keep_blue`). After the shift they are not.

- CANARY / LINEAR (``model.traffic_shift``): the same stages, but ``PRODUCTION_TRAFFIC_SHIFT``
  writes the production rule's weights step by step (the canary share, then all; or stepPercent
  more each time), waiting the canary or step bake time between, with an event per step (ecslite's
  own wording). PAUSE hooks cannot sit at that stage (Lambda hooks, which ECS runs at each step,
  are refused), so its hooks are those before and after it. A rollback at any step puts all traffic
  back on blue; a new deployment finding the rule split gives it all to the heavier group first.

- Deployment alarms (``control.service_alarms``) are watched through every stage; one in ALARM
  fails the deployment and, with their ``rollback``, returns it to blue as above. The bake time is
  the ``BAKE_TIME`` stage's.

Not modelled: Lambda hooks (refused by the provider).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ecslite.control.service_live import LiveTaskDocs
from ecslite.control.service_outcomes import DeploymentOutcomes, Step
from ecslite.model.blue_green import (
    IDLE_WEIGHT,
    SERVING_WEIGHT,
    STAGE_ORDER,
    HookAction,
    HookStatus,
    Stage,
    forward_groups,
    hook_detail,
    next_stage,
    pause_hooks_at,
    serving_group,
    shifted_actions,
    shown_stage,
)
from ecslite.model.deployments import ServiceTask, StopOrder, StopWhy, TaskPhase
from ecslite.model.services import (
    DeploymentSpec,
    RolloutState,
    ServiceDeploymentStatus,
)
from ecslite.model.traffic_shift import FULL, shift_plan, split_weights, splits
from ecslite.store import elbv2 as elb_store
from ecslite.store import services as svc_store
from ecslite.store.db import Database, dumps

Doc = dict[str, Any]

# Texts of ecslite's own (ECS documents none for these): the rollout reason of a deployment a hook
# rolled back, its event, and the event of a pause.
ROLLOUT_HOOK_STOPPED = "ECS deployment {id} stopped: lifecycle hook {hook} asked for a rollback."
ROLLOUT_HOOK_ROLLING_BACK = "ECS deployment lifecycle hook: rolling back to deploymentId {id}."
HOOK_ROLLED_BACK_EVENT = "(deployment {id}) deployment stopped: lifecycle hook {hook} asked for a rollback."
PAUSED_EVENT = (
    "(deployment {id}) is paused at lifecycle stage {stage}: waiting for ContinueServiceDeployment with hookId {hook}."
)
STEP_EVENT = "(deployment {id}) shifted {percent}% of production traffic to the new service revision."
RULE_MISSING_EVENT = "(deployment {id}) could not shift traffic: listener rule {rule} no longer exists."

_GO, _WAIT, _ROLLBACK = "go", "wait", "rollback"
_SHIFTS = {Stage.TEST_TRAFFIC_SHIFT: "testListenerRule", Stage.PRODUCTION_TRAFFIC_SHIFT: "productionListenerRule"}


class BlueGreenSteps(DeploymentOutcomes):
    """Mixed into ServiceReconciler, before DeploymentOutcomes' own place in its order (it overrides
    :meth:`_return_to_blue`); the outcome steps (events, rollbacks, completion) are DeploymentOutcomes'."""

    db: Database
    live: LiveTaskDocs

    if TYPE_CHECKING:  # provided by the reconciler

        def _service_tasks(self, step: Step, draining: set[str]) -> list[ServiceTask]: ...
        def _stop(self, step: Step, orders: list[StopOrder], primary: Doc) -> None: ...
        def _launch(self, step: Step, primary: Doc, count: int, replaced: int) -> None: ...
        def _resolve_digests(self, step: Step, primary: Doc) -> None: ...

    # -- the stages ----------------------------------------------------------------------------------

    @staticmethod
    def _blue_green_active(step: Step) -> bool:
        primary = step.primary()
        return (
            primary.get("_blueGreen") is not None
            and primary["rolloutState"] == RolloutState.IN_PROGRESS
            and not primary["_blueGreen"].get("done")
        )

    def _blue_green(self, step: Step) -> None:
        primary = step.primary()
        state: Doc = primary["_blueGreen"]
        self._announce_start(step, primary)
        step.doc.pop("_steadyAt", None)
        record = self._service_deployment(primary)
        before = dumps(record)
        tasks = self._service_tasks(step, set())
        if "stage" not in state:
            self._bg_begin(step, primary, state, tasks)
        if STAGE_ORDER.index(Stage(state["stage"])) < STAGE_ORDER.index(Stage.POST_PRODUCTION_TRAFFIC_SHIFT):
            self._bg_keep_blue(step, state, tasks)
        if STAGE_ORDER.index(Stage(state["stage"])) >= STAGE_ORDER.index(Stage.SCALE_UP):
            self._bg_keep_green(step, primary, tasks)
        for _ in STAGE_ORDER:
            stage = Stage(state["stage"])
            if record is not None:
                record["lifecycleStage"] = shown_stage(stage)
            verdict, hook = self._bg_hooks(step, primary, record, stage)
            if verdict == _WAIT:
                break
            if verdict == _ROLLBACK and record is not None:
                self._bg_hook_rollback(step, primary, record, hook)
                return
            if not self._bg_work(step, primary, state, stage, tasks):
                break
            following = next_stage(stage)
            if following is None:
                self._bg_put(record, before)
                self._bg_finish(step, primary, state)
                return
            state["stage"] = following.value
            if following is Stage.SCALE_UP:
                self._bg_keep_green(step, primary, tasks)
        self._bg_put(record, before)
        self._resolve_digests(step, primary)

    def _bg_put(self, record: Doc | None, before: str) -> None:
        if record is not None and dumps(record) != before:
            svc_store.put_service_deployment(self.db, record)

    def _bg_begin(self, step: Step, primary: Doc, state: Doc, tasks: list[ServiceTask]) -> None:
        """Each load balancer's green group, and which older deployments are blue. Green is the group
        that does not serve production now, as the production rule forwards at this moment: a
        deployment interrupted before its production shift left production on its blue group, one
        interrupted after it (in its bake time, say) on its green group. Older tasks in the new green
        group (the interrupted green ones, or the blue ones production left) are stopped now, before
        test or production traffic can reach them; those in the serving group are blue."""
        owners = {t.deployment_id for t in tasks}
        older = [d for d in step.doc["deployments"] if d is not primary and d["id"] in owners]
        pairs = self._bg_serving_now(step, primary)
        serving = {main: now_serving for main, (now_serving, _) in pairs.items()}
        groups: dict[str, str] = {}
        for main, (now_serving, idle) in pairs.items():
            groups[main] = idle if older else now_serving
        primary["_targetGroups"] = groups
        stale = [d for d in older if self._bg_in_groups(d, groups, serving)]
        blue = [d["id"] for d in older if d not in stale]
        stale_ids = {d["id"] for d in stale}
        stops = [StopOrder(t.arn, StopWhy.ROLLOUT) for t in tasks if t.deployment_id in stale_ids]
        if stops:
            self._stop(step, stops, primary)
        state["blue"] = blue
        state["blueCounts"] = {b: sum(1 for t in tasks if t.deployment_id == b) for b in blue}
        # RECONCILE_SERVICE only when more than one older revision still runs (model.blue_green).
        state["stage"] = (Stage.RECONCILE_SERVICE if len(older) > 1 else Stage.PRE_SCALE_UP).value

    def _bg_serving_now(self, step: Step, deployment: Doc) -> dict[str, tuple[str, str]]:
        """Primary group → (the group serving production now, the other one), for each load balancer
        with both groups. Serving is what the production rule forwards to in the ELBv2 store, else the
        service's record (``_bgServing``), else the primary group; the record is brought in line."""
        recorded: dict[str, str] = dict(step.doc.get("_bgServing") or {})
        out: dict[str, tuple[str, str]] = {}
        for lb in deployment["_spec"].get("loadBalancers") or ():
            main = lb.get("targetGroupArn")
            advanced = lb.get("advancedConfiguration") or {}
            alternate, rule = advanced.get("alternateTargetGroupArn"), advanced.get("productionListenerRule")
            if not main or not alternate:
                continue
            found = elb_store.get_rule(self.db, str(rule)) if rule else None
            now = serving_group(found[1].get("Actions") or [], str(main), str(alternate)) if found else None
            if now is None:
                now = recorded.get(main) if recorded.get(main) in (main, alternate) else main
            recorded[str(main)] = str(now)
            idle = str(alternate if now == main else main)
            out[str(main)] = (str(now), idle)
            if found and splits(found[1].get("Actions") or [], str(main), str(alternate)):
                # A canary or linear deployment interrupted mid-shift: the group that served most
                # takes all of production again before the other group's tasks are stopped.
                write_rule_actions(self.db, str(rule), str(now), idle)
        if out:
            step.doc["_bgServing"] = recorded
        return out

    @staticmethod
    def _bg_in_groups(deployment: Doc, groups: Mapping[str, str], serving: Mapping[str, str]) -> bool:
        """Whether ``deployment``'s tasks sit in one of the green ``groups``: by its own
        ``_targetGroups``, or for a deployment without (a rolling one) by the serving groups, which its
        tasks joined (``control.service_registry.launch_config_of``)."""
        own: Mapping[str, str] = deployment.get("_targetGroups") or serving
        return any(own.get(main, main) == green for main, green in groups.items())

    def _bg_keep_blue(self, step: Step, state: Doc, tasks: list[ServiceTask]) -> None:
        """Until production traffic moves, blue serves it: each blue deployment keeps the tasks it ran
        when this deployment began, those that stopped or turned unhealthy (stopped here) replaced by
        new tasks of the blue revision in the serving group. Unverified: ECS documents that blue keeps
        serving production until the shift, not whether it replaces blue tasks meanwhile; after the
        shift blue tasks only wait for CLEAN_UP (or a rollback) and are not replaced (unverified too).
        A blue deployment left with no task at all is kept meanwhile (the reconciler's prune spares
        it) and gets its tasks back here."""
        stamp = (step.doc.get("_throttle") or {}).get("until")
        until = float(stamp) if stamp is not None else step.now
        for deployment_id, count in (state.get("blueCounts") or {}).items():
            deployment = step.deployment(deployment_id)
            if deployment is None:
                continue
            own = [t for t in tasks if t.deployment_id == deployment_id]
            unhealthy = [t for t in own if t.phase is TaskPhase.UNHEALTHY]
            if unhealthy:
                self._stop(step, [StopOrder(t.arn, StopWhy.UNHEALTHY) for t in unhealthy], deployment)
            missing = int(count) - (len(own) - len(unhealthy))
            if missing <= 0:
                continue
            if step.now < until:  # §4.10: launches wait out the throttle, as green's do
                step.recheck.append(until)
                continue
            self._launch(step, deployment, missing, len(unhealthy))
            step.live = self.live.read(step.ref)

    def _bg_keep_green(self, step: Step, primary: Doc, tasks: list[ServiceTask]) -> None:
        """desiredCount green tasks, unhealthy ones stopped (and counted by the breaker) and replaced."""
        green = [t for t in tasks if t.deployment_id == primary["id"]]
        unhealthy = [t for t in green if t.phase is TaskPhase.UNHEALTHY]
        if unhealthy:
            self._stop(step, [StopOrder(t.arn, StopWhy.UNHEALTHY) for t in unhealthy], primary)
        launched = sum(1 for t in step.live if t.get("startedBy") == primary["id"] and t["desiredStatus"] == "RUNNING")
        missing = int(step.doc["desiredCount"]) - (launched - len(unhealthy))
        stamp = (step.doc.get("_throttle") or {}).get("until")
        if stamp is not None and step.now < float(stamp):
            step.recheck.append(float(stamp))
            return
        if missing > 0:
            self._launch(step, primary, missing, len(unhealthy))
            step.live = self.live.read(step.ref)

    def _bg_work(self, step: Step, primary: Doc, state: Doc, stage: Stage, tasks: list[ServiceTask]) -> bool:
        """The stage's own work; True once it is done."""
        if stage is Stage.SCALE_UP:
            healthy = sum(1 for t in tasks if t.deployment_id == primary["id"] and t.phase is TaskPhase.HEALTHY)
            return healthy >= int(step.doc["desiredCount"])
        # A new service's first deployment has no blue to share production with: it shifts at once.
        stepped = state.get("shift") or (state.get("blue") and shift_plan(step.doc["deploymentConfiguration"]))
        if stage is Stage.PRODUCTION_TRAFFIC_SHIFT and stepped:
            return self._bg_shift_in_steps(step, primary, state)
        if stage in _SHIFTS:
            self._bg_shift(step, primary, _SHIFTS[stage], to_green=True)
            return True
        if stage is Stage.BAKE_TIME:
            minutes = float(step.doc["deploymentConfiguration"].get("bakeTimeInMinutes") or 0)
            until = float(state.setdefault("bakeUntil", step.now + minutes * 60.0))
            if step.now >= until:
                return True
            step.recheck.append(until)
            return False
        if stage is Stage.CLEAN_UP:
            blue = [t for t in step.live if t.get("startedBy") != primary["id"]]
            running = [t["taskArn"] for t in blue if t["desiredStatus"] == "RUNNING"]
            if running:
                # Stopped as any rollout stops old tasks: "Scaling activity initiated by (deployment <id>)".
                self._stop(step, [StopOrder(arn, StopWhy.ROLLOUT) for arn in running], primary)
            return not blue
        return True  # RECONCILE_SERVICE and the hook-only stages

    def _bg_shift_in_steps(self, step: Step, primary: Doc, state: Doc) -> bool:
        """CANARY / LINEAR (``model.traffic_shift``): the next share of production traffic to green
        once the step's bake time is over (the clock's, so a test advances it); True once green has
        it all. The plan is taken when the shift begins, so a configuration changed meanwhile does
        not change the steps of this deployment. A deployment alarm, the circuit breaker or
        StopServiceDeployment during a step bake rolls back as at any stage: every rule back to blue."""
        shift: Doc | None = state.get("shift")
        if shift is None:
            plan = shift_plan(step.doc["deploymentConfiguration"])
            assert plan is not None  # _bg_work asked for it
            shift = state["shift"] = {"shares": list(plan.shares), "bake": plan.bake_seconds, "step": -1}
            shift["until"] = step.now
        shares: list[int] = shift["shares"]
        while shift["step"] + 1 < len(shares):
            if step.now < float(shift["until"]):
                step.recheck.append(float(shift["until"]))
                return False
            shift["step"] += 1
            share = shares[shift["step"]]
            self._bg_shift(step, primary, "productionListenerRule", to_green=True, share=share)
            self._event(step, STEP_EVENT.format(id=primary["id"], percent=f"{share / 10:g}"))
            shift["until"] = step.now + float(shift["bake"])
        return True

    def _bg_finish(self, step: Step, primary: Doc, state: Doc) -> None:
        """CLEAN_UP is over: the green groups serve production from now on; the deployment completes."""
        state["done"] = True
        serving = step.doc.setdefault("_bgServing", {})
        serving.update(primary.get("_targetGroups") or {})
        self._complete(step, primary)

    # -- lifecycle hooks -----------------------------------------------------------------------------

    def _bg_hooks(self, step: Step, primary: Doc, record: Doc | None, stage: Stage) -> tuple[str, str | None]:
        """Whether the PAUSE hooks of ``stage`` let the deployment go on, hold it, or roll it back."""
        if record is None:
            return _GO, None
        hooks = pause_hooks_at(record.get("deploymentConfiguration") or {}, stage)
        if not hooks:
            return _GO, None
        details: list[Doc] = record.setdefault("lifecycleHookDetails", [])
        for index, hook in hooks:
            if not any(d.get("_stage") == stage.value and d.get("_index") == index for d in details):
                detail = hook_detail(hook, stage, index, step.now)
                details.append(detail)
                text = PAUSED_EVENT.format(id=primary["id"], stage=shown_stage(stage), hook=detail["hookId"])
                self._event(step, text)
        waiting: list[float] = []
        for detail in details:
            if detail.get("_stage") != stage.value:
                continue
            if detail["status"] == HookStatus.AWAITING_ACTION and step.now >= float(detail["expiresAt"]):
                detail["status"] = HookStatus.TIMED_OUT.value
                detail["_action"] = detail.get("timeoutAction") or HookAction.ROLLBACK.value
            if detail.get("_action") == HookAction.ROLLBACK:
                return _ROLLBACK, str(detail["hookId"])
            if detail["status"] == HookStatus.AWAITING_ACTION:
                waiting.append(float(detail["expiresAt"]))
        if waiting:
            step.recheck.append(min(waiting))
            return _WAIT, None
        return _GO, None

    def _bg_hook_rollback(self, step: Step, primary: Doc, record: Doc, hook: str | None) -> None:
        primary.update(
            rolloutState=RolloutState.FAILED.value,
            rolloutStateReason=ROLLOUT_HOOK_STOPPED.format(id=primary["id"], hook=hook),
            updatedAt=step.now,
        )
        self._event(step, HOOK_ROLLED_BACK_EVENT.format(id=primary["id"], hook=hook))
        svc_store.put_service_deployment(self.db, record)
        if self._return_to_blue(step, primary, record, ROLLOUT_HOOK_ROLLING_BACK, None):
            return
        last = step.doc.get("_lastCompleted")
        fresh = self._service_deployment(primary)
        if last and fresh is not None:
            self._rollback(step, primary, fresh, last, None, ROLLOUT_HOOK_ROLLING_BACK)
        elif fresh is not None:
            # Nothing ever completed to go back to (unverified outcome): the deployment just ends.
            fresh.update(status=ServiceDeploymentStatus.ROLLBACK_FAILED.value, finishedAt=step.now, updatedAt=step.now)
            svc_store.freeze_counts(self.db, step.doc, fresh, None)
            svc_store.put_service_deployment(self.db, fresh)

    # -- traffic -------------------------------------------------------------------------------------

    def _bg_shift(self, step: Step, deployment: Doc, member: str, *, to_green: bool, share: int = FULL) -> None:
        """Point ``member`` (the test or production listener rule) of each load balancer at the
        deployment's green group (``to_green``; ``share`` of it, in tenths of a percent, for a canary
        or linear step) or back at blue."""
        groups: Mapping[str, str] = deployment.get("_targetGroups") or {}
        for lb in deployment["_spec"].get("loadBalancers") or ():
            advanced = lb.get("advancedConfiguration") or {}
            rule, main = advanced.get(member), lb.get("targetGroupArn")
            green = groups.get(str(main))
            if not rule or not green:
                continue
            blue = str(advanced["alternateTargetGroupArn"]) if green == main else str(main)
            serving, idle = (green, blue) if to_green else (blue, green)
            partial = to_green and share < FULL
            weights = split_weights(share) if partial else (SERVING_WEIGHT, IDLE_WEIGHT)
            if not write_rule_actions(self.db, str(rule), serving, idle, weights):
                self._event(step, RULE_MISSING_EVENT.format(id=deployment["id"], rule=rule))
            elif member == "productionListenerRule" and not partial:
                # The service's record of the serving group follows the production rule at once, so
                # that a deployment interrupted after this shift leaves it right (see _bg_begin).
                step.doc.setdefault("_bgServing", {})[str(main)] = serving

    # -- rollback ------------------------------------------------------------------------------------

    def _return_to_blue(self, step: Step, failed: Doc, record: Doc, reason_text: str, tripped: Doc | None) -> bool:
        """A blue/green rollback: traffic and PRIMARY back to blue, green drained. False when there is
        no blue deployment with running tasks to return to (the ordinary rollback then applies)."""
        if failed.get("_blueGreen") is None:
            return False
        owners = {t.get("startedBy") for t in step.live if t["desiredStatus"] == "RUNNING"}
        blue = [d for d in step.doc["deployments"] if d is not failed and d["id"] in owners]
        if not blue:
            return False
        last = (step.doc.get("_lastCompleted") or {}).get("deploymentId")
        target = next((d for d in blue if d["id"] == last), blue[0])
        self._bg_shift(step, failed, "testListenerRule", to_green=False)
        self._bg_shift(step, failed, "productionListenerRule", to_green=False)
        failed["_blueGreen"]["done"] = True
        step.doc["_bgRollback"] = {"record": record["serviceDeploymentArn"], "failed": failed["id"]}
        spec = DeploymentSpec.from_doc(target["_spec"])
        reason = reason_text.format(id=target["id"])
        self._roll_back_to(step, target, spec, failed, record, reason, str(target["_revisionArn"]), tripped)
        return True

    def _blue_green_rolled_back(self, step: Step) -> None:
        """A blue/green rollback is over once the last green task stopped: ROLLBACK_SUCCESSFUL."""
        marker = step.doc.get("_bgRollback")
        if not marker or any(t.get("startedBy") == marker["failed"] for t in step.live):
            return
        step.doc.pop("_bgRollback")
        record = svc_store.get_service_deployment(self.db, marker["record"])
        if record is None or record["status"] != ServiceDeploymentStatus.ROLLBACK_IN_PROGRESS:
            return
        record.update(status=ServiceDeploymentStatus.ROLLBACK_SUCCESSFUL.value, finishedAt=step.now, updatedAt=step.now)
        svc_store.freeze_counts(self.db, step.doc, record, None)
        svc_store.put_service_deployment(self.db, record)


def write_rule_actions(
    db: Database, rule_arn: str, serving: str, idle: str, weights: tuple[int, int] = (SERVING_WEIGHT, IDLE_WEIGHT)
) -> bool:
    """Rewrite a listener rule's forward action (``model.blue_green.shifted_actions``) as ModifyRule
    would store it: the rule, the groups it links to, and a default rule's listener. False when the
    rule is gone."""
    found = elb_store.get_rule(db, rule_arn)
    if found is None:
        return False
    listener_arn, doc = found
    listener = elb_store.get_listener(db, listener_arn)
    if listener is None:
        return False
    actions = shifted_actions(doc.get("Actions") or [], serving, idle, weights)
    if actions == doc.get("Actions"):
        return True
    doc["Actions"] = actions
    default = bool(doc.get("IsDefault"))
    elb_store.put_rule(db, None if default else int(doc["Priority"]), doc)
    elb_store.set_links(db, rule_arn, listener["LoadBalancerArn"], forward_groups(actions))
    if default:
        elb_store.put_listener(db, {**listener, "DefaultActions": actions})
        elb_store.set_links(db, listener_arn, listener["LoadBalancerArn"], forward_groups(actions))
    return True
