"""The latency gate: its randomisation test, its grid of looks, and its error rates by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from registry_client.rollout.gates import GateThresholds
from registry_client.rollout.latency import GRID_GROWTH, LatencyRows, grid_start, latency_gate, look_of

ALPHA = 0.05
#: A rollout's traffic: 5 %, then 25 %, then 50 % canary; the gate read every 100 requests.
SCHEDULE = [(0.05, 4000), (0.25, 2000), (0.50, 2000)]
TICK = 100
LIMITS = GateThresholds(max_p99_ratio=1.2, min_latency_samples=200, latency_alpha=ALPHA / len(SCHEDULE))


def bursty(rng: np.random.Generator, n: int) -> np.ndarray:
    """Latencies of a loaded machine: gamma-distributed service times, 2 % stalls of ~60 ms, and a load that
    drifts over time (a slow random walk multiplying every request in flight alike)."""
    base = rng.gamma(2.0, 5.0, n)
    stalls = np.where(rng.random(n) < 0.02, rng.exponential(60.0, n), 0.0)
    load = np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    return (base + stalls) * load


def steady(rng: np.random.Generator, n: int) -> np.ndarray:
    """Latencies without stalls: log-normal service times (sigma 0.5) under the same drifting load."""
    return rng.lognormal(math.log(10), 0.5, n) * np.exp(np.cumsum(rng.normal(0, 0.02, n)))


def _rolled_back_by_gate(rng: np.random.Generator, slower: float) -> bool:
    for weight, requests in SCHEDULE:
        latency = bursty(rng, requests)
        canary = rng.random(requests) < weight
        latency = np.where(canary, latency * slower, latency)
        for end in range(TICK, requests + 1, TICK):
            rows = LatencyRows(latency[:end], canary[:end], weight)
            if latency_gate(rows, LIMITS).verdict == "fail":
                return True
    return False


def _rolled_back_by_p99_ratio(rng: np.random.Generator) -> bool:
    """The gate as it was: the window's canary p99 over stable p99 against 1.2, at every tick."""
    seen_canary: list[np.ndarray] = []
    seen_stable: list[np.ndarray] = []
    for weight, requests in SCHEDULE:
        latency = bursty(rng, requests)
        canary = rng.random(requests) < weight
        for end in range(TICK, requests + 1, TICK):
            c = np.concatenate([*seen_canary, latency[:end][canary[:end]]])
            s = np.concatenate([*seen_stable, latency[:end][~canary[:end]]])
            if c.size >= 200 and s.size >= 200 and np.percentile(c, 99) / np.percentile(s, 99) > 1.2:
                return True
        seen_canary.append(latency[canary])
        seen_stable.append(latency[~canary])
    return False


def test_false_rollbacks_stay_under_alpha_while_the_p99_ratio_exceeds_it() -> None:
    """Canary equal to stable, bursty load, the gate read every 100 requests over 1,000 rollouts: it rolls
    back at most alpha of them; the plain p99 ratio against 1.2, read as often, rolls back far more."""
    runs = 1000
    gate = sum(_rolled_back_by_gate(np.random.default_rng([11, i]), 1.0) for i in range(runs))
    ratio = sum(_rolled_back_by_p99_ratio(np.random.default_rng([11, i])) for i in range(runs))
    print(f"false rollbacks over {runs} rollouts: latency gate {gate / runs:.3f}, p99 ratio {ratio / runs:.3f}")
    assert gate / runs <= ALPHA
    assert ratio / runs > ALPHA


def test_a_canary_twice_as_slow_is_rolled_back_in_at_least_95_percent_of_rollouts() -> None:
    """Every canary request 2x slower than stable's would be, under drifting load, at a 5 % step: the gate
    fails it within 8,000 requests (400 canary) in >= 95 % of 1,000 rollouts."""
    runs, caught, weight, requests = 1000, 0, 0.05, 8000
    for i in range(runs):
        rng = np.random.default_rng([12, i])
        latency = steady(rng, requests)
        canary = rng.random(requests) < weight
        latency = np.where(canary, latency * 2.0, latency)
        caught += any(
            latency_gate(LatencyRows(latency[:end], canary[:end], weight), LIMITS).verdict == "fail"
            for end in range(TICK, requests + 1, TICK)
        )
    print(f"2x slower canary rolled back in {caught / runs:.3f} of {runs} rollouts at a 5% step")
    assert caught / runs >= 0.95


def test_the_test_is_taken_on_the_grid_only() -> None:
    """Between two grid sizes every read gives the same test; the grid starts where the smaller arm expects
    its minimum, and grows by 1.5."""
    start = grid_start(0.05, 200)
    assert start == 4000 and look_of(3999, start) is None and look_of(4000, start) == 0
    assert look_of(5999, start) == 0 and look_of(6000, start) == 1
    for n in (4000, 7000, 123_456):
        j = look_of(n, start)
        assert j is not None and math.ceil(start * GRID_GROWTH**j) <= n < math.ceil(start * GRID_GROWTH ** (j + 1))


def test_the_failure_is_an_exact_binomial_test_of_the_canary_share_of_the_slowest() -> None:
    """The recorded p-value is scipy's one-sided binomial test of canary requests among the pooled slowest
    1 % after scaling the canary by 1/ratio, on the grid's first requests; fail below its look's level."""
    rng = np.random.default_rng(5)
    latency, canary = rng.lognormal(0, 0.5, 2000), rng.random(2000) < 0.25
    latency = np.where(canary, latency * 3, latency)
    result = latency_gate(LatencyRows(latency, canary, 0.25, revision=4), LIMITS)
    assert result.verdict == "fail", result.reason
    n = int(result.detail["tested_requests"] or 0)
    assert n == 1800  # the grid starts at 800 at a 25 % weight: 800, 1,200, 1,800 <= 2,000 < 2,700
    scaled = np.where(canary[:n], latency[:n] / 1.2, latency[:n])
    slowest = np.argsort(-scaled, kind="stable")[: math.ceil(n * 0.01)]
    hits = int(canary[:n][slowest].sum())
    assert result.detail["tail_canary"] == hits
    assert result.detail["p_value"] == pytest.approx(stats.binomtest(hits, slowest.size, 0.25, "greater").pvalue)
    assert result.detail["level"] == pytest.approx(LIMITS.latency_alpha / (3 * 4))


def test_a_canary_over_the_ratio_but_not_proven_waits_and_one_within_passes() -> None:
    """p99 over the ratio without a significant test: inconclusive (never a rollback on noise); within it,
    pass; fewer than the minimum per arm: inconclusive."""
    rng = np.random.default_rng(6)
    latency, canary = rng.gamma(2.0, 5.0, 800), rng.random(800) < 0.5
    within = latency_gate(LatencyRows(latency, canary, 0.5), LIMITS)
    assert within.verdict == "pass" and within.estimate is not None and within.estimate < 1.2
    slower = latency_gate(LatencyRows(np.where(canary, latency * 1.3, latency), canary, 0.5), LIMITS)
    assert slower.verdict == "inconclusive" and "not yet shown" in slower.reason
    few = latency_gate(LatencyRows(latency[:300], canary[:300], 0.5), LIMITS)
    assert few.verdict == "inconclusive" and few.needed is not None and few.needed > 0
