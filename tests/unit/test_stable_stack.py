"""Rollback's walk through the stable history, derived from the audit log."""

from __future__ import annotations

from registry_client.control import stable_stack
from registry_client.domain.plan import AuditEntry, Canary, Plan, utcnow


def history(*steps: tuple[str, str, bool]) -> list[AuditEntry]:
    """Build an audit log from (action, stable, with_canary) steps."""
    entries: list[AuditEntry] = []
    before: Plan | None = None
    for revision, (action, stable, with_canary) in enumerate(steps, start=1):
        after = Plan(
            model="m",
            stable=stable,
            revision=revision,
            canary=Canary(version="vc", weight=5) if with_canary else None,
        )
        entries.append(
            AuditEntry(
                model="m",
                revision=revision,
                at=utcnow(),
                actor="t",
                action=action,
                reason="",
                before=before,
                after=after,
            )
        )
        before = after
    return entries


def test_each_promotion_pushes_a_stable_version() -> None:
    """create, promote, promote: the stack is every stable in order."""
    assert stable_stack(history(("create", "v1", False), ("promote", "v2", False), ("promote", "v3", False))) == [
        "v1",
        "v2",
        "v3",
    ]


def test_changes_that_keep_stable_do_not_push() -> None:
    """Canary and shadow changes leave the stack alone."""
    assert stable_stack(history(("create", "v1", False), ("canary", "v1", True), ("clear_canary", "v1", False))) == [
        "v1"
    ]


def test_rollbacks_walk_further_back() -> None:
    """Two rollbacks after v1→v2→v3 go to v2 then v1, never back to v3."""
    steps = [("create", "v1", False), ("promote", "v2", False), ("promote", "v3", False), ("rollback", "v2", False)]
    assert stable_stack(history(*steps)) == ["v1", "v2"]
    assert stable_stack(history(*steps, ("rollback", "v1", False))) == ["v1"]


def test_rollback_to_an_explicit_version_pushes_it() -> None:
    """rollback --to a version that is not the one underneath acts like a promotion of it."""
    steps = [("create", "v1", False), ("promote", "v2", False), ("promote", "v3", False), ("rollback", "v1", False)]
    assert stable_stack(history(*steps)) == ["v1", "v2", "v3", "v1"]
