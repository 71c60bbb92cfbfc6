"""One prediction request's line in the request metrics, from its arrival to its answer."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Observe", "RequestRecorder"]

#: Counts one answered request: model, version, route, HTTP status, seconds (``Metrics.observe_request``).
Observe = Callable[[str, str, str, int, float], None]


class RequestRecorder:
    """One prediction request's line in ``canaryline_requests_total`` and the latency histogram.

    The data plane hands it the routing decision (:meth:`routed`); the transport says how the request was
    answered (:meth:`answered`, once). A request answered before it was routed (bad JSON, an unknown model)
    keeps empty labels: it has no served version, and client-supplied names never become label values.
    """

    __slots__ = ("_answered", "_observe", "model", "route", "started", "version")

    def __init__(self, observe: Observe) -> None:
        self._observe = observe
        self.started = time.perf_counter()
        self.model = self.version = self.route = ""
        self._answered = False

    def routed(self, model: str, version: str, route: str) -> None:
        self.model, self.version, self.route = model, version, route

    def answered(self, status: int) -> float:
        """Count the answer (the first call only) and return the seconds since the request arrived."""
        elapsed = time.perf_counter() - self.started
        if not self._answered:
            self._answered = True
            self._observe(self.model, self.version, self.route, status, elapsed)
        return elapsed
