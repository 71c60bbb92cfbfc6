"""The thread that ticks the rollout controller inside a gateway worker.

Every worker of every gateway runs one; the store's lease lets exactly one of them drive, and the others
tick only to try for the lease (one store call each). A tick that fails (the store is down, a bug) is logged
and counted, and the next one tries again: the thread never dies, and no request ever waits on it. The
lease is released on a clean stop so a successor takes over at once; a killed leader's lease expires after
``CANARYLINE_ROLLOUT_LEASE_S``.
"""

from __future__ import annotations

import threading
import time

import structlog

from registry_client.domain.identifiers import new_id
from registry_client.domain.rollout import RolloutDecision, RolloutState
from registry_client.registry.registry import Registry
from registry_client.rollout.controller import RolloutController, TickReport
from registry_client.rollout.webhook import Webhook
from service.observability.metrics import Metrics

__all__ = ["RolloutRunner"]

log = structlog.get_logger("canaryline.rollout")


class RolloutRunner:
    def __init__(
        self,
        registry: Registry,
        *,
        instance: str,
        tick_s: float,
        lease_s: float,
        metrics: Metrics,
        webhook: Webhook | None = None,
    ) -> None:
        self.controller = RolloutController(registry, holder=f"{instance}/{new_id()[:8]}", lease_s=lease_s)
        self.controller.on_decision = self._decided
        self.tick_s = tick_s
        self.metrics = metrics
        self.webhook = webhook
        self.leader = False
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="canaryline-rollout-controller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._report(self.controller.tick(time.time()))
            except Exception as exc:  # never dies: the next tick reads everything again
                self.errors += 1
                log.exception("rollout_tick_failed", error=repr(exc))
            self._stop.wait(self.tick_s)

    def _report(self, report: TickReport) -> None:
        if report.leader != self.leader:
            self.leader = report.leader
            log.info("rollout_leader" if report.leader else "rollout_follower", holder=self.controller.holder)
        for state in report.states:
            verdicts = {g.gate: g.verdict for g in report.gates.get(state.spec.model, [])}
            self.metrics.rollout_ticked(
                state.spec.model,
                state.spec.version,
                phase=state.phase,
                step=state.step,
                weight=state.weight,
                verdicts=verdicts,
            )
        for model, why in report.skipped.items():
            log.info("rollout_tick_skipped", model=model, reason=why)

    def _decided(self, state: RolloutState, decision: RolloutDecision) -> None:
        self.metrics.rollout_decided(state.spec.model, state.spec.version, decision.action)
        log.info(
            "rollout_decision",
            model=state.spec.model,
            model_version=state.spec.version,
            action=decision.action,
            phase=state.phase,
            step=state.step,
            revision=decision.revision,
            reason=decision.reason,
        )
        if self.webhook is not None:
            self.webhook.send(state, decision)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        try:
            self.controller.release()
        except Exception as exc:
            log.warning("rollout_lease_not_released", error=repr(exc))
