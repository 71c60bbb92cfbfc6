"""The composition root: builds store, registry, model pool, plan table, log and data plane from one
settings object, and tears them down in the right order."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from registry_client.control import ControlPlane
from registry_client.domain.plan import Plan
from registry_client.registry.registry import Registry
from registry_client.rollout.commands import Rollouts
from registry_client.rollout.webhook import Webhook
from registry_client.settings import GatewaySettings, redact_url
from registry_client.store import Store, open_store
from service.dataplane.feedback import Feedback
from service.dataplane.gateway import Gateway
from service.dataplane.model_pool import ModelPool
from service.dataplane.plans import PlanTable
from service.dataplane.request_counts import RequestTally
from service.dataplane.rollout_runner import RolloutRunner
from service.dataplane.shadow import ShadowRunner
from service.observability.logs import configure_logging
from service.observability.metrics import Metrics
from service.prediction_log.spool import Spool
from service.prediction_log.writer import PredictionLog

__all__ = ["Runtime", "build_runtime"]

log = structlog.get_logger("canaryline.gateway")


@dataclass
class Runtime:
    """Everything one worker process runs; ``close`` stops it with nothing left unwritten."""

    settings: GatewaySettings
    store: Store
    registry: Registry
    plans: PlanTable
    log: PredictionLog
    gateway: Gateway
    #: The control plane behind the admin API; None when the admin API is off.
    control: ControlPlane | None
    feedback: Feedback
    metrics: Metrics
    tally: RequestTally
    #: Start, pause, resume, abort and promote rollouts (the admin API's); None when the admin API is off.
    rollout_commands: Rollouts | None = None
    #: The rollout controller's thread; None when CANARYLINE_ROLLOUT_CONTROLLER=0.
    rollouts: RolloutRunner | None = None
    #: Where the controller's and the admin API's rollout decisions are POSTed; None without a webhook.
    webhook: Webhook | None = None
    #: The sink's PostgreSQL, where feedback for requests older than the store's index goes; None when unset.
    history: Store | None = None

    def close(self) -> None:
        if self.rollouts is not None:
            self.rollouts.stop()  # releases the lease: another gateway takes over at once
        if self.webhook is not None:
            self.webhook.close()  # delivers what is queued (the last decisions) first
        self.plans.stop()
        self.gateway.shadow.close()  # finishes queued shadow work, whose records the log then flushes
        self.log.close()  # flushes every queued record before returning
        self.tally.close()
        self.store.close()
        if self.history is not None:
            self.history.close()
        log.info("gateway_stopped", instance=self.settings.instance, records_written=self.log.written)


def build_runtime(settings: GatewaySettings) -> Runtime:
    configure_logging(settings.log_level, instance=settings.instance)
    registry = Registry.from_settings(settings)  # points BentoML at the node's model store first (see settings)
    store = registry.store
    metrics = Metrics()  # per worker, after BentoML set PROMETHEUS_MULTIPROC_DIR (see service/observability/metrics.py)
    plans = PlanTable(store, ModelPool(registry), poll_s=settings.plan_poll_s, metrics=metrics)
    spool = Spool(settings.home / "spool", max_bytes=settings.spool_max_bytes)
    prediction_log = PredictionLog(
        store,
        mode=settings.log_mode,
        max_batch=settings.log_batch,
        spool=spool,
        on_full=settings.log_on_full,
        metrics=metrics,
    )
    shadow = ShadowRunner(prediction_log, queue_size=settings.shadow_queue, instance=settings.instance, metrics=metrics)
    plans.on_applied = lambda plan: _prepare_shadow(plans, shadow, plan)
    tally = RequestTally(store, flush_s=settings.request_counts_flush_s)
    gateway = Gateway(settings, plans, prediction_log, shadow, metrics, tally=tally)
    control = ControlPlane(registry) if settings.admin_api else None
    prediction_log.start()
    tally.start()
    plans.refresh()  # load every plan's versions before the first request
    plans.start()
    log.info(
        "gateway_started",
        instance=settings.instance,
        store=redact_url(store.url),
        models=plans.models(),
        log_mode=settings.log_mode,
    )
    if settings.log_mode == "off":
        log.warning(
            "prediction_log_off", detail="CANARYLINE_LOG_MODE=off: predictions are NOT logged (benchmarks only)"
        )
    for field in settings.missing_tokens():
        log.warning(
            "token_missing",
            detail=f"CANARYLINE_{field.upper()} is not set (CANARYLINE_DEV=1): {_OPEN_WITHOUT[field]} need no token",
        )
    history = None
    if settings.history_dsn is not None:
        history = open_store(str(settings.history_dsn), timeout_s=settings.store_timeout_s)
    feedback = Feedback(store, registry, metrics=metrics, history=history)
    webhook = Webhook(settings.rollout_webhook) if settings.rollout_webhook else None
    rollouts = None
    if settings.rollout_controller:
        rollouts = RolloutRunner(
            registry,
            instance=settings.instance,
            tick_s=settings.rollout_tick_s,
            lease_s=settings.rollout_lease_s,
            metrics=metrics,
            webhook=webhook,
        )
        rollouts.start()
    commands = None
    if settings.admin_api:
        commands = Rollouts(registry, on_decision=webhook.send if webhook is not None else None)
    return Runtime(
        settings,
        store,
        registry,
        plans,
        prediction_log,
        gateway,
        control,
        feedback,
        metrics,
        tally,
        commands,
        rollouts,
        webhook,
        history,
    )


def _prepare_shadow(plans: PlanTable, shadow: ShadowRunner, plan: Plan) -> None:
    """Load a newly applied plan's shadow version in the shadow process, verified against the store's digest."""
    active = plans.get(plan.model)
    if plan.shadow is not None and active is not None:
        shadow.prepare(plan.model, plan.shadow.version, active.versions[plan.shadow.version].info.sha256)


_OPEN_WITHOUT = {
    "admin_token": "plan changes",
    "read_token": "plans, history and /models",
    "feedback_token": "ground-truth outcomes (POST /feedback)",
}
