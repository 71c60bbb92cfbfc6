"""A rollout as values: its spec (what a human asked for) and its state (where the controller has got to).

Both are kept in the store, one current rollout per model (:meth:`Store.get_rollout
<registry_client.store.Store.get_rollout>`); a new one may start only once the previous one has ended.
Each write of a state carries ``seq`` = the stored ``seq`` + 1 (1 for the first rollout of a model), so a
human's ``pause`` and the controller's tick never overwrite each other unseen: the loser re-reads.

Phases::

    step ──(all gates pass for step-duration)──▶ step i+1 … ──▶ promoted
      │  ╲──(a gate fails)──▶ rolled_back        (sample ratio broken) ──▶ aborted
      │   ╲─(no verdict at max-step-duration)──▶ paused ──(resume)──▶ step
    shadow (with --shadow-first) ──(paired gate passes)──▶ step 0
    any active phase ──(a manual plan change, abort)──▶ ended / aborted

A step's weight is the canary's share in percent; a step of 100 is the promotion itself (a 100 % canary
randomises nothing, so it would add no comparable evidence).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["ACTIVE_PHASES", "Fence", "Phase", "RolloutDecision", "RolloutSpec", "RolloutState"]

Phase = Literal["shadow", "step", "paused", "promoted", "rolled_back", "aborted", "ended"]
#: Phases the controller still drives (a paused rollout is active: a human resumes or ends it).
ACTIVE_PHASES: frozenset[str] = frozenset({"shadow", "step", "paused"})


class Fence(BaseModel):
    """A held lease: its name, who holds it and its fencing token (grows with every new holder).

    The store refuses a write that carries a fence whose token is no longer the lease's, so a leader that
    stalled past its lease cannot apply a step its successor already applied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    holder: str
    token: int = Field(ge=1)


class RolloutSpec(BaseModel):
    """What ``canaryline rollout start`` asks for; durations in seconds, shares and rates as fractions
    except the step weights (percent, like a canary's weight)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    model: str = Field(min_length=1)
    version: str = Field(min_length=1)
    steps: tuple[float, ...] = (5.0, 25.0, 50.0, 100.0)
    step_duration_s: float = Field(default=600.0, ge=0)
    max_step_duration_s: float = Field(default=3600.0, gt=0)
    shadow_first_s: float = Field(default=0.0, ge=0)
    #: With shadow_first_s: the least share of mirrored rows on which the version must predict what stable
    #: predicts (a gate of the shadow phase); None: agreement is reported, not gated.
    min_agreement: float | None = Field(default=None, ge=0, le=1)
    margin: float = Field(default=0.01, ge=0, lt=1)
    label_delay_s: float = Field(default=3600.0, ge=0)
    min_outcomes: int = Field(default=200, ge=2)
    max_p99_ratio: float = Field(default=1.2, gt=0)
    max_error_rate_increase: float = Field(default=0.005, ge=0, lt=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    on_timeout: Literal["pause", "rollback"] = "pause"
    sticky: bool = True
    reason: str = Field(min_length=1, max_length=500)
    actor: str = "admin"

    @field_validator("steps")
    @classmethod
    def _increasing_weights(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if not steps:
            raise ValueError("a rollout needs at least one step")
        for weight in steps:
            if not 0 < weight <= 100 or round(weight, 2) != weight:
                raise ValueError(f"step weight {weight} must be a percentage in (0, 100] with at most two decimals")
        if any(b <= a for a, b in pairwise(steps)):
            raise ValueError(f"step weights must increase, got {', '.join(f'{s:g}' for s in steps)}")
        if all(weight >= 100 for weight in steps):
            raise ValueError("a rollout needs a step under 100 %: a 100 % step is the promotion")
        return steps

    @model_validator(mode="after")
    def _durations(self) -> RolloutSpec:
        if self.min_agreement is not None and self.shadow_first_s == 0:
            raise ValueError("min_agreement gates the shadow phase: it needs shadow_first_s > 0")
        if self.max_step_duration_s < self.step_duration_s:
            raise ValueError(
                f"max_step_duration_s {self.max_step_duration_s:g} is shorter than step_duration_s "
                f"{self.step_duration_s:g}"
            )
        return self

    @property
    def canary_steps(self) -> tuple[float, ...]:
        """The weights served as a canary; passing the last one promotes the version."""
        return tuple(weight for weight in self.steps if weight < 100)


class RolloutDecision(BaseModel):
    """One decision of a rollout (the controller's or a human's), with the evidence it was taken on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    action: str  # start, shadow, advance, promote, rollback, abort, pause, resume, end
    actor: str
    reason: str
    phase: Phase
    step: int
    #: The plan revision the decision saved, when it changed the plan.
    revision: int | None = None
    evidence: dict[str, Any] | None = None


class RolloutState(BaseModel):
    """A rollout as the store keeps it: its spec, its phase and every decision so far."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    spec: RolloutSpec
    seq: int = Field(ge=1)
    phase: Phase
    step: int = 0  # index into spec.canary_steps
    started_at: float  # epoch seconds
    step_started_at: float
    #: The stable version when the rollout started (what a rollback keeps) and the plan revision it started on.
    stable: str
    base_revision: int
    #: The plan revisions this rollout saved, in order: the window its gates read.
    revisions: tuple[int, ...] = ()
    decisions: tuple[RolloutDecision, ...] = ()
    #: The gates of the latest tick, for ``rollout status``.
    last_gates: tuple[dict[str, Any], ...] = ()
    last_tick_at: float | None = None
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES

    @property
    def resumes_to(self) -> Phase:
        """The phase a paused rollout goes back to (the one it was paused in); the phase itself otherwise."""
        return next((d.phase for d in reversed(self.decisions) if d.phase != "paused"), "step")

    @property
    def weight(self) -> float | None:
        """The canary weight of the current step; None in the shadow phase or once ended."""
        if self.phase not in ("step", "paused") or self.resumes_to == "shadow":
            return None
        return self.spec.canary_steps[self.step]

    @property
    def last_revision(self) -> int:
        return self.revisions[-1] if self.revisions else self.base_revision

    def evolve(self, **changes: Any) -> RolloutState:
        """The next write of this state (``seq`` + 1) with ``changes`` applied."""
        data = self.model_dump()
        data.update(changes)
        data.update(seq=self.seq + 1, updated_at=datetime.now(UTC))
        return RolloutState.model_validate(data)
