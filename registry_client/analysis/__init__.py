"""Analysis of the prediction log: the joined view (rows with their outcomes), per-version evaluation,
its statistics and confidence sequences, and export for analysts."""

from __future__ import annotations

__all__: list[str] = []
