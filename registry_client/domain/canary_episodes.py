"""Canary episodes: the plan revisions in which one canary ran against one stable version.

A canary is only comparable with the stable traffic served next to it: rows of other revisions come
from another baseline (the stable version before or after a promotion) or another time (traffic from
before the canary existed), and pooling them skews the comparison. :func:`canary_episodes` reads a
model's audit history (:meth:`Store.history <registry_client.store.Store.history>`, oldest first) and
returns each maximal run of consecutive revisions whose plan has the same canary version over the
same stable version. A weight, stickiness or shadow change continues the episode; clearing the
canary, promoting, rolling back, or naming another canary or another stable version ends it.
Evaluation compares, per episode, the canary version's ``canary``-route rows with the stable
version's ``stable``-route rows of those revisions only (records carry the revision that routed them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from registry_client.domain.plan import AuditEntry

__all__ = ["CanaryEpisode", "canary_episodes"]


@dataclass(frozen=True, slots=True)
class CanaryEpisode:
    """Consecutive plan revisions with ``canary_version`` canaried over ``stable_version``."""

    canary_version: str
    stable_version: str
    revisions: tuple[int, ...]
    since: float  # epoch seconds: when the first revision was saved
    until: float | None  # when the revision that ended the episode was saved; None: still in force


def canary_episodes(history: Sequence[AuditEntry]) -> list[CanaryEpisode]:
    """The canary episodes of one model's audit ``history``, oldest first."""
    episodes: list[CanaryEpisode] = []
    pair: tuple[str, str] | None = None  # (canary, stable) of the episode being read
    revisions: list[int] = []
    since = 0.0
    for entry in sorted(history, key=lambda e: e.revision):
        canary = entry.after.canary
        current = None if canary is None else (canary.version, entry.after.stable)
        if pair is not None and (current != pair or entry.revision != revisions[-1] + 1):
            episodes.append(CanaryEpisode(*pair, tuple(revisions), since, entry.at.timestamp()))
            pair = None
        if current is not None:
            if pair is None:
                pair, revisions, since = current, [], entry.at.timestamp()
            revisions.append(entry.revision)
    if pair is not None:
        episodes.append(CanaryEpisode(*pair, tuple(revisions), since, None))
    return episodes
