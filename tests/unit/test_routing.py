"""Routing decisions: pinning, sticky canary buckets, random canary share, shadow sampling."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_client.domain.plan import Canary, Plan, Shadow
from registry_client.errors import NotFoundError
from service.dataplane.routing import BUCKETS, bucket, choose, shadow_sampled

weights = st.integers(min_value=1, max_value=10_000).map(lambda w: w / 100)


def plan_with(weight: float | None = None, *, sticky: bool = True, shadow: float | None = None) -> Plan:
    return Plan(
        model="iris",
        stable="v1",
        revision=7,
        canary=Canary(version="v2", weight=weight, sticky=sticky) if weight else None,
        shadow=Shadow(version="v3", sample=shadow) if shadow else None,
    )


def never() -> float:
    raise AssertionError("a sticky decision must not draw at random")


def test_without_canary_everything_is_stable() -> None:
    """A plan with only a stable version routes every request there, with its revision."""
    decision = choose(plan_with(), pin=None, key="k", draw=random.random)
    assert (decision.version, decision.route, decision.revision) == ("v1", "stable", 7)


@pytest.mark.parametrize("pin", ["v1", "v2", "v3"])
def test_pin_serves_any_version_in_the_plan(pin: str) -> None:
    """Stable, canary and shadow versions can each be pinned."""
    assert choose(plan_with(10, shadow=5), pin=pin, key=None, draw=never).route == "pinned"


def test_pin_outside_the_plan_lists_what_is_served() -> None:
    """Pinning a version the plan does not serve is a 404 listing the versions served."""
    with pytest.raises(NotFoundError, match="does not serve version 'v9'; versions being served: v1, v2, v3"):
        choose(plan_with(10, shadow=5), pin="v9", key=None, draw=never)


@given(key=st.text(min_size=1, max_size=40), weight=weights)
def test_sticky_keys_get_the_same_version_every_time(key: str, weight: float) -> None:
    """The same key at the same weight always gets the same version, without drawing at random."""
    plan = plan_with(weight)
    first = choose(plan, pin=None, key=key, draw=never)
    assert all(choose(plan, pin=None, key=key, draw=never) == first for _ in range(3))


@given(key=st.text(min_size=1, max_size=40), low=weights, high=weights)
def test_raising_the_weight_never_moves_a_key_back_to_stable(key: str, low: float, high: float) -> None:
    """A key on the canary at a weight stays on the canary at any higher weight."""
    low, high = min(low, high), max(low, high)
    if choose(plan_with(low), pin=None, key=key, draw=never).route == "canary":
        assert choose(plan_with(high), pin=None, key=key, draw=never).route == "canary"


def test_buckets_are_stable_and_spread() -> None:
    """bucket() is deterministic across calls and roughly uniform over 10,000 buckets."""
    assert bucket("iris", "user-42") == bucket("iris", "user-42")
    counts = [0] * 10
    for i in range(20_000):
        counts[bucket("iris", f"user-{i}") * 10 // BUCKETS] += 1
    assert all(1_800 < c < 2_200 for c in counts)


def test_unkeyed_canary_share_follows_the_weight() -> None:
    """Without a key the canary share over many draws is within 4 sigma of the weight."""
    rng = random.Random(1234)
    n, weight = 20_000, 20.0
    hits = sum(choose(plan_with(weight), pin=None, key=None, draw=rng.random).route == "canary" for _ in range(n))
    sigma = (n * 0.2 * 0.8) ** 0.5
    assert abs(hits - n * 0.2) < 4 * sigma


def test_non_sticky_canary_ignores_the_key() -> None:
    """With sticky off, a keyed request is drawn at random like an unkeyed one."""
    plan = plan_with(50, sticky=False)
    assert choose(plan, pin=None, key="k", draw=lambda: 0.0).route == "canary"
    assert choose(plan, pin=None, key="k", draw=lambda: 0.99).route == "stable"


def test_full_weight_sends_every_key_to_canary() -> None:
    """At 100% every key is on the canary."""
    assert all(choose(plan_with(100), pin=None, key=f"k{i}", draw=never).route == "canary" for i in range(500))


def test_shadow_sampling() -> None:
    """Shadow at 100% mirrors every request; at S% those whose draw falls under S; none without shadow."""
    assert shadow_sampled(plan_with(shadow=100), draw=never) == "v3"
    assert shadow_sampled(plan_with(shadow=25), draw=lambda: 0.2) == "v3"
    assert shadow_sampled(plan_with(shadow=25), draw=lambda: 0.3) is None
    assert shadow_sampled(plan_with(), draw=never) is None
