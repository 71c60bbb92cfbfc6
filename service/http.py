"""The HTTP transport: a Starlette app mounted inside the BentoML service (same worker, no extra hop).

It reads headers and the body, calls the data plane (:class:`service.gateway.Gateway`) or the
outcome intake (:class:`service.feedback.Feedback`, ``POST /feedback``, 202) and renders the one
error body ``{"error": {"code", "message", "request_id"}}`` for every 4xx and 5xx.
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import orjson
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from structlog.contextvars import bind_contextvars

from registry_client.errors import CanarylineError

from .auth import Gates
from .content_encoding import body_decoder
from .errors import BadRequestError, GatewayError, PayloadTooLargeError, UnauthorizedError
from .fallback_errors import error_body, route_error
from .feedback import Feedback, parse_feedback
from .gateway import Gateway
from .ids import new_id, request_id_from_header, request_id_header
from .logs import current_trace_id
from .tracing import RequestTracer
from .validation import parse_predict, routing_key

if TYPE_CHECKING:
    from .composition import Runtime

__all__ = ["build_app", "error_headers", "error_response", "json_response", "read_body"]

log = structlog.get_logger("canaryline.http")
_TRACER = RequestTracer()
_JSON = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=_JSON)


def error_headers(exc: GatewayError | CanarylineError, request_id: str) -> dict[str, str]:
    """``X-Request-ID`` (when header-safe), ``Retry-After`` when the error says when to try again (a 503 of
    the log or load), and ``WWW-Authenticate`` naming the realm of a missing or wrong token."""
    headers = request_id_header(request_id)
    if isinstance(exc, UnauthorizedError):
        headers["WWW-Authenticate"] = f'Bearer realm="{exc.realm}"'
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return headers


def error_response(exc: GatewayError | CanarylineError, request_id: str) -> Response:
    body = {"error": {"code": exc.code, "message": exc.message, "request_id": request_id}}
    return json_response(body, exc.status, error_headers(exc, request_id))


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) anything over ``limit`` bytes before reading it all, as sent and once
    decompressed (``Content-Encoding: gzip``, see :mod:`service.content_encoding`; others are a 415)."""
    decoder = body_decoder(request.headers.get("content-encoding"), limit)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequestError("header Content-Length must be a non-negative integer", code="invalid_header")
        if int(declared) > limit:
            raise PayloadTooLargeError(
                f"body is {declared} bytes, over the limit of {limit} bytes (CANARYLINE_MAX_BODY_BYTES)"
            )
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"body is over the limit of {limit} bytes (CANARYLINE_MAX_BODY_BYTES)")
        decoder.feed(chunk)
    return decoder.finish()


def _trace_id(request: Request) -> str | None:
    traceparent = request.headers.get("traceparent")
    if traceparent is not None:
        parts = traceparent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            return parts[1]
    return None


async def predict(request: Request) -> Response:
    with _TRACER.span("POST /predict", request.headers):
        return await _predict(request)


