"""The composition root: builds store, registry, model pool, plan table, log and data plane from one
settings object, and tears them down in the right order."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from registry_client.control import ControlPlane
from registry_client.registry import Registry
from registry_client.store import Store, open_store

from .admin import AdminApi
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

__all__ = ["Runtime", "admin_token", "build_runtime", "check_spool"]

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

    def close(self) -> None:
        self.plans.stop()
        self.gateway.shadow.close()  # finishes queued shadow work, whose records the log then flushes
        self.log.close()  # flushes every queued record before returning
        self.store.close()
        log.info("gateway_stopped", instance=self.settings.instance, records_written=self.log.written)


def admin_token(settings: GatewaySettings) -> str | None:
    """The admin token in force; refuses to start an admin API without one unless it is a dev setup."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    if settings.admin_api and not token and not settings.insecure_admin:
        raise StartupError(
            "refusing to start: the admin API is enabled but CANARYLINE_ADMIN_TOKEN is not set. Set a token, "
            "or CANARYLINE_ADMIN_API=0 to run without the admin API, or CANARYLINE_INSECURE_ADMIN=1 for a dev setup"
        )
    return token or None


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
    configure_logging(settings.log_level)
    token = admin_token(settings)
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
    admin = AdminApi(ControlPlane(registry), plans, token) if settings.admin_api else None
    prediction_log.start()
    plans.refresh()  # load every plan's versions before the first request
    plans.start()
    log.info(
        "gateway_started",
        instance=settings.instance,
        store=store.url.split("@")[-1],
        models=plans.models(),
        log_mode=settings.log_mode,
    )
    if settings.log_mode == "off":
        log.warning(
            "prediction_log_off", detail="CANARYLINE_LOG_MODE=off: predictions are NOT logged (benchmarks only)"
        )
    if settings.admin_api and token is None:
        log.warning("admin_api_insecure", detail="CANARYLINE_INSECURE_ADMIN=1: mutations need no token")
    feedback = Feedback(store, registry, metrics=metrics)
    return Runtime(settings, store, registry, plans, prediction_log, gateway, admin, feedback, metrics)
