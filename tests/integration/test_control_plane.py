"""Control-plane operations against both stores: validation, conflicts, rollback and the audit trail."""

from __future__ import annotations

import pytest

from registry_client.control import ControlPlane
from registry_client.errors import ModelNotFoundError, PlanConflictError, PlanError
from registry_client.registry.registry import Registry
from registry_client.store import Store


@pytest.fixture
def control(store: Store, model_name: str, iris_models) -> ControlPlane:
    """Three registered versions of one model; v1 is stable."""
    registry = Registry(store)
    for key in ("logreg", "logreg_c01", "tree"):
        registry.register(model_name, iris_models[key])
    return ControlPlane(registry)


def test_canary_then_promote_then_rollback(control: ControlPlane, model_name: str) -> None:
    """A release: canary v2, promote it (the canary ends), roll back to v1; every step is audited."""
    control.set_canary(model_name, "v2", weight=20, sticky=True, actor="alice", reason="try", expected_revision=1)
    control.promote(model_name, "v2", actor="alice", reason="good", expected_revision=2)
    assert control.plan(model_name).canary is None
    entry = control.rollback(model_name, actor="bob", reason="regression", expected_revision=None)
    assert entry.after is not None and entry.before is not None
    assert (entry.after.stable, entry.after.revision, entry.before.stable) == ("v1", 4, "v2")
    actions = [(e.revision, e.action, e.actor, e.reason) for e in control.history(model_name)]
    assert actions == [
        (1, "create", "registry", "first version"),
        (2, "canary", "alice", "try"),
        (3, "promote", "alice", "good"),
        (4, "rollback", "bob", "regression"),
    ]


def test_rolling_back_twice_walks_further_back(control: ControlPlane, model_name: str) -> None:
    """v1→v2→v3, then two rollbacks: v2, then v1; a third has nowhere to go."""
    control.promote(model_name, "v2", actor="a", reason="r", expected_revision=None)
    control.promote(model_name, "v3", actor="a", reason="r", expected_revision=None)
    assert control.rollback(model_name, actor="a", reason="r", expected_revision=None).after.stable == "v2"
    assert control.rollback(model_name, actor="a", reason="r", expected_revision=None).after.stable == "v1"
    with pytest.raises(PlanError, match="no earlier stable version to roll back to"):
        control.rollback(model_name, actor="a", reason="r", expected_revision=None)


def test_rollback_clears_the_canary_and_can_name_a_target(control: ControlPlane, model_name: str) -> None:
    """rollback --to makes any registered version stable and always clears the canary and the shadow."""
    control.set_canary(model_name, "v2", weight=50, sticky=False, actor="a", reason="r", expected_revision=None)
    control.set_shadow(model_name, "v2", sample=10, actor="a", reason="r", expected_revision=None)
    plan = control.rollback(model_name, to="v3", actor="a", reason="r", expected_revision=None).after
    assert (plan.stable, plan.canary, plan.shadow) == ("v3", None, None)


def test_rolling_back_a_first_canary_clears_it_and_keeps_stable(control: ControlPlane, model_name: str) -> None:
    """A 20% canary with no earlier stable: rollback clears it, stable stays, recorded as a rollback."""
    control.set_canary(model_name, "v2", weight=20, sticky=True, actor="alice", reason="rf", expected_revision=1)
    entry = control.rollback(model_name, actor="alice", reason="v2 regressed", expected_revision=2)
    assert (entry.after.stable, entry.after.canary, entry.after.revision, entry.action) == ("v1", None, 3, "rollback")
    assert [e.action for e in control.history(model_name)] == ["create", "canary", "rollback"]


