"""A circuit breaker with exponential backoff: how the prediction log stops waiting on a failing store or disk.

``closed``: calls go through. The first failure opens it: nothing is tried for ``backoff.delay(1)``
seconds, then it is ``half_open`` and lets one caller through (the probe, :meth:`Breaker.try_probe`);
success closes it, failure opens it again for twice as long, up to ``backoff.cap_s``. So a store that
stalls costs the log one socket timeout per opening, not one per retry. Measured with Redis under
``DEBUG SLEEP 5`` and the 2 s socket timeout (``tests/e2e/test_log_faults.py``): when the writer itself
retried the store every 0.25 s, a gateway answered 116 requests during the stall against 1,208 in the
5 s before it (10%); with the breaker, 53-76% (the first 2 s timeout, then the spool at full speed).

:class:`Backoff` is a value object like redis-py's backoffs; :class:`Breaker` holds the state, behind a
lock because the writer thread opens it and the drainer thread probes it. The clock is injectable, so
the transitions are tested without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Backoff", "Breaker", "BreakerState"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay after ``failures`` consecutive failures: ``base_s``, doubling each time, at most ``cap_s``."""

    base_s: float = 0.25
    cap_s: float = 5.0

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return min(self.cap_s, self.base_s * 2.0 ** min(failures - 1, 32))


class Breaker:
    def __init__(self, backoff: Backoff | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.backoff = backoff or Backoff()
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self._probing = False
        #: What the last failure said (for /readyz and the logs); None while closed.
        self.last_error: str | None = None

    @property
    def closed(self) -> bool:
        return self._failures == 0

    @property
    def failures(self) -> int:
        return self._failures

    @property
    def state(self) -> BreakerState:
        if self._failures == 0:
            return "closed"
        return "half_open" if self._probing or self._clock() >= self._retry_at else "open"

    def due_in(self) -> float:
        """Seconds until a probe may run (0 when closed or due now)."""
        if self._failures == 0:
            return 0.0
        return max(0.0, self._retry_at - self._clock())

    def try_probe(self) -> bool:
        """True for one caller once the backoff has passed (half-open); it must report back."""
        with self._lock:
            if self._failures == 0 or self._probing or self._clock() < self._retry_at:
                return False
            self._probing = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._probing = False
            self.last_error = None

    def failed(self, error: str) -> None:
        """Open (again), for a backoff one step longer than the last."""
        with self._lock:
            self._failures += 1
            self._probing = False
            self._retry_at = self._clock() + self.backoff.delay(self._failures)
            self.last_error = error

    def retry_now(self) -> None:
        """Let the next probe run at once (something changed that makes it likely to pass)."""
        with self._lock:
            self._retry_at = self._clock()
