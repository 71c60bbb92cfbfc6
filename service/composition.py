"""The composition root: builds store, registry, model pool, plan table, log and data plane from one
settings object, and tears them down in the right order."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from registry_client.control import ControlPlane
from registry_client.registry import Registry
from registry_client.store import Store, open_store, redact_url

from .admin import AdminApi
from .auth import Gates
from .errors import StartupError
from .feedback import Feedback
from .gateway import Gateway
from .logs import configure_logging
from .metrics import Metrics
from .model_pool import ModelPool
from .plans import PlanTable
from .prediction_log import PredictionLog
from .settings import GatewaySettings
from .shadow import ShadowRunner
from .spool import Spool, SpoolWriteError, check_writable

__all__ = ["Runtime", "build_runtime", "check_spool"]

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
    admin: AdminApi | None
    feedback: Feedback
    metrics: Metrics
    gates: Gates

    def close(self) -> None:
        self.plans.stop()
        self.gateway.shadow.close()  # finishes queued shadow work, whose records the log then flushes
        self.log.close()  # flushes every queued record before returning
        self.store.close()
        log.info("gateway_stopped", instance=self.settings.instance, records_written=self.log.written)


def check_spool(settings: GatewaySettings) -> None:
    """Refuse to start when the spool folder cannot be written (read-only mount, no space), naming it and the errno.

    ``canaryline serve`` calls this before BentoML starts; a worker started some other way still starts with an
    unwritable spool, logs it once and reports not ready until the disk takes writes again.
    """
    folder = settings.home / "spool"
    try:
        check_writable(folder)
    except SpoolWriteError as exc:
        raise StartupError(
            f"refusing to start: the prediction-log spool {folder} cannot be written: {exc.errno_name} ({exc.reason}); "
            "set CANARYLINE_HOME to a writable folder with free space"
        ) from exc


def build_runtime(settings: GatewaySettings) -> Runtime:
    configure_logging(settings.log_level, instance=settings.instance)
    gates = Gates.from_settings(settings)  # the settings refused missing tokens unless this is a dev setup
    settings.use_model_store()  # before BentoML's first use here, and inherited by the shadow process
    store = open_store(settings.store_url())
    registry = Registry(store)
    metrics = Metrics()  # per worker, after BentoML set PROMETHEUS_MULTIPROC_DIR (see service/metrics.py)
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
    plans.on_applied = lambda plan: shadow.prepare(plan.model, plan.shadow.version) if plan.shadow else None
    gateway = Gateway(settings, plans, prediction_log, shadow, metrics)
    admin = AdminApi(ControlPlane(registry), plans, gates) if settings.admin_api else None
    prediction_log.start()
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
    feedback = Feedback(store, registry, metrics=metrics)
    return Runtime(settings, store, registry, plans, prediction_log, gateway, admin, feedback, metrics, gates)


_OPEN_WITHOUT = {
    "admin_token": "plan changes",
    "read_token": "plans, history and /models",
    "feedback_token": "ground-truth outcomes (POST /feedback)",
}
