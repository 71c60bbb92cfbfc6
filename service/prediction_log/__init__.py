"""The prediction log: group commit to the store, a local spool while it is down, a breaker that keeps
retries off the acknowledgements."""

from __future__ import annotations

__all__: list[str] = []