def test_rollback_clears_canary_and_shadow_before_walking_back_stable(control: ControlPlane, model_name: str) -> None:
    """With a canary or shadow in the plan, rollback returns to stable-only first; only then walks back stable."""
    control.promote(model_name, "v2", actor="a", reason="r", expected_revision=None)
    control.set_canary(model_name, "v3", weight=10, sticky=True, actor="a", reason="r", expected_revision=None)
    control.set_shadow(model_name, "v1", sample=50, actor="a", reason="r", expected_revision=None)
    first = control.rollback(model_name, actor="a", reason="r", expected_revision=None).after
    assert (first.stable, first.canary, first.shadow) == ("v2", None, None)
    control.set_shadow(model_name, "v3", sample=50, actor="a", reason="r", expected_revision=None)
    shadow_only = control.rollback(model_name, actor="a", reason="r", expected_revision=None).after
    assert (shadow_only.stable, shadow_only.shadow) == ("v2", None)
    walked = control.rollback(model_name, actor="a", reason="r", expected_revision=None).after
    assert (walked.stable, walked.canary, walked.shadow) == ("v1", None, None)


def test_stale_expected_revision_is_a_conflict(control: ControlPlane, model_name: str) -> None:
    """Two SREs: the second, still expecting revision 1, gets 409 and the plan keeps the first change."""
    control.set_canary(model_name, "v2", weight=10, sticky=True, actor="a", reason="r", expected_revision=1)
    with pytest.raises(PlanConflictError, match="expected revision 1 but the plan is at revision 2") as info:
        control.promote(model_name, "v3", actor="b", reason="r", expected_revision=1)
    assert info.value.status == 409
    assert control.plan(model_name).stable == "v1"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda c, m: c.promote(m, "v9", actor="a", reason="r", expected_revision=None),
            ModelNotFoundError,
            "has no version 'v9'",
        ),
        (lambda c, m: c.promote(m, "v1", actor="a", reason="r", expected_revision=None), PlanError, "already stable"),
        (
            lambda c, m: c.set_canary(m, "v2", weight=0, sticky=True, actor="a", reason="r", expected_revision=None),
            PlanError,
            "weight",
        ),
        (
            lambda c, m: c.set_canary(
                m, "v2", weight=100.01, sticky=True, actor="a", reason="r", expected_revision=None
            ),
            PlanError,
            "less than or equal to 100",
        ),
        (
            lambda c, m: c.set_canary(
                m, "v2", weight=1.234, sticky=True, actor="a", reason="r", expected_revision=None
            ),
            PlanError,
            "more than two decimals",
        ),
        (
            lambda c, m: c.set_canary(m, "v1", weight=5, sticky=True, actor="a", reason="r", expected_revision=None),
            PlanError,
            "is the stable version",
        ),
        (
            lambda c, m: c.set_shadow(m, "v2", sample=0, actor="a", reason="r", expected_revision=None),
            PlanError,
            "sample",
        ),
        (
            lambda c, m: c.clear_canary(m, actor="a", reason="r", expected_revision=None),
            PlanError,
            "no canary to clear",
        ),
        (
            lambda c, m: c.clear_shadow(m, actor="a", reason="r", expected_revision=None),
            PlanError,
            "no shadow to clear",
        ),
        (
            lambda c, m: c.rollback(m, to="nope", actor="a", reason="r", expected_revision=None),
            ModelNotFoundError,
            "has no version 'nope'",
        ),
    ],
)
def test_invalid_changes_are_refused_and_change_nothing(
    control: ControlPlane, model_name: str, call, error, message
) -> None:
    """Unknown versions, bad weights and impossible changes are refused; the plan stays at revision 1."""
    with pytest.raises(error, match=message):
        call(control, model_name)
    assert control.plan(model_name).revision == 1


def test_promoting_the_shadow_version_ends_the_shadow(control: ControlPlane, model_name: str) -> None:
    """A version cannot be stable and shadow at once: promoting the shadow clears it."""
    control.set_shadow(model_name, "v3", sample=100, actor="a", reason="r", expected_revision=None)
    plan = control.promote(model_name, "v3", actor="a", reason="r", expected_revision=None).after
    assert (plan.stable, plan.shadow) == ("v3", None)


def test_unknown_models_have_no_plan(control: ControlPlane) -> None:
    """Reading the plan or history of an unregistered model is a 404."""
    with pytest.raises(ModelNotFoundError, match="has no routing plan"):
        control.history("never-registered")
