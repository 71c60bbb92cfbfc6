"""Tests of canary episodes: the runs of plan revisions in which one canary ran over one stable version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from registry_client.domain.canary_episodes import CanaryEpisode, canary_episodes
from registry_client.domain.plan import AuditEntry, Canary, Plan, PlanAction, Shadow

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def history(*changes: tuple[PlanAction, dict[str, Any]]) -> list[AuditEntry]:
    """Revision 1 creates stable v1; each change makes the next revision, one minute after the last."""
    plan = Plan.initial("iris", "v1").model_copy(update={"updated_at": T0})
    entries = [AuditEntry.of(plan, before=None, action="create")]
    for minute, (action, fields) in enumerate(changes, start=1):
        after = plan.evolve(actor="t", reason=action, **fields).model_copy(
            update={"updated_at": T0 + timedelta(minutes=minute)}
        )
        entries.append(AuditEntry.of(after, before=plan, action=action))
        plan = after
    return entries


def at(minute: int) -> float:
    return (T0 + timedelta(minutes=minute)).timestamp()


def test_no_canary_no_episode() -> None:
    """A history without a canary has no episode."""
    assert canary_episodes(history(("promote", {"stable": "v2"}))) == []
    assert canary_episodes([]) == []


def test_weight_and_shadow_changes_continue_an_episode_and_a_clear_ends_it() -> None:
    """Raising the weight or adding a shadow keeps the episode; clearing the canary ends it at that time."""
    entries = history(
        ("canary", {"canary": Canary(version="v2", weight=10)}),
        ("canary", {"canary": Canary(version="v2", weight=50, sticky=False)}),
        ("shadow", {"shadow": Shadow(version="v3")}),
        ("clear_canary", {"canary": None}),
    )
    assert canary_episodes(entries) == [CanaryEpisode("v2", "v1", (2, 3, 4), at(1), at(4))]


def test_promote_rollback_and_another_canary_make_separate_episodes() -> None:
    """Canary v2, promote v2, roll back, canary v3: two episodes, the last still in force."""
    entries = history(
        ("canary", {"canary": Canary(version="v2", weight=20)}),
        ("promote", {"stable": "v2", "canary": None}),
        ("rollback", {"stable": "v1"}),
        ("canary", {"canary": Canary(version="v3", weight=20)}),
    )
    assert canary_episodes(entries) == [
        CanaryEpisode("v2", "v1", (2,), at(1), at(2)),
        CanaryEpisode("v3", "v1", (5,), at(4), None),
    ]


def test_a_new_stable_under_the_same_canary_starts_a_new_episode() -> None:
    """Promoting another version while the canary runs changes the baseline, so the comparison splits."""
    entries = history(
        ("canary", {"canary": Canary(version="v3", weight=20)}),
        ("promote", {"stable": "v2"}),
    )
    assert canary_episodes(entries) == [
        CanaryEpisode("v3", "v1", (2,), at(1), at(2)),
        CanaryEpisode("v3", "v2", (3,), at(2), None),
    ]


def test_replacing_the_canary_version_starts_a_new_episode() -> None:
    """Canary v2 replaced directly by canary v3 gives one episode each, back to back."""
    entries = history(
        ("canary", {"canary": Canary(version="v2", weight=20)}),
        ("canary", {"canary": Canary(version="v3", weight=20)}),
    )
    assert [(e.canary_version, e.revisions, e.until) for e in canary_episodes(entries)] == [
        ("v2", (2,), at(2)),
        ("v3", (3,), None),
    ]


def test_history_order_does_not_matter() -> None:
    """Entries are read by revision, whatever order they come in."""
    entries = history(
        ("canary", {"canary": Canary(version="v2", weight=20)}),
        ("clear_canary", {"canary": None}),
    )
    assert canary_episodes(entries[::-1]) == canary_episodes(entries)
