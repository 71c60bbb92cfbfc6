"""An anytime-valid test of a Bernoulli proportion, the beta-binomial mixture martingale: the rollout's
sample-ratio gate (is the canary's share of traffic its weight?) read at every tick.

For indicators that are Bernoulli(``p``) under the null, mixing the likelihood ratio of every alternative
``θ`` over a Beta(``a``, ``b``) prior gives, after ``n`` indicators of which ``s`` are ones,

    M_n = ∫ θ^s (1 − θ)^(n − s) dBeta(θ; a, b) / (p^s (1 − p)^(n − s)) = BetaBinom(s; n, a, b) / Bin(s; n, p)

(the binomial coefficients cancel, so scipy's two pmfs give it exactly). Under the null ``M`` is a
non-negative martingale starting at 1, so by Ville's inequality ``P(∃n: M_n ≥ 1/α) ≤ α``: the test may be
read after every observation and keeps its level, in finite samples, with no normal approximation (which a
chi-square test needs, and which fails at a 5 % step's expected counts of a few requests). Independent
strata (revisions, keyed and unkeyed traffic) multiply: the product is again such a martingale. This is
Robbins' conjugate mixture (Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric,
nonasymptotic confidence sequences", Annals of Statistics 49(2), 2021, §3), and for a sample-ratio mismatch
the two-arm case of Lindon & Malek, "Anytime-valid inference for multinomial count data", NeurIPS 2022.

The prior is centred on the null, ``a = c·p``, ``b = c·(1 − p)``; its concentration ``c`` sets the
deviations it is most sensitive to (its standard deviation is ``sqrt(p(1 − p)/(c + 1))``). Pure: counts in,
numbers out.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["log_evidence"]

Array = npt.NDArray[np.float64]


def log_evidence(ones: npt.ArrayLike, n: npt.ArrayLike, p: npt.ArrayLike, *, concentration: float) -> Array:
    """log M: the mixture's evidence against a proportion of ``p`` after ``n`` indicators with ``ones`` ones
    (element-wise over arrays of strata)."""
    null = np.asarray(p, dtype=np.float64)
    if np.any((null <= 0) | (null >= 1)) or concentration <= 0:
        raise ValueError(f"need 0 < p < 1 and concentration > 0, got p={null!r}, concentration={concentration}")
    s, total = np.asarray(ones, dtype=np.float64), np.asarray(n, dtype=np.float64)
    mixture = stats.betabinom.logpmf(s, total, concentration * null, concentration * (1 - null))
    return np.asarray(mixture - stats.binom.logpmf(s, total, null), dtype=np.float64)
