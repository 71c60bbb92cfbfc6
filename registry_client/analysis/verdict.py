"""One canary comparison in words: which version is better, by how much, with what certainty, and how many
more outcomes would make the interval narrow enough to act on.

The numbers are the comparison's own (:class:`~registry_client.analysis.evaluation.Comparison`: the Newcombe
interval of the accuracy difference, or the Welch interval of the MAE difference, from
:mod:`registry_client.analysis.statistics`); nothing is recomputed here. A version is called better or
worse only when the 95 % interval excludes zero; otherwise the sentence says the two are not told apart.

How many more outcomes: an interval's half-width shrinks as ``1 / sqrt(n)`` when the arms keep their
current split and spread, so reaching a half-width ``t`` from ``h`` on ``n`` labelled rows takes about
``n (h / t)**2`` rows in all. The target is ±1 point of accuracy, or a tenth of the stable version's MAE
(regression has no natural unit to name). The count is rounded to two significant figures: it is an
order of magnitude to plan with, not a sample-size calculation for a new experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from registry_client.analysis.evaluation import Comparison, Task

__all__ = ["ACCURACY_TARGET", "Verdict", "verdict"]

#: The half-width the outcome count is sized for in classification: one percentage point.
ACCURACY_TARGET = 0.01


@dataclass(frozen=True, slots=True)
class Verdict:
    """The sentence, and what it rests on."""

    text: str
    canary_version: str
    stable_version: str
    #: ``better``, ``worse`` or ``undecided`` (the interval holds zero, or there is none).
    direction: str
    #: About how many more labelled rows would bring the half-width to ``target``; 0 when it already is,
    #: None when there is no interval to size.
    more_outcomes: int | None
    target: float


def _round2(n: float) -> int:
    """``n`` rounded up to two significant figures (12,345 → 13,000)."""
    if n <= 0:
        return 0
    scale = 10 ** max(0, math.floor(math.log10(n)) - 1)
    return int(math.ceil(n / scale) * scale)


def _more(comparison: Comparison, target: float) -> int | None:
    low, high = comparison.difference.low, comparison.difference.high
    if low is None or high is None:
        return None
    half = (high - low) / 2
    n = comparison.n_canary + comparison.n_stable
    if half <= target:
        return 0
    return _round2(n * (half / target) ** 2 - n)


def verdict(comparison: Comparison, task: Task) -> Verdict:
    """The comparison in one sentence, e.g. ``v2 is worse than v1 by 4.7 points (95 % CI 1.8–10.8) on 101 vs
    880 labelled rows; about 12,000 more outcomes would narrow this to ±1 point``."""
    c = comparison
    d, low, high = c.difference.value, c.difference.low, c.difference.high
    classification = task == "classification"
    # Signed so that positive is "canary better": accuracy up, or MAE down.
    sign = 1.0 if classification else -1.0
    scale = 100.0 if classification else 1.0
    target = ACCURACY_TARGET if classification else c.stable / 10
    unit = " points" if classification else ""
    what = "" if classification else " in MAE"

    def num(x: float) -> str:
        return f"{x:.1f}" if classification else f"{x:.3g}"

    if low is None or high is None:
        direction = "undecided"
        head = f"{c.canary_version} − {c.stable_version} = {num(d * scale)}{unit}{what}, with no interval yet"
    else:
        gain = sign * d
        gain_low, gain_high = sorted((sign * low, sign * high))
        if gain_low > 0 or gain_high < 0:
            direction = "better" if gain_low > 0 else "worse"
            size, a, b = (gain, gain_low, gain_high) if direction == "better" else (-gain, -gain_high, -gain_low)
            head = (
                f"{c.canary_version} is {direction} than {c.stable_version}{what} by {num(size * scale)}{unit} "
                f"(95 % CI {num(a * scale)}–{num(b * scale)})"
            )
        else:
            direction = "undecided"
            head = (
                f"{c.canary_version} and {c.stable_version} are not told apart{what}: "
                f"{c.canary_version} − {c.stable_version} = {num(d * scale)}{unit} "
                f"(95 % CI {num(low * scale)} to {num(high * scale)})"
            )
    more = _more(c, target)
    goal = "±1 point" if classification else f"±{target:.3g} (a tenth of {c.stable_version}'s MAE)"
    if more is None:
        tail = "too few outcomes to size an interval"
    elif more == 0:
        tail = f"the interval is already within {goal}"
    else:
        tail = f"about {more:,} more outcomes would narrow this to {goal}"
    text = f"{head} on {c.n_canary} vs {c.n_stable} labelled rows; {tail}"
    return Verdict(text, c.canary_version, c.stable_version, direction, more, target)
