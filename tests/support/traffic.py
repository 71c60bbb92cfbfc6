"""Traffic for rollout tests: a client thread predicting iris rows on real gateways and posting each request's
true label after a delay, as a client with delayed ground truth would."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

import httpx
import numpy as np

from tests.support.tokens import FEEDBACK_TOKEN, bearer


class Traffic:
    """Predict rows of ``X`` (unkeyed) on the first gateway that answers, round robin; post ``y`` for each
    answered request ``label_delay_s`` later (never when ``labels`` is False)."""

    def __init__(
        self,
        urls: Sequence[str],
        X: np.ndarray,
        y: np.ndarray,
        *,
        labels: bool = True,
        label_delay_s: float = 1.0,
        rate_s: float = 0.004,
        seed: int = 0,
    ) -> None:
        self.urls = list(urls)
        self.X, self.y = X, y
        self.labels = labels
        self.label_delay_s = label_delay_s
        self.rate_s = rate_s
        self.rng = np.random.default_rng(seed)
        self.sent = self.failed = self.labelled = 0
        self.routes: dict[str, int] = {}
        self._pending: deque[tuple[float, str, int]] = deque()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._predict, daemon=True),
            threading.Thread(target=self._feedback, daemon=True),
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def drop(self, url: str) -> None:
        """Stop sending to ``url`` (a gateway that was killed)."""
        self.urls = [u for u in self.urls if u != url]

    def _predict(self) -> None:
        with httpx.Client(timeout=10) as http:
            turn = 0
            while not self._stop.is_set():
                i = int(self.rng.integers(len(self.X)))
                url = self.urls[turn % len(self.urls)]
                turn += 1
                try:
                    response = http.post(url + "/predict", json={"inputs": [self.X[i].tolist()]})
                except httpx.HTTPError:
                    self.failed += 1
                    continue
                if response.status_code != 200:
                    self.failed += 1
                    continue
                body = response.json()
                self.sent += 1
                self.routes[body["route"]] = self.routes.get(body["route"], 0) + 1
                if self.labels:
                    self._pending.append((time.monotonic() + self.label_delay_s, body["request_id"], int(self.y[i])))
                self._stop.wait(self.rate_s)

    def _feedback(self) -> None:
        with httpx.Client(timeout=10, headers=bearer(FEEDBACK_TOKEN)) as http:
            while not self._stop.is_set():
                if not self._pending or self._pending[0][0] > time.monotonic():
                    self._stop.wait(0.05)
                    continue
                _, request_id, label = self._pending.popleft()
                for url in list(self.urls):
                    try:
                        answer = http.post(url + "/feedback", json={"request_id": request_id, "outcome": [label]})
                    except httpx.HTTPError:
                        continue
                    if answer.status_code == 202:
                        self.labelled += 1
                        break
