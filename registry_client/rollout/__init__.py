"""Progressive delivery: the gates a rollout reads at every tick, and the decision they lead to."""

from __future__ import annotations

__all__: list[str] = []
