"""The gateway's ASGI app: every transport over the one data plane, mounted inside the BentoML service (same
worker, no extra hop).

The only module that imports the route modules: canaryline's own endpoints (:mod:`service.rest.native`),
ground truth (:mod:`service.rest.feedback`), the registry's records (:mod:`service.rest.registry`), the
admin API (:mod:`service.rest.admin`, :mod:`service.rest.rollouts`, :mod:`service.rest.registry_admin`,
when it is on), the Open Inference Protocol (:mod:`service.rest.v2`),
KServe v1 (:mod:`service.rest.kserve_v1`), the evaluation report (:mod:`service.rest.evaluation`), the
gateway's OpenAPI document (:mod:`service.rest.openapi`) and the console at ``/ui``
(:mod:`service.rest.console`). Errors become responses through the exception handlers of
:mod:`service.rest.errors`. A new protocol is a module with a ``routes()`` function, added to
:func:`build_app`, and an operation per route in :mod:`service.rest.api_operations` (a test fails without).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from service.rest import (
    admin,
    console,
    evaluation,
    feedback,
    kserve_v1,
    native,
    openapi,
    registry,
    registry_admin,
    rollouts,
    v2,
)
from service.rest.auth import Gates
from service.rest.errors import EXCEPTION_HANDLERS

if TYPE_CHECKING:
    from service.composition import Runtime

__all__ = ["admin_routes", "build_app", "data_routes"]


def data_routes() -> list[BaseRoute]:
    """Every route but the admin API's, in the router's order: the inference protocols first, since the router
    tries routes in order and the console's add nothing before them."""
    return [
        *native.routes(),
        *feedback.routes(),
        *registry.routes(),
        *v2.routes(),
        *kserve_v1.routes(),
        *evaluation.routes(),
        *openapi.routes(),
        *console.routes(),
    ]


def admin_routes() -> list[BaseRoute]:
    """The admin API's routes (plans, rollouts, the registry's writes), after the others when it is on."""
    return [*admin.routes(), *rollouts.routes(), *registry_admin.routes()]


def build_app(runtime: Runtime | None = None) -> Starlette:
    """The ASGI app; without ``runtime`` it takes the one the BentoML service built in this worker.

    What the transports use goes on ``app.state`` at start-up: the data plane (``gateway``), the outcome
    intake (``feedback``), the registry over the store (``registry``, for the evaluation report), the control
    plane (``control``, with the admin routes only when the admin API is on) and the token gates built from
    the settings.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        current = runtime
        if current is None:
            import bentoml

            current = bentoml.get_current_service().runtime
            # The worker is fully started (BentoML, scikit-learn, the models): move everything alive into
            # the permanent generation, so full collections stop walking it. Without this, gen-2 pauses of
            # 250-400 ms set every server's p99 in load_tests (bare BentoML's too).
            gc.collect()
            gc.freeze()
        app.state.gateway = current.gateway
        app.state.feedback = current.feedback
        app.state.registry = current.registry
        app.state.control = current.control
        app.state.rollouts = current.rollout_commands
        app.state.gates = Gates.from_settings(current.settings)
        if current.control is not None:
            app.router.routes.extend(admin_routes())
        yield

    return Starlette(routes=data_routes(), lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS)
