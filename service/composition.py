"""The composition root: builds store, registry, model pool, plan table, log and data plane from one
settings object, and tears them down in the right order."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from registry_client.registry import Registry
from registry_client.store import Store, open_store

from .gateway import Gateway
from .logs import configure_logging
from .model_pool import ModelPool
from .plans import PlanTable
from .prediction_log import PredictionLog
from .settings import GatewaySettings

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

    def close(self) -> None:
        self.plans.stop()
        self.log.close()  # flushes every queued record before returning
        self.store.close()
        log.info("gateway_stopped", instance=self.settings.instance, records_written=self.log.written)


def build_runtime(settings: GatewaySettings) -> Runtime:
    configure_logging(settings.log_level)
    store = open_store(settings.store_url())
    registry = Registry(store)
    plans = PlanTable(store, ModelPool(registry), poll_s=settings.plan_poll_s)
    prediction_log = PredictionLog(store, mode=settings.log_mode, max_batch=settings.log_batch)
    gateway = Gateway(settings, plans, prediction_log)
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
    return Runtime(settings, store, registry, plans, prediction_log, gateway)
