"""The rollout's confidence sequence: its closed form, its plug-ins, and its error rates by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from registry_client.analysis.sequential import (
    aipw_pseudo_outcomes,
    cumulative_bounds,
    difference_sequence,
    margin,
    outcomes_needed,
    rho_squared,
)
from registry_client.analysis.statistics import two_proportions

ALPHA = 0.05
T_OPT = 200  # the rollout's default --min-outcomes
# A rollout's traffic: 5 %, then 25 %, then 50 % canary, a gate reading every 100 labelled requests.
SCHEDULE = [(0.05, 4000), (0.25, 2000), (0.50, 2000)]
TICK = 100


def test_margin_is_howards_two_sided_normal_mixture_boundary() -> None:
    """With unit variance the margin is Howard et al.'s eq. 14 divided by t (their rho = 1 / rho²)."""
    t = np.array([2.0, 10.0, 200.0, 10_000.0])
    rho2 = 0.037
    rho_h = 1 / rho2
    howard = np.sqrt((t + rho_h) * np.log((t + rho_h) / (ALPHA**2 * rho_h))) / t
    assert np.allclose(margin(t, 1.0, alpha=ALPHA, rho2=rho2), howard, rtol=1e-12)
    assert np.allclose(margin(t, 4.0, alpha=ALPHA, rho2=rho2), 2 * howard, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_rho_squared_makes_the_margin_narrowest_at_t_opt(alpha: float) -> None:
    """The closed form (Lambert W) equals a numerical minimisation of the margin at t_opt."""
    found = minimize_scalar(
        lambda log_rho2: float(margin(T_OPT, 1.0, alpha=alpha, rho2=math.exp(log_rho2))),
        bounds=(-20, 5),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert rho_squared(T_OPT, alpha) == pytest.approx(math.exp(found.x), rel=1e-4)


def test_pseudo_outcomes_average_to_the_difference_whatever_the_weights() -> None:
    """ψ is unbiased for canary − stable with weights changing mid-sequence (Monte Carlo, fixed seed)."""
    rng = np.random.default_rng(3)
    p = np.concatenate([np.full(3000, 0.05), np.full(3000, 0.3), np.full(3000, 0.6)])
    estimates = []
    for _ in range(300):
        canary = rng.random(p.size) < p
        quality = np.where(canary, rng.random(p.size) < 0.80, rng.random(p.size) < 0.86).astype(float)
        estimates.append(aipw_pseudo_outcomes(quality, canary, p).mean())
    mean, se = float(np.mean(estimates)), float(np.std(estimates, ddof=1) / math.sqrt(len(estimates)))
    assert abs(mean - (0.80 - 0.86)) < 4 * se


def test_a_step_at_zero_or_full_weight_is_refused() -> None:
    """Propensities of 0 or 1 randomise nothing, so the weights are refused rather than divided by."""
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        aipw_pseudo_outcomes(np.ones(3), np.array([True, True, False]), np.array([0.5, 1.0, 0.5]))


def _simulate(rng: np.random.Generator, canary_rate: float, stable_rate: float) -> tuple[np.ndarray, ...]:
    p = np.concatenate([np.full(n, w) for w, n in SCHEDULE])
    canary = rng.random(p.size) < p
    quality = np.where(canary, rng.random(p.size) < canary_rate, rng.random(p.size) < stable_rate).astype(float)
    return quality, canary, p


def _rolled_back_sequential(quality, canary, p, *, margin_: float) -> bool:
    """The gate's fail verdict at any tick: enough outcomes per arm and an upper bound below −margin."""
    _, _, high = cumulative_bounds(aipw_pseudo_outcomes(quality, canary, p), alpha=ALPHA, t_opt=T_OPT)
    ticks = np.arange(TICK - 1, p.size, TICK)
    n_canary = np.cumsum(canary)[ticks]
    enough = (n_canary >= T_OPT) & ((ticks + 1 - n_canary) >= T_OPT)
    return bool(np.any(enough & (high[ticks] < -margin_)))


def _rolled_back_fixed_sample(quality, canary, *, margin_: float) -> bool:
    """Today's eval interval (Newcombe, 95 %) read at every tick with the same decision rule."""
    for end in range(TICK, quality.size + 1, TICK):
        a, y = canary[:end], quality[:end]
        n1, n0 = int(a.sum()), int((~a).sum())
        if n1 < T_OPT or n0 < T_OPT:
            continue
        difference, _ = two_proportions(int(y[a].sum()), n1, int(y[~a].sum()), n0)
        if difference.high is not None and difference.high < -margin_:
            return True
    return False


def test_false_rollbacks_stay_under_alpha_while_the_fixed_sample_test_exceeds_it() -> None:
    """Canary equal to stable, gates read every tick over 1,000 rollouts: the sequence rolls back at most
    alpha of them; the fixed-sample interval, read as often, rolls back more than alpha."""
    rng = np.random.default_rng(20261201)
    sequential = fixed = 0
    runs = 1000
    for _ in range(runs):
        quality, canary, p = _simulate(rng, 0.9, 0.9)
        sequential += _rolled_back_sequential(quality, canary, p, margin_=0.0)
        fixed += _rolled_back_fixed_sample(quality, canary, margin_=0.0)
    print(f"false rollbacks over {runs} rollouts: sequence {sequential / runs:.3f}, fixed-sample {fixed / runs:.3f}")
    assert sequential / runs <= ALPHA
    assert fixed / runs > ALPHA


@pytest.mark.parametrize(("weight", "requests"), [(0.05, 60_000), (0.25, 12_000)])
def test_a_canary_five_points_worse_is_rolled_back_in_at_least_95_percent_of_rollouts(
    weight: float, requests: int
) -> None:
    """Stable at 90 %, canary at 85 %, margin one point, held at one step (a worse canary never passes its
    quality gate, so it never leaves its step): with enough labelled traffic the gate fails it in ≥ 95 % of
    1,000 rollouts."""
    rng = np.random.default_rng(7)
    runs = 1000
    p = np.full(requests, weight)
    caught = 0
    for _ in range(runs):
        canary = rng.random(requests) < p
        quality = np.where(canary, rng.random(requests) < 0.85, rng.random(requests) < 0.90).astype(float)
        caught += _rolled_back_sequential(quality, canary, p, margin_=0.01)
    print(f"worse canary at {weight:.0%} rolled back in {caught / runs:.3f} of {runs} rollouts")
    assert caught / runs >= 0.95


def test_difference_sequence_reports_counts_and_bounds() -> None:
    """The summary names both arms' counts and has bounds around its estimate once there are two values."""
    quality = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    canary = np.array([True, False, False, True, False, False])
    sequence = difference_sequence(quality, canary, np.full(6, 0.5), alpha=ALPHA, t_opt=T_OPT)
    assert (sequence.n, sequence.n_canary, sequence.n_stable) == (6, 2, 4)
    assert sequence.low is not None and sequence.high is not None and sequence.estimate is not None
    assert sequence.low < sequence.estimate < sequence.high
    empty = difference_sequence(np.array([]), np.array([], dtype=bool), np.array([]), alpha=ALPHA, t_opt=T_OPT)
    assert (empty.estimate, empty.low, empty.n) == (None, None, 0)


def test_outcomes_needed_shrinks_the_margin_below_the_distance() -> None:
    """The suggested count is the smallest that brings the half-width under the distance to the threshold."""
    sequence = difference_sequence(np.ones(10), np.arange(10) % 2 == 0, np.full(10, 0.5), alpha=ALPHA, t_opt=T_OPT)
    more = outcomes_needed(sequence, 0.5, distance=0.02)
    assert more is not None and more > 0
    rho2 = rho_squared(T_OPT, ALPHA)
    total = sequence.n + more
    assert (
        float(margin(total, 0.5, alpha=ALPHA, rho2=rho2))
        < 0.02
        <= float(margin(total - 1, 0.5, alpha=ALPHA, rho2=rho2))
    )
    assert outcomes_needed(sequence, 0.5, distance=0.0) is None
