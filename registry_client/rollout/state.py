"""A rollout's transitions: pure functions from one state (and a decision) to the next.

Nothing here reads the store or the clock: the controller and the admin API pass ``now`` and the plan, and
write what these return (each with ``seq`` + 1). Every transition appends a
:class:`~registry_client.domain.rollout.RolloutDecision`, so the state carries its own history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from registry_client.domain.identifiers import new_id
from registry_client.domain.plan import Plan
from registry_client.domain.rollout import Phase, RolloutDecision, RolloutSpec, RolloutState
from registry_client.errors import RolloutConflictError, RolloutError

__all__ = ["begin", "ended", "moved", "paused", "record", "resumed", "snapshot"]


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def record(
    state: RolloutState,
    *,
    action: str,
    actor: str,
    reason: str,
    now: float,
    revision: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> RolloutDecision:
    """The decision ``action`` taken on ``state`` (its phase and step are the state's, after the action)."""
    return RolloutDecision(
        at=_at(now),
        action=action,
        actor=actor,
        reason=reason,
        phase=state.phase,
        step=state.step,
        revision=revision,
        evidence=evidence,
    )


def begin(spec: RolloutSpec, plan: Plan, previous: RolloutState | None, *, now: float) -> RolloutState:
    """A new rollout of ``spec`` over ``plan``; RolloutConflictError while the model's last one is active."""
    if previous is not None and previous.active:
        raise RolloutConflictError(
            f"model {spec.model!r} already has a rollout of {previous.spec.version!r} ({previous.phase}): "
            "abort it first (canaryline rollout abort)"
        )
    if spec.version == plan.stable:
        raise RolloutError(f"model {spec.model!r}: version {spec.version!r} is already stable")
    state = RolloutState(
        id=new_id(),
        spec=spec,
        seq=previous.seq + 1 if previous else 1,
        phase="shadow" if spec.shadow_first_s > 0 else "step",
        started_at=now,
        step_started_at=now,
        stable=plan.stable,
        base_revision=plan.revision,
    )
    start = record(state, action="start", actor=spec.actor, reason=spec.reason, now=now)
    return state.model_copy(update={"decisions": (start,)})


def moved(
    state: RolloutState,
    *,
    action: str,
    phase: Phase,
    step: int,
    revision: int | None,
    now: float,
    actor: str,
    reason: str,
    evidence: dict[str, Any] | None = None,
) -> RolloutState:
    """The state after a decision: its phase and step, the plan revision it saved (if any), and the decision."""
    revisions = state.revisions + ((revision,) if revision is not None else ())
    restarts = step != state.step or phase != state.phase or revision is not None
    after = state.evolve(
        phase=phase,
        step=step,
        revisions=revisions,
        step_started_at=now if restarts else state.step_started_at,
    )
    decision = record(after, action=action, actor=actor, reason=reason, now=now, revision=revision, evidence=evidence)
    return after.model_copy(update={"decisions": (*after.decisions, decision)})


def snapshot(state: RolloutState, gates: tuple[dict[str, Any], ...], *, now: float) -> RolloutState:
    """The state with the gates of this tick, for ``rollout status`` (no decision)."""
    return state.evolve(last_gates=gates, last_tick_at=now)


def _active(state: RolloutState, command: str) -> None:
    if not state.active:
        raise RolloutError(f"model {state.spec.model!r}: its rollout is {state.phase}; there is nothing to {command}")


def paused(state: RolloutState, *, now: float, actor: str, reason: str) -> RolloutState:
    """A human's pause: the canary keeps its weight, the controller stops deciding."""
    _active(state, "pause")
    if state.phase == "paused":
        raise RolloutError(f"model {state.spec.model!r}: its rollout is paused already")
    return moved(
        state, action="pause", phase="paused", step=state.step, revision=None, now=now, actor=actor, reason=reason
    )


def resumed(state: RolloutState, *, now: float, actor: str, reason: str) -> RolloutState:
    """Back to deciding, with the step's clock restarted (it gets its full durations again)."""
    if state.phase != "paused":
        raise RolloutError(f"model {state.spec.model!r}: its rollout is {state.phase}, not paused")
    phase = state.resumes_to
    after = moved(
        state, action="resume", phase=phase, step=state.step, revision=None, now=now, actor=actor, reason=reason
    )
    return after.model_copy(update={"step_started_at": now})


def ended(
    state: RolloutState,
    *,
    phase: Phase,
    action: str,
    now: float,
    actor: str,
    reason: str,
    revision: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> RolloutState:
    """The rollout ends (promoted, rolled back, aborted, or ended by a manual plan change)."""
    _active(state, action)
    return moved(
        state,
        action=action,
        phase=phase,
        step=state.step,
        revision=revision,
        now=now,
        actor=actor,
        reason=reason,
        evidence=evidence,
    )
