"""Switching a gateway's plan for iris between the benchmark's states, through its admin API."""

from __future__ import annotations

import time
from typing import Any

from load_tests.models import IRIS
from registry_client.client.gateway import GatewayClient

__all__ = ["MainPlan"]

CANARY, CANARY_WEIGHT = "v2", 10.0
SHADOW, SHADOW_SAMPLE = "v3", 100.0


class MainPlan:
    """``stable`` (v1 only), ``canary`` (v2 at 10%, sticky) or ``shadow`` (v3 mirrored at 100%, no canary)."""

    def __init__(self, url: str, token: str) -> None:
        self.client = GatewayClient(url, token=token, actor="bench", timeout=60)
        self.state = "stable"

    def to(self, state: str) -> None:
        if state == self.state:
            return
        plan = self.client.plan(IRIS)
        reason = f"bench: {state}"
        if plan.get("canary") and state != "canary":
            self.client.clear_canary(IRIS, reason=reason)
        if plan.get("shadow") and state != "shadow":
            self.client.clear_shadow(IRIS, reason=reason)
        if state == "canary" and not plan.get("canary"):
            self.client.set_canary(IRIS, CANARY, weight=CANARY_WEIGHT, reason=reason)
        if state == "shadow" and not plan.get("shadow"):
            self.client.set_shadow(IRIS, SHADOW, sample=SHADOW_SAMPLE, reason=reason)
            self._wait(lambda counts: counts.get("ready"), "the shadow process to load v3")
        self.state = state

    def close(self) -> None:
        self.client.close()

    def shadow_stats(self) -> dict[str, Any]:
        return dict(self.client.model(IRIS).get("shadow") or {})

    def wait_shadow_idle(self) -> None:
        self._wait(lambda counts: counts.get("in_flight", 0) == 0, "the shadow queue to drain")

    def _wait(self, done: Any, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self.shadow_stats().get(SHADOW, {})):
                return
            time.sleep(0.05)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
