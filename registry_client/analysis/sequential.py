"""Anytime-valid confidence sequences for a rollout's canary-minus-stable difference in quality.

A rollout looks at its evidence at every tick; a fixed-sample interval read that often rejects a true
null far more often than its level says (the unit tests measure both). A *confidence sequence* covers
the true difference at every time at once: ``P(∃t: Δ ∉ C_t) ≤ α``, so a rollout may look as often as
it likes and stop whenever the sequence decides.

The method, in two steps:

1. **Pseudo-outcomes.** Requests are randomised between the arms with a known canary probability
   ``p_i`` (the canary weight of the plan revision that served them; it changes step by step). The
   augmented inverse-propensity-weighted (AIPW) pseudo-outcome of request ``i``::

       ψ_i = (m1 − m0) + A_i (Y_i − m1) / p_i − (1 − A_i) (Y_i − m0) / (1 − p_i)

   with ``A_i`` 1 for the canary, ``Y_i`` the request's quality (1/0 correct, or −|error|) and ``m1``,
   ``m0`` each arm's mean over the requests *before* ``i`` (predictable plug-ins), has conditional mean
   ``Δ = μ_canary − μ_stable`` whatever the plug-ins are, and variance close to the efficient
   ``σ1²/p + σ0²/(1−p)``.
2. **The asymptotic confidence sequence** of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas,
   "Time-uniform central limit theory and asymptotic confidence sequences", Annals of Statistics 52(6)
   (2024), Theorem 2.2 — the Robbins normal-mixture boundary (Howard, Ramdas, McAuliffe & Sekhon,
   "Time-uniform, nonparametric, nonasymptotic confidence sequences", Annals of Statistics 49(2), 2021,
   eq. 14, two-sided) with a plug-in variance — applied to the ψ's, as the paper does for the average
   treatment effect of a sequential randomised experiment (its Section 3)::

       C_t = ψ̄_t ± σ̂_t · sqrt( 2 (t ρ² + 1) / (t² ρ²) · log( sqrt(t ρ² + 1) / α ) )

   ``ρ²`` is fixed in advance to make the margin narrowest at ``t_opt`` observations (the rollout's
   minimum outcome count): ``ρ² = x*/t_opt`` with ``x* = −W₋₁(−α² e⁻¹) − 1`` (Lambert W), the exact
   minimiser of the unit-variance margin.

The sequence is *asymptotically* valid (a CLT, not a finite-sample bound), and AIPW values are large
at small weights (±1/p), so it is only read once each arm has ``--min-outcomes`` observations. Measured
by simulation (canary equal to stable, 90 % accuracy, 1,000 runs of 30,000 requests, read after every
request from 200 per arm on): the interval missed the truth at any time in 2.0 % of runs at a 5 %
weight, 1.7 % at 2 %, 0.5 % at 1 % (α = 5 %); it fell wholly on the rollback side in at most 0.2 %.

No maintained Python library computes exactly this (``confseq`` has the boundary but no release since
2023 and no AIPW), so it is the closed form above over NumPy/SciPy; the tests check it against a
simulation. Everything here is pure: arrays in, numbers out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import lambertw

__all__ = [
    "METHOD",
    "SequenceEstimate",
    "aipw_pseudo_outcomes",
    "cumulative_bounds",
    "difference_sequence",
    "margin",
    "mean_sequence",
    "outcomes_needed",
    "rho_squared",
]

Array = npt.NDArray[np.float64]
METHOD = (
    "asymptotic confidence sequence (Waudby-Smith et al. 2024, Thm 2.2; normal mixture, Howard et al. 2021) "
    "on AIPW pseudo-outcomes"
)


@dataclass(frozen=True, slots=True)
class SequenceEstimate:
    """Canary − stable quality with its anytime-valid ``1 − alpha`` interval; bounds ``None`` below 2 values."""

    estimate: float | None
    low: float | None
    high: float | None
    n: int  # requests (rows) in the sequence, both arms
    n_canary: int
    n_stable: int
    alpha: float
    t_opt: int
    method: str = METHOD


def rho_squared(t_opt: float, alpha: float) -> float:
    """The mixture precision that makes the unit-variance margin narrowest after ``t_opt`` observations."""
    if not 0 < alpha < 1 or t_opt <= 0:
        raise ValueError(f"need 0 < alpha < 1 and t_opt > 0, got alpha={alpha}, t_opt={t_opt}")
    x_star = -float(lambertw(-(alpha**2) / math.e, k=-1).real) - 1.0
    return x_star / t_opt


def margin(t: npt.ArrayLike, variance: npt.ArrayLike, *, alpha: float, rho2: float) -> Array:
    """Half-width of the confidence sequence after ``t`` observations with plug-in ``variance``."""
    t_ = np.asarray(t, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    x = t_ * rho2
    unit = np.sqrt(2.0 * (x + 1.0) * np.log(np.sqrt(x + 1.0) / alpha) / (t_**2 * rho2))
    return np.sqrt(np.maximum(v, 0.0)) * unit


def aipw_pseudo_outcomes(quality: Array, canary: npt.NDArray[np.bool_], propensity: Array) -> Array:
    """ψ for each request in time order; ``propensity`` is each request's canary probability, in (0, 1).

    The plug-in means ``m1``, ``m0`` are each arm's running mean over earlier requests (0 before the
    arm's first one), so ψ_i depends on the past only through them: the martingale property holds.
    """
    y = np.asarray(quality, dtype=np.float64)
    a = np.asarray(canary, dtype=bool)
    p = np.asarray(propensity, dtype=np.float64)
    if not (y.shape == a.shape == p.shape) or y.ndim != 1:
        raise ValueError("quality, canary and propensity must be 1-D arrays of one length")
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError("every propensity must lie strictly between 0 and 1 (a 0 % or 100 % step randomises nothing)")
    m1 = _running_mean_before(np.where(a, y, 0.0), a)
    m0 = _running_mean_before(np.where(a, 0.0, y), ~a)
    return (m1 - m0) + np.where(a, (y - m1) / p, -(y - m0) / (1.0 - p))


def _running_mean_before(values: Array, counted: npt.NDArray[np.bool_]) -> Array:
    sums = np.concatenate(([0.0], np.cumsum(values)[:-1]))
    counts = np.concatenate(([0.0], np.cumsum(counted)[:-1]))
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


def cumulative_bounds(psi: Array, *, alpha: float, t_opt: float) -> tuple[Array, Array, Array]:
    """Estimate, lower and upper bound after each prefix of ``psi`` (NaN bounds before two values)."""
    n = np.arange(1, psi.size + 1, dtype=np.float64)
    sums = np.cumsum(psi)
    means = sums / n
    squares = np.cumsum(psi**2)
    variance = np.divide(squares - n * means**2, n - 1, out=np.full_like(n, np.nan), where=n > 1)
    half = margin(n, variance, alpha=alpha, rho2=rho_squared(t_opt, alpha))
    half[n < 2] = np.nan
    return means, means - half, means + half


def difference_sequence(
    quality: Array,
    canary: npt.NDArray[np.bool_],
    propensity: Array,
    *,
    alpha: float,
    t_opt: int,
) -> SequenceEstimate:
    """The confidence sequence of canary − stable quality over requests in time order, at its last time."""
    a = np.asarray(canary, dtype=bool)
    n_canary, n_total = int(a.sum()), int(a.size)
    if n_total == 0:
        return SequenceEstimate(None, None, None, 0, 0, 0, alpha, t_opt)
    psi = aipw_pseudo_outcomes(quality, a, propensity)
    means, low, high = cumulative_bounds(psi, alpha=alpha, t_opt=t_opt)
    defined = not math.isnan(low[-1])
    return SequenceEstimate(
        estimate=float(means[-1]),
        low=float(low[-1]) if defined else None,
        high=float(high[-1]) if defined else None,
        n=n_total,
        n_canary=n_canary,
        n_stable=n_total - n_canary,
        alpha=alpha,
        t_opt=t_opt,
    )


def mean_sequence(values: Array, *, alpha: float, t_opt: int, n_canary: int = 0) -> SequenceEstimate:
    """The confidence sequence of a mean over values in time order, at its last time.

    For paired data (a shadow and the primary on the same request) the values are the per-pair
    differences and no weighting is needed: each pair already holds both arms.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return SequenceEstimate(None, None, None, 0, n_canary, 0, alpha, t_opt)
    means, low, high = cumulative_bounds(v, alpha=alpha, t_opt=t_opt)
    defined = not math.isnan(low[-1])
    return SequenceEstimate(
        estimate=float(means[-1]),
        low=float(low[-1]) if defined else None,
        high=float(high[-1]) if defined else None,
        n=int(v.size),
        n_canary=n_canary,
        n_stable=int(v.size) - n_canary,
        alpha=alpha,
        t_opt=t_opt,
        method="asymptotic confidence sequence (Waudby-Smith et al. 2024, Thm 2.2; normal mixture) on paired "
        "differences",
    )


def outcomes_needed(sequence: SequenceEstimate, variance: float, *, distance: float) -> int | None:
    """Roughly how many more observations make the half-width smaller than ``distance``.

    ``distance`` is how far the estimate sits from the decision threshold; the answer assumes the
    estimate and ``variance`` stay where they are. ``None`` when no finite number would do (distance 0).
    """
    if distance <= 0 or variance <= 0 or not math.isfinite(variance):
        return None
    rho2 = rho_squared(sequence.t_opt, sequence.alpha)
    n = max(sequence.n, 2)
    if float(margin(n, variance, alpha=sequence.alpha, rho2=rho2)) < distance:
        return 0
    high = n
    while float(margin(high, variance, alpha=sequence.alpha, rho2=rho2)) >= distance:
        high *= 2
        if high > 10**12:
            return None
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        if float(margin(middle, variance, alpha=sequence.alpha, rho2=rho2)) < distance:
            high = middle
        else:
            low = middle
    return high - sequence.n
