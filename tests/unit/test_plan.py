"""Routing plans: validation of canary and shadow, and building the next revision."""

from __future__ import annotations

import pytest

from registry_client.domain.plan import Canary, Plan, Shadow
from registry_client.errors import PlanError


def test_initial_plan_serves_only_stable() -> None:
    """The first plan of a model is revision 1 with only its stable version."""
    plan = Plan.initial("iris", "v1")
    assert (plan.revision, plan.stable, plan.canary, plan.shadow) == (1, "v1", None, None)
    assert plan.serving_versions() == ("v1",)


def test_evolve_increments_revision_and_records_who_and_why() -> None:
    """Every change is the next revision, with actor and reason."""
    plan = Plan.initial("iris", "v1").evolve(actor="sre", reason="try v2", canary=Canary(version="v2", weight=12.5))
    assert (plan.revision, plan.actor, plan.reason) == (2, "sre", "try v2")
    assert plan.serving_versions() == ("v1", "v2")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"canary": {"version": "v1", "weight": 10}}, "canary version 'v1' is the stable version"),
        ({"shadow": {"version": "v1", "sample": 10}}, "shadow version 'v1' is the stable version"),
        ({"canary": {"version": "v2", "weight": 0}}, "greater than 0"),
        ({"canary": {"version": "v2", "weight": 100.5}}, "less than or equal to 100"),
        ({"canary": {"version": "v2", "weight": 10.125}}, "more than two decimals"),
        ({"shadow": {"version": "v2", "sample": -1}}, "greater than 0"),
    ],
)
def test_invalid_plans_are_refused(changes: dict[str, object], message: str) -> None:
    """Canary and shadow must differ from stable, weights lie in (0, 100] with two decimals."""
    with pytest.raises(PlanError, match=message):
        Plan.initial("iris", "v1").evolve(actor="sre", reason="", **changes)


def test_shadow_and_canary_on_one_version_are_loaded_once() -> None:
    """serving_versions lists each needed version once."""
    plan = Plan(
        model="m",
        stable="v1",
        revision=3,
        canary=Canary(version="v2", weight=5),
        shadow=Shadow(version="v2"),
    )
    assert plan.serving_versions() == ("v1", "v2")
