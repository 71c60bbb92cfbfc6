"""KServe's v1 protocol over the one data plane: ``{"instances": [...]}`` in, ``{"predictions": [...]}`` out.

``POST /v1/models/{name}:predict`` is routed like ``POST /predict``: ``X-Model-Version`` pins a version,
``X-Routing-Key`` (or a ``routing_key`` field) is the sticky key, ``X-Request-ID`` the request ID. The
answer is the native stamped body (model, model_version, request_id, prediction_id, route, revision,
predictions and, for classifiers, probabilities), and the call is logged as one record. ``GET /`` is
KServe's server liveness; ``:explain`` is a 501.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.errors import CanarylineError

from ..errors import GatewayError, InputError, NotImplementedByGatewayError
from ..gateway import Gateway
from ..http import json_response, read_body
from ..ids import request_id_from_header
from ..validation import PredictRequest, load_json, parse_rows
from .transport import EVERY_METHOD, bind_request, refused, routing_key, stamp_headers, unmatched

__all__ = ["routes"]


async def live(request: Request) -> Response:
    """``GET /``: KServe v1's liveness body, which kserve's client parses (``status`` must be ``alive``)."""
    return json_response({"status": "alive"})


async def list_models(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    return json_response({"models": gateway.plans.models()})


async def model_ready(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        active = gateway.resolve(request.path_params["name"])
    except (GatewayError, CanarylineError) as exc:
        return refused(exc, None)
    return json_response({"name": active.plan.model, "ready": True})


async def predict(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    started = time.perf_counter()
    request_id: str | None = None
    try:
        request_id = request_id_from_header(request.headers.get("x-request-id"))
        trace_id = bind_request(request, request_id)
        body = await read_body(request, gateway.settings.max_body_bytes)
        payload = load_json(body)
        if not isinstance(payload, dict):
            raise InputError("body must be a JSON object with field 'instances'")
        rows = parse_rows(payload.get("instances"), field="instances", max_batch=gateway.settings.max_batch)
        key = routing_key(payload.get("routing_key"), "field 'routing_key'") or routing_key(
            request.headers.get("x-routing-key"), "header X-Routing-Key"
        )
        result = await gateway.predict(
            PredictRequest(model=request.path_params["name"], rows=rows, routing_key=key),
            request_id=request_id,
            pin=request.headers.get("x-model-version"),
            trace_id=trace_id,
        )
    except (GatewayError, CanarylineError) as exc:
        gateway.metrics.observe_refused(exc.status, time.perf_counter() - started)
        return refused(exc, request_id)
    except Exception:
        gateway.metrics.observe_refused(500, time.perf_counter() - started)
        raise
    response = json_response(result.body(), headers=stamp_headers(result))
    gateway.metrics.observe_request(
        result.model, result.model_version, result.route, 200, time.perf_counter() - started
    )
    return response


async def explain(request: Request) -> Response:
    """``:explain`` is a 501 naming the model: the gateway serves predictions only (an unknown model is a 404)."""
    gateway: Gateway = request.app.state.gateway
    try:
        model = gateway.resolve(request.path_params["name"]).plan.model
    except (GatewayError, CanarylineError) as exc:
        return refused(exc, None)
    return refused(
        NotImplementedByGatewayError(
            f"model {model!r} has no explainer: canaryline serves predictions (POST /v1/models/{model}:predict)"
        ),
        None,
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/", live, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{name}:predict", predict, methods=["POST"]),
        Route("/v1/models/{name}:explain", explain, methods=["POST"]),
        Route("/v1/models/{name}", model_ready, methods=["GET"]),
        Route("/v1/{path:path}", unmatched, methods=EVERY_METHOD),  # the protocol's body for whatever is left
    ]
