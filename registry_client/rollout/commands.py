"""What a human does to a rollout: start, pause, resume, abort, promote now; transport-agnostic, like
:class:`~registry_client.control.ControlPlane` (the gateway's admin API calls these).

``start`` only writes the spec as a new state; the controller applies the first step at its next tick.
``pause`` and ``resume`` change the state only. ``abort`` and ``promote`` (``--force``) also change the plan
at once, with the expected revision and evidence naming the rollout, so a controller that ticks in between
adopts the change instead of taking it for a manual one. A state write that loses to the controller's tick
(compare-and-set on ``seq``) is retried on the state read again. Each decision written is passed to
``on_decision`` (the gateway's webhook), as the controller passes its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from registry_client.control import ControlPlane
from registry_client.domain.plan import PlanAction
from registry_client.domain.rollout import Phase, RolloutDecision, RolloutSpec, RolloutState
from registry_client.errors import RolloutConflictError, RolloutError, RolloutNotFoundError
from registry_client.registry.registry import Registry
from registry_client.rollout.state import begin, ended, paused, resumed

__all__ = ["Rollouts"]

_ATTEMPTS = 5


class Rollouts:
    def __init__(
        self, registry: Registry, *, on_decision: Callable[[RolloutState, RolloutDecision], None] | None = None
    ) -> None:
        self.registry = registry
        self.store = registry.store
        self.control = ControlPlane(registry)
        self.on_decision = on_decision

    def _decided(self, before: RolloutState | None, after: RolloutState) -> None:
        if self.on_decision is None:
            return
        known = len(before.decisions) if before is not None and before.id == after.id else 0
        for decision in after.decisions[known:]:
            self.on_decision(after, decision)

    def get(self, model: str) -> RolloutState:
        state = self.store.get_rollout(model)
        if state is None:
            raise RolloutNotFoundError(f"model {model!r} has no rollout: start one with canaryline rollout start")
        return state

    def start(self, spec: RolloutSpec, *, now: float) -> RolloutState:
        """A new rollout of ``spec``, in the store; the controller applies its first step."""
        plan = self.control.plan(spec.model)
        self.registry.get(spec.model, spec.version)  # a registered version, exactly (404 otherwise)
        state = begin(spec, plan, self.store.get_rollout(spec.model), now=now)
        self.store.save_rollout(state)
        self._decided(None, state)
        return state

    def pause(self, model: str, *, actor: str, reason: str, now: float) -> RolloutState:
        return self._retry(model, lambda state: paused(state, now=now, actor=actor, reason=reason))

    def resume(self, model: str, *, actor: str, reason: str, now: float) -> RolloutState:
        return self._retry(model, lambda state: resumed(state, now=now, actor=actor, reason=reason))

    def abort(self, model: str, *, actor: str, reason: str, now: float) -> RolloutState:
        """End the rollout: its canary or shadow is cleared (stable unchanged) when the plan still has it."""
        return self._end(model, "abort", "aborted", actor=actor, reason=reason, now=now)

    def promote(self, model: str, *, actor: str, reason: str, now: float) -> RolloutState:
        """Make the rollout's version stable now, whatever the gates say (``--force``), and end the rollout."""
        return self._end(model, "promote", "promoted", actor=actor, reason=reason, now=now)

    def _end(self, model: str, action: str, phase: Phase, *, actor: str, reason: str, now: float) -> RolloutState:
        state = self.get(model)
        if not state.active:
            raise RolloutError(f"model {model!r}: its rollout is {state.phase}; there is nothing to {action}")
        plan = self.control.plan(model)
        evidence: dict[str, Any] = {
            "rollout": state.id,
            "action": action,
            "phase_after": phase,
            "step_after": state.step,
            "forced_by": actor,
        }
        revision: int | None = None
        ours = plan.revision == state.last_revision
        if action == "promote" or (ours and (plan.canary is not None or plan.shadow is not None)):
            plan_action: PlanAction = "promote" if action == "promote" else "rollback"
            entry = self.control.rollout_change(
                model,
                plan_action,
                stable=state.spec.version if action == "promote" else None,
                actor=actor,
                reason=f"rollout {action}: {reason}",
                expected_revision=plan.revision,
                evidence=evidence,
                fence=None,
            )
            revision = entry.revision

        def end(current: RolloutState) -> RolloutState:
            if revision is not None and revision in current.revisions:
                return current  # the controller adopted the change already
            return ended(current, phase=phase, action=action, now=now, actor=actor, reason=reason, revision=revision)

        return self._retry(model, end)

    def _retry(self, model: str, change: Callable[[RolloutState], RolloutState]) -> RolloutState:
        for _ in range(_ATTEMPTS):
            state = self.get(model)
            after = change(state)
            if after is state:
                return state
            after = after.model_copy(update={"seq": state.seq + 1})  # one write, however many transitions
            try:
                self.store.save_rollout(after)
            except RolloutConflictError:
                continue
            self._decided(state, after)
            return after
        raise RolloutConflictError(f"model {model!r}: its rollout kept changing; try again")
