"""The domain model: routing plans and their audit, prediction and outcome records, version names,
identifiers, points in time, and canary episodes read from a plan's history. Values and pure rules; no I/O."""

from __future__ import annotations

__all__: list[str] = []
