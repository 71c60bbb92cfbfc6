"""A rollout's gates and its decision at a tick: pure functions of the evidence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from registry_client.rollout.gates import (
    Coverage,
    GateResult,
    GateThresholds,
    QualityRows,
    RevisionTraffic,
    coverage_of,
    error_gate,
    quality_gate,
    sample_ratio_gate,
)
from registry_client.rollout.latency import LatencyRows, latency_gate
from registry_client.rollout.policy import StepClock, decide

LIMITS = GateThresholds(margin=0.01, min_outcomes=200, min_latency_samples=200)
FULL = Coverage(1000, 900, 1000, 900)


def rows(n: int, canary_rate: float, stable_rate: float, weight: float = 0.5, seed: int = 0) -> QualityRows:
    rng = np.random.default_rng(seed)
    canary = rng.random(n) < weight
    quality = np.where(canary, rng.random(n) < canary_rate, rng.random(n) < stable_rate).astype(float)
    return QualityRows(quality, canary, np.full(n, weight))


def test_quality_is_inconclusive_until_each_arm_has_its_minimum() -> None:
    """Fewer than min_outcomes labelled rows on an arm: inconclusive, saying how many more are needed."""
    result = quality_gate(rows(300, 0.9, 0.9, weight=0.2), FULL, LIMITS, task="classification")
    assert result.verdict == "inconclusive" and "per arm needed" in result.reason
    assert result.needed is not None and result.needed > 0
    assert result.estimate is None


def test_quality_passes_an_equal_canary_and_fails_a_worse_one() -> None:
    """With enough rows, an equal canary's lower bound clears −margin; a 10-point-worse one's upper bound
    falls below it."""
    equal = quality_gate(rows(40_000, 0.95, 0.95), FULL, LIMITS, task="classification")
    assert equal.verdict == "pass", equal.reason
    assert equal.low is not None and equal.low > -0.01
    worse = quality_gate(rows(4_000, 0.80, 0.90), FULL, LIMITS, task="classification")
    assert worse.verdict == "fail", worse.reason
    assert worse.high is not None and worse.high < -0.01
    assert worse.method.startswith("asymptotic confidence sequence")


def test_quality_straddling_the_margin_says_how_many_more_outcomes_it_needs() -> None:
    """An interval across −margin is inconclusive with a positive estimate of the outcomes still needed."""
    result = quality_gate(rows(1_000, 0.9, 0.9), FULL, LIMITS, task="classification")
    assert result.verdict == "inconclusive" and "straddles" in result.reason
    assert result.needed is not None and result.needed > 0


def test_uneven_labels_make_quality_inconclusive_even_when_it_would_pass() -> None:
    """Coverage 90 % on stable and 60 % on the canary: never a pass, whatever the interval says."""
    uneven = Coverage(1000, 600, 1000, 900)
    result = quality_gate(rows(40_000, 0.95, 0.95), uneven, LIMITS, task="classification")
    assert result.verdict == "inconclusive"
    assert result.reason.startswith("labels arrive unevenly")
    assert result.low is not None  # the interval is still reported as evidence


def test_coverage_counts_matured_and_labelled_requests_per_arm() -> None:
    """Coverage is the share of matured requests that have an outcome, per arm."""
    coverage = coverage_of([(True, True), (True, False), (False, True), (False, True)])
    assert (coverage.canary_share, coverage.stable_share) == (0.5, 1.0)


def test_latency_passes_within_the_ratio_and_fails_a_much_slower_canary() -> None:
    """An equal canary passes on its p99 ratio, one at 3x fails the tail test, too few requests wait."""
    rng = np.random.default_rng(1)
    stable = rng.gamma(2.0, 1.0, 4000)
    canary = rng.random(4000) < 0.5
    assert latency_gate(LatencyRows(stable, canary, 0.5), LIMITS).verdict == "pass"
    slow = latency_gate(LatencyRows(np.where(canary, stable * 3, stable), canary, 0.5), LIMITS)
    assert slow.verdict == "fail" and slow.estimate == pytest.approx(3, rel=0.2)
    assert latency_gate(LatencyRows(stable[:300], canary[:300], 0.5), LIMITS).verdict == "inconclusive"


def test_errors_pass_when_neither_arm_fails_and_fail_a_canary_that_does() -> None:
    """No failures on either arm passes; a canary failing 20 % of requests fails; little traffic waits."""
    clean = [RevisionTraffic(2, 0.25, canary_answered=500, stable_answered=1500)]
    assert error_gate(clean, LIMITS).verdict == "pass"
    failing = [RevisionTraffic(2, 0.25, canary_answered=400, canary_failed=100, stable_answered=1500)]
    result = error_gate(failing, LIMITS)
    assert result.verdict == "fail" and result.detail["canary_error_rate"] == pytest.approx(0.2)
    little = [RevisionTraffic(2, 0.05, canary_answered=20, stable_answered=380)]
    assert error_gate(little, LIMITS).verdict == "inconclusive"


def test_errors_give_the_same_verdict_for_the_same_counts() -> None:
    """The error gate is a function of the counts: recomputing it gives the same numbers."""
    traffic = [RevisionTraffic(2, 0.25, canary_answered=495, canary_failed=5, stable_answered=1495, stable_failed=5)]
    assert error_gate(traffic, LIMITS) == error_gate(traffic, LIMITS)


def test_sample_ratio_passes_traffic_that_follows_the_weights() -> None:
    """A 25 % canary that got 24.6 % of unkeyed requests and 26 % of key buckets is no mismatch."""
    traffic = [
        RevisionTraffic(2, 0.25, canary_requests_unkeyed=246, stable_requests_unkeyed=754),
        RevisionTraffic(3, 0.5, canary_key_buckets=52, stable_key_buckets=48),
    ]
    result = sample_ratio_gate(traffic, LIMITS)
    assert result.verdict == "pass" and result.detail["strata"] == 2


def test_sample_ratio_fails_when_routing_ignores_the_weight() -> None:
    """A 25 % canary that got 10 % of 5,000 requests is a mismatch: routing is broken."""
    traffic = [RevisionTraffic(2, 0.25, canary_requests_unkeyed=500, stable_requests_unkeyed=4500)]
    result = sample_ratio_gate(traffic, LIMITS)
    assert result.verdict == "fail" and "sample ratio mismatch" in result.reason


def test_sample_ratio_counts_sticky_keys_not_their_requests() -> None:
    """Heavy keys on one arm do not look like a mismatch: the hash assigns keys, so keys are counted."""
    keyed = [RevisionTraffic(2, 0.2, canary_key_buckets=41, stable_key_buckets=159)]
    assert sample_ratio_gate(keyed, LIMITS).verdict == "pass"
    assert sample_ratio_gate([], LIMITS).verdict == "inconclusive"


def test_sample_ratio_does_not_abort_on_a_few_requests_a_chi_square_would() -> None:
    """5 canary requests of 20 at a 5 % weight: chi-square's p is under 0.0001 (its tail is wrong at an
    expected count of 1), the exact binomial's is 0.003; the mixture test does not call it broken."""
    traffic = [RevisionTraffic(2, 0.05, canary_requests_unkeyed=5, stable_requests_unkeyed=15)]
    assert stats.chisquare([5, 15], [1, 19]).pvalue < 0.0001
    assert stats.binomtest(5, 20, 0.05).pvalue > 0.001
    assert sample_ratio_gate(traffic, LIMITS).verdict == "pass"


