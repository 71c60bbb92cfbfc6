"""The rollout webhook: each decision POSTed as JSON to ``CANARYLINE_ROLLOUT_WEBHOOK``, from a thread of its
own, retried with exponential backoff.

Delivery is at least once per process and never blocks the controller (a queue of at most ``queue_size``
decisions; more are dropped and logged): the decision itself is already in the store, so the webhook is a
notification, not the record. A 2xx answer delivers; anything else is retried after 0.5 s, 1 s, 2 s … up to
``attempts`` tries. The body: ``{"model", "rollout", "phase", "step", "decision": {...}}``, the decision
with its evidence as stored.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import httpx
import structlog

from registry_client.domain.rollout import RolloutDecision, RolloutState

__all__ = ["Webhook", "decision_body"]

log = structlog.get_logger("canaryline.rollout.webhook")


def decision_body(state: RolloutState, decision: RolloutDecision) -> dict[str, Any]:
    return {
        "model": state.spec.model,
        "version": state.spec.version,
        "rollout": state.id,
        "phase": state.phase,
        "step": state.step,
        "decision": decision.model_dump(mode="json"),
    }


class Webhook:
    def __init__(
        self,
        url: str,
        *,
        attempts: int = 6,
        base_s: float = 0.5,
        timeout_s: float = 5.0,
        queue_size: int = 1000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.attempts = attempts
        self.base_s = base_s
        self.delivered = self.failed = self.dropped = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=queue_size)
        self._http = httpx.Client(timeout=timeout_s, transport=transport)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="canaryline-rollout-webhook", daemon=True)
        self._thread.start()

    def send(self, state: RolloutState, decision: RolloutDecision) -> None:
        """Queue the decision for delivery; never waits."""
        try:
            self._queue.put_nowait(decision_body(state, decision))
        except queue.Full:
            self.dropped += 1
            log.error("rollout_webhook_dropped", model=state.spec.model, action=decision.action)

    def _run(self) -> None:
        while (body := self._queue.get()) is not None:
            self._deliver(body)

    def _deliver(self, body: dict[str, Any]) -> None:
        for attempt in range(self.attempts):
            try:
                response = self._http.post(self.url, json=body)
                if response.is_success:
                    self.delivered += 1
                    return
                error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = repr(exc)
            log.warning("rollout_webhook_retry", attempt=attempt + 1, error=error, model=body["model"])
            if self._stop.wait(self.base_s * 2**attempt):
                break
        self.failed += 1
        log.error("rollout_webhook_failed", model=body["model"], action=body["decision"]["action"])

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued within ``timeout`` (no more retries once stopping), then stop."""
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            self._stop.set()
        self._thread.join(timeout)
        self._stop.set()
        self._http.close()