async def _predict(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    started = time.perf_counter()
    request_id = "-"
    try:
        request_id = request_id_from_header(request.headers.get("x-request-id"))
        trace_id = current_trace_id() or _trace_id(request)
        # Each request runs in an asyncio task of its own, on a copy of the context: what it binds (here
        # and in the data plane) is in its log lines and in no other request's.
        bind_contextvars(request_id=request_id, trace_id=trace_id)
        body = await read_body(request, gateway.settings.max_body_bytes)
        parsed = parse_predict(body, max_batch=gateway.settings.max_batch)
        if parsed.routing_key is None:  # the body's key wins, as on every protocol
            parsed.routing_key = routing_key(request.headers.get("x-routing-key"), "header X-Routing-Key")
        result = await gateway.predict(
            parsed,
            request_id=request_id,
            pin=request.headers.get("x-model-version"),
            trace_id=trace_id,
        )
    except (GatewayError, CanarylineError) as exc:
        gateway.metrics.observe_refused(exc.status, time.perf_counter() - started)
        return _refused(exc, request_id)
    except Exception:
        gateway.metrics.observe_refused(500, time.perf_counter() - started)
        raise
    response = json_response(
        result.body(), headers={**request_id_header(request_id), "X-Model-Version": result.model_version}
    )
    elapsed = time.perf_counter() - started
    gateway.metrics.observe_request(result.model, result.model_version, result.route, 200, elapsed)
    log.debug("prediction_served", duration_seconds=elapsed)  # an access log, at CANARYLINE_LOG_LEVEL=debug
    return response


async def feedback(request: Request) -> Response:
    """``POST /feedback``: the ground truth of a served request; 202 with what it was joined to."""
    intake: Feedback = request.app.state.feedback
    request_id = "-"
    try:
        request_id = request_id_from_header(request.headers.get("x-request-id"))
        bind_contextvars(request_id=request_id, trace_id=current_trace_id() or _trace_id(request))
        gates: Gates = request.app.state.gates
        gates.feedback.check(request.headers)  # before the body is read: ground truth only from its producer
        body = await read_body(request, request.app.state.gateway.settings.max_body_bytes)
        parsed = parse_feedback(body)
        accept = partial(
            intake.accept,
            parsed.request_id,
            parsed.outcome,
            parsed.observed_at,
            model=parsed.model,
            prediction_id=parsed.prediction_id,
        )
        result = await anyio.to_thread.run_sync(accept)
    except (GatewayError, CanarylineError) as exc:
        return _refused(exc, request_id)
    return json_response(result, 202, headers=request_id_header(request_id))


def _refused(exc: GatewayError | CanarylineError, request_id: str) -> Response:
    if request_id == "-":
        request_id = new_id()  # the client's ID broke the rule: never echo it
    if exc.status >= 500:
        log.error("request_failed", request_id=request_id, code=exc.code, error=exc.message)
    return error_response(exc, request_id)


async def list_models(request: Request) -> Response:
    """``GET /models``: every plan in force with actors and reasons, so it needs the read token."""
    gateway: Gateway = request.app.state.gateway
    try:
        request.app.state.gates.read.check(request.headers)
    except GatewayError as exc:
        return error_response(exc, new_id())
    names = sorted(set(gateway.plans.models()) | set(gateway.plans.errors))
    return json_response({"models": [gateway.describe(name) for name in names]})


async def get_model(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        request.app.state.gates.read.check(request.headers)
        return json_response(gateway.describe(request.path_params["name"]))
    except GatewayError as exc:
        return error_response(exc, new_id())


async def _http_error(request: Request, exc: Exception) -> Response:
    """The router's refusals (no route: 404, wrong method: 405) in the error body of the path's protocol."""
    assert isinstance(exc, HTTPException)
    error = route_error(request.method, request.url.path, exc.status_code)
    request_id = new_id()
    headers = {**(exc.headers or {}), "X-Request-ID": request_id}
    return Response(error_body(request.url.path, error, request_id), error.status, headers, media_type=_JSON)


def build_app(runtime: Runtime | None = None) -> Starlette:
    """The ASGI app; without ``runtime`` it takes the one the BentoML service built in this worker.

    Admin routes are added when the runtime is known (at start-up), and only when the admin API is on.
    """
    from .protocols import protocol_routes  # here, not at the top: the protocols reuse this module's helpers

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
        app.state.gates = current.gates
        if current.admin is not None:
            app.router.routes.extend(current.admin.routes())
        yield

    routes: list[BaseRoute] = [
        Route("/predict", predict, methods=["POST"]),
        Route("/feedback", feedback, methods=["POST"]),
        Route("/models", list_models, methods=["GET"]),
        Route("/models/{name}", get_model, methods=["GET"]),
        *protocol_routes(),  # /v2 (Open Inference Protocol) and /v1 (KServe), over the same data plane
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