def _srm_rates(rng: np.random.Generator, runs: int, level: float) -> tuple[float, float]:
    """Routing that follows the weights (5 %, then 25 %), both gates read every 100 requests: the share of
    rollouts each ever calls a mismatch at ``level``."""
    limits = GateThresholds(srm_alpha=level)
    mixture = chi_square = 0
    for _ in range(runs):
        flagged_mixture = flagged_chi = False
        counts: list[tuple[float, int, int]] = []
        for weight, requests in ((0.05, 2000), (0.25, 1000)):
            canary = np.cumsum(rng.random(requests) < weight)
            for end in range(100, requests + 1, 100):
                now = [*counts, (weight, int(canary[end - 1]), end)]
                traffic = [RevisionTraffic(i, w, canary_requests_unkeyed=c, stable_requests_unkeyed=n - c)
                           for i, (w, c, n) in enumerate(now)]  # fmt: skip
                flagged_mixture |= sample_ratio_gate(traffic, limits).verdict == "fail"
                statistic = sum((c - n * w) ** 2 / (n * w * (1 - w)) for w, c, n in now)
                flagged_chi |= bool(stats.chi2.sf(statistic, len(now)) < level)
            counts.append((weight, int(canary[-1]), requests))
        mixture += flagged_mixture
        chi_square += flagged_chi
    return mixture / runs, chi_square / runs


