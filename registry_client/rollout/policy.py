"""What a rollout does at a tick: a pure function of its gates, its step and the time spent in it.

In order of precedence:

1. the sample-ratio gate fails → **abort** (routing does not follow the weights; nothing it measured
   can be trusted): the canary is cleared;
2. any other gate fails → **rollback** at once (canary cleared, stable unchanged);
3. every gate passes and the step has lasted ``step_duration`` → **advance** to the next step, or
   **promote** the version after the last one;
4. the step has lasted ``max_step_duration`` without every gate passing → **pause** for a human (or
   **rollback**, when the spec says ``on_timeout: rollback``);
5. otherwise **wait**.

Inconclusive gates — too few outcomes, labels arriving unevenly, an interval that straddles the
margin — never move a rollout forwards or backwards by themselves: no data is never a reason to
promote or to roll back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from registry_client.rollout.gates import GateResult

__all__ = ["Action", "Decision", "StepClock", "decide"]

Action = Literal["wait", "advance", "promote", "rollback", "abort", "pause"]


@dataclass(frozen=True, slots=True)
class StepClock:
    """Where a rollout stands: its step (from 0) of ``steps``, and how long it has been in it."""

    step: int
    steps: int
    in_step_s: float
    step_duration_s: float
    max_step_duration_s: float
    on_timeout: Literal["pause", "rollback"] = "pause"

    @property
    def last(self) -> bool:
        return self.step + 1 >= self.steps


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    gates: tuple[GateResult, ...]


def decide(gates: Sequence[GateResult], clock: StepClock) -> Decision:
    """The action for this tick (see the module docstring for the order of precedence)."""
    evidence = tuple(gates)
    action, reason = _failure(evidence) or _progress(evidence, clock)
    return Decision(action, reason, evidence)


def _failure(gates: tuple[GateResult, ...]) -> tuple[Action, str] | None:
    failed = [g for g in gates if g.verdict == "fail"]
    broken = [g for g in failed if g.gate == "sample_ratio"]
    if broken:
        return "abort", f"sample_ratio failed: {broken[0].reason}"
    if failed:
        return "rollback", "; ".join(f"{g.gate} failed: {g.reason}" for g in failed)
    return None


def _progress(gates: tuple[GateResult, ...], clock: StepClock) -> tuple[Action, str]:
    waiting = [g for g in gates if g.verdict != "pass"]
    step = f"step {clock.step + 1}"
    if not waiting and clock.in_step_s >= clock.step_duration_s:
        if clock.last:
            return "promote", f"every gate passed on the last step, after {clock.in_step_s:.0f} s"
        return "advance", f"every gate passed after {clock.in_step_s:.0f} s in {step}"
    pending = "; ".join(f"{g.gate}: {g.reason}" for g in waiting)
    if clock.in_step_s >= clock.max_step_duration_s:
        action: Action = "rollback" if clock.on_timeout == "rollback" else "pause"
        return action, f"no verdict after {clock.in_step_s:.0f} s in {step} ({pending})"
    return "wait", pending or f"every gate passes; {step} lasts {clock.step_duration_s:.0f} s"
