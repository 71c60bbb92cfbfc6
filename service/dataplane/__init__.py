"""The data plane: route, predict, stamp and log one request; plans in force, shadows and outcomes.
Knows nothing of HTTP or BentoML."""

from __future__ import annotations

__all__: list[str] = []
