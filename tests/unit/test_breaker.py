"""The prediction log's circuit breaker: closed, open, half-open with one probe, exponential backoff with a cap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.prediction_log.breaker import Backoff, Breaker


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_opens_the_breaker_until_the_backoff_has_passed() -> None:
    """Closed until a failure; then open for the first delay, with no probe allowed before it ends."""
    clock = Clock()
    breaker = Breaker(Backoff(base_s=0.25, cap_s=5.0), clock=clock)
    assert (breaker.state, breaker.closed, breaker.due_in()) == ("closed", True, 0.0)
    assert not breaker.try_probe()  # nothing to probe while closed: calls simply go through
    breaker.failed("Redis timed out")
    assert (breaker.state, breaker.closed, breaker.last_error) == ("open", False, "Redis timed out")
    assert breaker.due_in() == 0.25 and not breaker.try_probe()
    clock.now += 0.25
    assert breaker.state == "half_open"


def test_half_open_lets_exactly_one_probe_through() -> None:
    """Once due, the first caller gets the probe and every other caller is turned away until it reports."""
    clock = Clock()
    breaker = Breaker(clock=clock)
    breaker.failed("down")
    clock.now += 10
    assert breaker.try_probe()
    assert not breaker.try_probe() and breaker.state == "half_open"
    breaker.succeeded()
    assert (breaker.state, breaker.failures, breaker.last_error) == ("closed", 0, None)


def test_each_failed_probe_doubles_the_wait_up_to_the_cap() -> None:
    """Consecutive failures wait 0.25, 0.5, 1, 2, 4 s and then 5 s (the cap) for ever."""
    clock = Clock()
    breaker = Breaker(Backoff(base_s=0.25, cap_s=5.0), clock=clock)
    waits = []
    for _ in range(8):
        breaker.failed("down")
        waits.append(breaker.due_in())
        clock.now += breaker.due_in()
        assert breaker.try_probe()
    assert waits == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_retry_now_makes_the_next_probe_due_at_once() -> None:
    """After something freed the resource, the drainer can probe without waiting out the backoff."""
    clock = Clock()
    breaker = Breaker(clock=clock)
    for _ in range(5):
        breaker.failed("ENOSPC")
    assert breaker.due_in() > 0
    breaker.retry_now()
    assert breaker.due_in() == 0 and breaker.try_probe()


@given(
    base=st.floats(min_value=0.001, max_value=10),
    cap=st.floats(min_value=0.001, max_value=60),
    failures=st.integers(min_value=1, max_value=10_000),
)
def test_backoff_never_shrinks_and_never_exceeds_its_cap(base: float, cap: float, failures: int) -> None:
    """For any base, cap and failure count, the delay is within (0, cap] and at least the previous one."""
    backoff = Backoff(base_s=base, cap_s=cap)
    assert 0 < backoff.delay(failures) <= cap
    assert backoff.delay(failures + 1) >= backoff.delay(failures)
    assert backoff.delay(0) == 0.0
