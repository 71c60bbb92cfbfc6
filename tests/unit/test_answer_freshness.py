"""How long the gateway keeps an evaluation or timeline answer: FRESH_S at least, KEEP_FACTOR × its cost."""

from __future__ import annotations

from service.rest.evaluation import FRESH_S, KEEP_FACTOR, fresh


def test_a_quick_answer_is_kept_for_fresh_s() -> None:
    """An answer that took 0.1 s is given again up to FRESH_S later, and not after."""
    assert fresh(100.0, 0.1, 100.0 + FRESH_S)
    assert not fresh(100.0, 0.1, 100.0 + FRESH_S + 0.01)


def test_a_slow_answer_is_kept_keep_factor_times_its_cost() -> None:
    """An answer that took 60 s (a huge log) is kept KEEP_FACTOR × 60 s, so scans take at most about a
    tenth of the worker's time."""
    took = 60.0
    assert KEEP_FACTOR * took > FRESH_S
    assert fresh(0.0, took, KEEP_FACTOR * took)
    assert not fresh(0.0, took, KEEP_FACTOR * took + 0.01)
