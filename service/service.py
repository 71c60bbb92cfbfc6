"""The BentoML service: canaryline's gateway as ``bentoml serve service.service:Canaryline``.

It only wires things: settings → :func:`service.composition.build_runtime` → the Starlette app
mounted at ``/`` inside this service, so predictions are routed in the worker that holds the models.
BentoML keeps serving ``/livez``, ``/readyz`` and ``/metrics`` and runs the worker processes; its plain-text
error answers get the gateway's error body (:mod:`service.rest.fallback`).
"""

from __future__ import annotations

import bentoml

from registry_client.settings import GatewaySettings, ServeSettings
from service.composition import Runtime, build_runtime
from service.observability.logs import render_stdlib_logs_as_json
from service.observability.tracing import EXCLUDED_FROM_MIDDLEWARE
from service.rest.app import build_app
from service.rest.fallback import FallbackErrorsMiddleware
from service.rest.openapi import DocsAliasMiddleware
from service.rest.overload import ConcurrencyLimitMiddleware
from service.rest.readiness import ReadinessMiddleware
from service.rest.timeout import use_request_timeout
from service.rest.traffic_metrics import use_bounded_traffic_metrics

__all__ = ["Canaryline"]

# BentoML reads a service's configuration when the class is decorated, so the worker count (and BentoML's
# model store, which it resolves on first use) are read at import, by `bentoml build` too, which needs no
# tokens; everything else, and the token rules, is read when each worker builds its runtime.
_SETTINGS = ServeSettings()
_SETTINGS.use_model_store()
_WORKERS = _SETTINGS.workers
# BentoML's own timeout middleware leaves a 60 s timer per request alive, and full garbage collections walk
# them all (service/rest/timeout.py): ours enforces the same traffic timeout and leaves nothing behind.
use_request_timeout()
# BentoML labels its traffic metrics with the raw path, so every path a client invents adds series that
# /metrics reads on each scrape: ours label with the route matched (service/rest/traffic_metrics.py).
use_bounded_traffic_metrics()


@bentoml.service(
    name="canaryline",
    workers=_WORKERS,
    logging={"access": {"enabled": False}},
    traffic={"timeout": 60},
    # /predict opens its own single server span (service/observability/tracing.py) instead of the middleware's four.
    tracing={"excluded_urls": EXCLUDED_FROM_MIDDLEWARE},
)
@bentoml.asgi_app(build_app(), path="/")
class Canaryline:
    def __init__(self) -> None:
        self.runtime: Runtime = build_runtime(GatewaySettings.from_env())
        render_stdlib_logs_as_json()  # BentoML's own lines in this worker, from here on

    @bentoml.on_shutdown  # type: ignore[untyped-decorator]  # bentoml's lazy loader hides the type
    def shutdown(self) -> None:
        self.runtime.close()

    def __is_ready__(self) -> bool:
        return self.runtime.gateway.ready()


# The first added is the outermost. The concurrency limit first: a shed request skips every layer after it
# (service/rest/overload.py); then BentoML's plain-text answers become the gateway's JSON error body.
Canaryline.add_asgi_middleware(ConcurrencyLimitMiddleware)  # type: ignore[attr-defined]  # a bentoml Service
Canaryline.add_asgi_middleware(FallbackErrorsMiddleware)  # type: ignore[attr-defined]
Canaryline.add_asgi_middleware(ReadinessMiddleware)  # type: ignore[attr-defined]
Canaryline.add_asgi_middleware(DocsAliasMiddleware)  # type: ignore[attr-defined]
