"""The plans in force in this process, and the watcher that applies new revisions from the store.

Applying a revision loads (and verifies) every version it needs first, then swaps the model's entry
in one assignment, then unloads what no plan needs any more: a request never waits on a load, and a
version that fails to load leaves the previous revision serving, with the error reported (a version that is
not cached here while the artifact store cannot be reached is also listed in :attr:`PlanTable.missing`).

**Garbage collection.** A refresh that loaded a version ends with ``gc.freeze()`` (after a young collection,
so the load's own short-lived garbage is freed, not frozen): the model's objects, like everything alive when
the worker started (:mod:`service.rest.app`), move to the permanent generation, which full collections do
not walk; a full collection's pause grows with what it walks. What an unloaded version leaves frozen is
freed by reference counting as usual; only garbage in reference cycles would stay, which reference counting cannot free.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from registry_client.domain.plan import Plan
from registry_client.domain.versions import validate_version
from registry_client.errors import ArtifactUnavailableError, CanarylineError
from registry_client.store import Store
from service.dataplane.model_pool import ModelPool, ServingVersion
from service.observability.metrics import Metrics

__all__ = ["ActivePlan", "PlanTable"]

log = structlog.get_logger("canaryline.plans")
_RETRY_FAILED_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class ActivePlan:
    plan: Plan
    versions: Mapping[str, ServingVersion]


class PlanTable:
    def __init__(self, store: Store, pool: ModelPool, *, poll_s: float, metrics: Metrics | None = None) -> None:
        self.store = store
        self.pool = pool
        self.poll_s = poll_s
        self.metrics = metrics or Metrics()
        self._active: dict[str, ActivePlan] = {}  # replaced whole, never mutated: readers need no lock
        self.errors: dict[str, str] = {}  # model → why its latest revision is not in force
        #: model → the version its latest revision needs that is neither cached here nor pullable now
        self.missing: dict[str, str] = {}
        self._epoch = -1
        self._apply_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Called with each newly applied plan (the shadow runner warms its process with it).
        self.on_applied: Callable[[Plan], None] | None = None

    # -- reading (hot path) --------------------------------------------------------------------
    def get(self, model: str) -> ActivePlan | None:
        return self._active.get(model)

    def models(self) -> list[str]:
        return sorted(self._active)

    def active(self) -> dict[str, ActivePlan]:
        return dict(self._active)

    # -- applying ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read every plan from the store and apply the ones newer than what is in force."""
        epoch = self.store.plans_epoch()
        plans = self.store.plans()
        with self._apply_lock:
            loaded = set(self.pool.loaded())
            for plan in plans.values():
                current = self._active.get(plan.model)
                if current is None or plan.revision > current.plan.revision or plan.model in self.errors:
                    self._apply(plan)
            self._epoch = epoch
            keep = {(m, v) for m, a in self._active.items() for v in a.versions}
            for model, version in self.pool.retain_only(keep):
                self.metrics.version_unloaded(model, version)
                log.info("version_unloaded", model=model, model_version=version)
            self.pool.evict_cached(keep)
            if not set(self.pool.loaded()) <= loaded:  # a version was loaded: freeze it (see the module docstring)
                gc.collect(1)
                gc.freeze()

    def _apply(self, plan: Plan) -> None:
        versions: dict[str, ServingVersion] = {}
        try:
            for version in plan.serving_versions():
                validate_version(version)  # a stored plan naming 'latest' or 'V1' is refused, never resolved
                versions[version] = self.pool.get_or_load(plan.model, version)
        except CanarylineError as exc:
            self.metrics.load_failed(plan.model, version)
            if isinstance(exc, ArtifactUnavailableError):
                self.missing[plan.model] = f"{plan.model}:{version}"
            in_force = self._active.get(plan.model)
            self.errors[plan.model] = f"revision {plan.revision} not applied: {exc.message}" + (
                f"; still serving revision {in_force.plan.revision}" if in_force else "; nothing served"
            )
            log.error(
                "plan_not_applied",
                model=plan.model,
                model_version=version,
                revision=plan.revision,
                error=exc.message,
                serving_revision=in_force.plan.revision if in_force else None,
            )
            return
        self.errors.pop(plan.model, None)
        self.missing.pop(plan.model, None)
        self._active = {**self._active, plan.model: ActivePlan(plan, versions)}
        self.metrics.plan_applied(plan)
        log.info(
            "plan_applied",
            model=plan.model,
            revision=plan.revision,
            stable=plan.stable,
            canary=plan.canary.version if plan.canary else None,
            shadow=plan.shadow.version if plan.shadow else None,
        )
        if self.on_applied is not None:
            self.on_applied(plan)

    # -- watching ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="canaryline-plan-watcher", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        """Apply new revisions as soon as the store signals them, checking every ``poll_s`` regardless."""
        since_retry = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            self.store.wait_plan_change(self.poll_s)
            if self._stop.is_set():
                return
            since_retry += time.monotonic() - started
            try:
                due = bool(self.errors) and since_retry >= _RETRY_FAILED_EVERY_S
                if due or self.store.plans_epoch() != self._epoch:
                    since_retry = 0.0
                    self.refresh()
            except CanarylineError as exc:
                log.warning("plan_watch_failed", error=exc.message)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