def test_sample_ratio_read_at_every_tick_keeps_its_level() -> None:
    """At a level of 5 % (to be measurable; rollouts use 0.01 %), over 1,000 rollouts with correct routing:
    the mixture test, read every 100 requests, flags at most 5 %; Pearson's chi-square read as often, more."""
    mixture, chi_square = _srm_rates(np.random.default_rng(99), 1000, 0.05)
    print(f"false sample-ratio aborts over 1000 rollouts: mixture {mixture:.3f}, chi-square {chi_square:.3f}")
    assert mixture <= 0.05 < chi_square


def _gate(name: str, verdict: str) -> GateResult:
    return GateResult(gate=name, verdict=verdict, reason=f"{name} {verdict}")  # type: ignore[arg-type]


CLOCK = StepClock(step=0, steps=4, in_step_s=700, step_duration_s=600, max_step_duration_s=3600)


@pytest.mark.parametrize(
    ("verdicts", "clock", "action"),
    [
        ({"quality": "pass", "sample_ratio": "fail"}, CLOCK, "abort"),
        ({"quality": "fail", "sample_ratio": "pass"}, CLOCK, "rollback"),
        ({"quality": "pass", "latency": "pass"}, CLOCK, "advance"),
        ({"quality": "pass"}, StepClock(3, 4, 700, 600, 3600), "promote"),
        ({"quality": "pass"}, StepClock(0, 4, 100, 600, 3600), "wait"),
        ({"quality": "inconclusive"}, CLOCK, "wait"),
        ({"quality": "inconclusive"}, StepClock(0, 4, 3600, 600, 3600), "pause"),
        ({"quality": "inconclusive"}, StepClock(0, 4, 3600, 600, 3600, on_timeout="rollback"), "rollback"),
    ],
)
def test_decisions_follow_their_order_of_precedence(verdicts: dict[str, str], clock: StepClock, action: str) -> None:
    """Abort on a sample-ratio mismatch, roll back on any failure, advance or promote when all pass for
    the step's duration, pause (or roll back) at the maximum duration, else wait."""
    assert decide([_gate(name, v) for name, v in verdicts.items()], clock).action == action


@given(
    st.lists(st.sampled_from(["quality", "latency", "errors", "sample_ratio"]), min_size=1, max_size=4, unique=True),
    st.integers(0, 3),
    st.floats(0, 10_000),
)
def test_inconclusive_evidence_never_promotes_or_rolls_back(names: list[str], step: int, in_step: float) -> None:
    """With every gate inconclusive (no data, too few outcomes), the rollout only waits or pauses."""
    clock = StepClock(step=step, steps=4, in_step_s=in_step, step_duration_s=600, max_step_duration_s=3600)
    action = decide([_gate(name, "inconclusive") for name in names], clock).action
    assert action in ("wait", "pause")
