"""The rollout controller: at each tick, read every active rollout's state and window, decide, and apply.

:meth:`RolloutController.tick` is the whole controller, given ``now``: it takes (or renews) the store's
``rollouts`` lease and does nothing without it, so exactly one process per store drives rollouts. For each
active rollout it

1. **reconciles** the plan: a revision it did not record is either its own (saved by a leader that died
   before writing the state: the audit entry's evidence names this rollout, and the state adopts it, so no
   step is applied twice or skipped) or someone else's (a manual promote, canary or rollback: the rollout
   *ends*, recorded, rather than fight it);
2. applies the rollout's first change when it has none yet (the shadow, or the first canary step);
3. evaluates the gates on the window (:mod:`registry_client.rollout.window`) and decides
   (:func:`registry_client.rollout.policy.decide`);
4. applies the decision as one plan save with the expected revision and the lease's fencing token, whose
   audit entry holds the evidence, then writes the state (also fenced, compare-and-set on ``seq``).

A conflict (a human paused it in the meantime, or the plan moved) skips the rollout for this tick: the next
one re-reads everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from registry_client.control import ControlPlane
from registry_client.domain.plan import AuditEntry, Plan, PlanAction
from registry_client.domain.rollout import Fence, Phase, RolloutDecision, RolloutState
from registry_client.errors import LeaseLostError, PlanConflictError, RolloutConflictError
from registry_client.registry.registry import Registry
from registry_client.rollout.gates import GateResult
from registry_client.rollout.policy import Decision, StepClock, decide
from registry_client.rollout.spec import thresholds_of
from registry_client.rollout.state import ended, moved, snapshot
from registry_client.rollout.window import evaluate, gate_dict

__all__ = ["ACTOR", "LEASE", "RolloutController", "TickReport"]

LEASE = "rollouts"
#: The actor of every change the controller makes, in the plan's audit history.
ACTOR = "rollout"


@dataclass
class TickReport:
    """What one tick did: whether this process leads, and each rollout's state and gates after it."""

    leader: bool
    states: list[RolloutState] = field(default_factory=list)
    gates: dict[str, list[GateResult]] = field(default_factory=dict)
    #: Decisions taken (or adopted) this tick, with the state they led to.
    decisions: list[tuple[RolloutState, RolloutDecision]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


class RolloutController:
    def __init__(self, registry: Registry, *, holder: str, lease_s: float = 15.0) -> None:
        self.registry = registry
        self.store = registry.store
        self.control = ControlPlane(registry)
        self.holder = holder
        self.lease_s = lease_s
        self.fence: Fence | None = None
        self.on_decision: Callable[[RolloutState, RolloutDecision], None] | None = None

    def tick(self, now: float) -> TickReport:
        fence = self.fence = self.store.acquire_lease(LEASE, self.holder, self.lease_s)
        report = TickReport(leader=fence is not None)
        if fence is None:
            return report
        for model, state in self.store.rollouts().items():
            if not state.active:
                continue
            try:
                after, gates = self._drive(state, now, fence)
            except LeaseLostError:
                self.fence = None
                report.leader = False
                return report
            except (PlanConflictError, RolloutConflictError) as exc:
                report.skipped[model] = exc.message
                continue
            report.states.append(after)
            report.gates[model] = gates
            for decision in after.decisions[len(state.decisions) :]:
                report.decisions.append((after, decision))
                if self.on_decision is not None:
                    self.on_decision(after, decision)
        return report

    def release(self) -> None:
        if self.fence is not None:
            self.store.release_lease(self.fence)
            self.fence = None

    # -- one rollout ---------------------------------------------------------------------------
    def _drive(self, state: RolloutState, now: float, fence: Fence) -> tuple[RolloutState, list[GateResult]]:
        plan = self.control.plan(state.spec.model)
        if plan.revision != state.last_revision:
            return self._reconcile(state, plan, now, fence), []
        if not state.revisions:
            return self._first_change(state, plan, now, fence), []
        task = self.registry.get(state.spec.model, state.spec.version).task
        window, gates = evaluate(self.store, state, now=now, task=task)
        gate_dicts = tuple(gate_dict(g) for g in gates)
        if state.phase == "paused":
            return self._write(state, snapshot(state, gate_dicts, now=now), fence), gates
        clock = self._clock(state, now)
        decision = decide(gates, clock)
        evidence = {
            "rollout": state.id,
            "action": decision.action,
            "reason": decision.reason,
            "arms": {"canary": state.spec.version, "stable": state.stable},
            "window": window.to_dict(),
            "gates": list(gate_dicts),
            "thresholds": asdict(thresholds_of(state.spec)),
            "clock": asdict(clock),
        }
        after = self._apply(snapshot(state, gate_dicts, now=now), plan, decision, evidence, now=now, fence=fence)
        return self._write(state, after, fence), gates

    def _clock(self, state: RolloutState, now: float) -> StepClock:
        spec = state.spec
        in_step = now - state.step_started_at
        if state.phase == "shadow":  # the shadow is a step before the first one: passing it advances
            return StepClock(0, 2, in_step, spec.shadow_first_s, max(spec.max_step_duration_s, spec.shadow_first_s))
        steps = len(spec.canary_steps)
        return StepClock(state.step, steps, in_step, spec.step_duration_s, spec.max_step_duration_s, spec.on_timeout)

    def _apply(
        self,
        state: RolloutState,
        plan: Plan,
        decision: Decision,
        evidence: dict[str, Any],
        *,
        now: float,
        fence: Fence,
    ) -> RolloutState:
        spec, action = state.spec, decision.action
        if action == "wait":
            return state
        if action == "pause":
            evidence.update(phase_after="paused", step_after=state.step)
            return moved(
                state,
                action="pause",
                phase="paused",
                step=state.step,
                revision=None,
                now=now,
                actor=ACTOR,
                reason=decision.reason,
                evidence=evidence,
            )
        if action == "advance":
            step = 0 if state.phase == "shadow" else state.step + 1
            weight = spec.canary_steps[step]
            reason = f"rollout step {step + 1}: {spec.version} at {weight:g}% ({decision.reason})"
            evidence.update(phase_after="step", step_after=step, weight_after=weight)
            entry = self._save(plan, "canary", reason, evidence, fence, canary=(spec.version, weight, spec.sticky))
            return moved(
                state,
                action="advance",
                phase="step",
                step=step,
                revision=entry.revision,
                now=now,
                actor=ACTOR,
                reason=reason,
                evidence=evidence,
            )
        phases: dict[str, Phase] = {"promote": "promoted", "rollback": "rolled_back", "abort": "aborted"}
        phase = phases[action]
        verb = {"promote": "promoted", "rollback": "rolled back", "abort": "aborted"}[action]
        reason = f"rollout {verb} {spec.version}: {decision.reason}"
        evidence.update(phase_after=phase, step_after=state.step)
        plan_action: PlanAction = "promote" if action == "promote" else "rollback"
        stable = spec.version if action == "promote" else None
        entry = self._save(plan, plan_action, reason, evidence, fence, stable=stable)
        return ended(
            state,
            phase=phase,
            action=action,
            now=now,
            actor=ACTOR,
            reason=reason,
            revision=entry.revision,
            evidence=evidence,
        )

    def _save(
        self,
        plan: Plan,
        action: PlanAction,
        reason: str,
        evidence: dict[str, Any],
        fence: Fence | None,
        *,
        stable: str | None = None,
        canary: tuple[str, float, bool] | None = None,
        shadow: str | None = None,
    ) -> AuditEntry:
        return self.control.rollout_change(
            plan.model,
            action,
            stable=stable,
            canary=canary,
            shadow=shadow,
            actor=ACTOR,
            reason=reason,
            expected_revision=plan.revision,
            evidence=evidence,
            fence=fence,
        )

    def _first_change(self, state: RolloutState, plan: Plan, now: float, fence: Fence) -> RolloutState:
        spec = state.spec
        evidence: dict[str, Any] = {"rollout": state.id, "action": "start", "step_after": 0}
        if state.phase == "shadow":
            reason = f"rollout shadow: {spec.version} mirrors 100% for {spec.shadow_first_s:g}s ({spec.reason})"
            evidence["phase_after"] = "shadow"
            entry = self._save(plan, "shadow", reason, evidence, fence, shadow=spec.version)
        else:
            weight = spec.canary_steps[0]
            reason = f"rollout step 1: {spec.version} at {weight:g}% ({spec.reason})"
            evidence.update(phase_after="step", weight_after=weight)
            entry = self._save(plan, "canary", reason, evidence, fence, canary=(spec.version, weight, spec.sticky))
        after = moved(
            state,
            action="begin",
            phase=state.phase,
            step=0,
            revision=entry.revision,
            now=now,
            actor=ACTOR,
            reason=reason,
            evidence=evidence,
        )
        return self._write(state, after, fence)

    def _reconcile(self, state: RolloutState, plan: Plan, now: float, fence: Fence) -> RolloutState:
        """Adopt the revisions this rollout saved but did not record; end it at the first one it did not save."""
        newer = [e for e in self.store.history(plan.model) if e.revision > state.last_revision]
        after = state
        for entry in newer:
            if not after.active:
                break
            evidence = entry.evidence or {}
            if evidence.get("rollout") != state.id or "phase_after" not in evidence:
                reason = (
                    f"the plan was changed by {entry.actor} ({entry.action}: {entry.reason or 'no reason given'}) "
                    f"at revision {entry.revision}: the rollout ends rather than fight it"
                )
                after = ended(after, phase="ended", action="end", now=now, actor=entry.actor, reason=reason)
                break
            after = moved(
                after,
                action=str(evidence["action"]) if evidence["action"] != "start" else "begin",
                phase=evidence["phase_after"],
                step=int(evidence["step_after"]),
                revision=entry.revision,
                now=entry.at.timestamp(),
                actor=ACTOR,
                reason=f"{entry.reason} (saved by an earlier leader; recorded now)",
                evidence=evidence,
            )
        return self._write(state, after, fence)

    def _write(self, before: RolloutState, after: RolloutState, fence: Fence) -> RolloutState:
        """Save ``after`` as the one write that follows ``before`` (however many transitions it took)."""
        after = after.model_copy(update={"seq": before.seq + 1})
        self.store.save_rollout(after, fence=fence)
        return after
