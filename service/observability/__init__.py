"""What the gateway tells about itself: Prometheus metrics, JSON log lines, trace spans."""

from __future__ import annotations

__all__: list[str] = []
