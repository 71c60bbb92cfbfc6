"""KServe's v1 protocol over the one data plane: ``{"instances": [...]}`` in, ``{"predictions": [...]}`` out.

``POST /v1/models/{name}:predict`` is routed like ``POST /predict`` (``instances`` are rows of numbers,
or records of named inputs for a named-input version): ``X-Model-Version`` pins a version,
``X-Routing-Key`` (or a ``routing_key`` field) is the sticky key, ``X-Request-ID`` the request ID. The
answer is the native stamped body (model, model_version, request_id, prediction_id, route, revision,
predictions and, for classifiers, probabilities), and the call is logged as one record. ``GET /`` is
KServe's server liveness; ``:explain`` is a 501.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.errors import InputError, NotImplementedByGatewayError
from service.dataplane.gateway import Gateway, Prediction
from service.dataplane.named_inputs import parse_named
from service.dataplane.validation import PredictRequest, load_json, parse_rows, routing_key
from service.rest.http import (
    EVERY_METHOD,
    Inference,
    check_path_names,
    json_response,
    pinned_version,
    serve_inference,
    stamp_headers,
    unmatched,
)

__all__ = ["routes"]


async def _live(request: Request) -> Response:
    """``GET /``: KServe v1's liveness body, which kserve's client parses (``status`` must be ``alive``)."""
    return json_response({"status": "alive"})


async def _list_models(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    return json_response({"models": gateway.plans.models()})


async def _model_ready(request: Request) -> Response:
    """``GET /v1/models/{name}``; a ``name:predict`` or ``name:explain`` here is the verb's path with the wrong
    method, so a 405 with ``Allow: POST`` (not a 404 for a model named ``name:predict``)."""
    name = request.path_params["name"]
    if name.endswith((":predict", ":explain")):
        raise HTTPException(405, headers={"Allow": "POST"})
    check_path_names(request.path_params)
    gateway: Gateway = request.app.state.gateway
    active = gateway.resolve(name)
    return json_response({"name": active.plan.model, "ready": True})


def _decode(request: Request, body: bytes) -> Inference:
    gateway: Gateway = request.app.state.gateway
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise InputError("body must be a JSON object with field 'instances'")
    instances = payload.get("instances")
    named = parse_named(instances, field="instances", max_batch=gateway.settings.max_batch)
    rows = [] if named is not None else parse_rows(instances, field="instances", max_batch=gateway.settings.max_batch)
    header = routing_key(request.headers.get("x-routing-key"), "header X-Routing-Key")  # checked even when unused
    key = routing_key(payload.get("routing_key"), "field 'routing_key'") or header
    call = PredictRequest(model=request.path_params["name"], rows=rows, routing_key=key, named=named)
    return Inference(call, pin=pinned_version(request))


def _render(result: Prediction, _inference: Inference) -> Response:
    return json_response(result.body(), headers=stamp_headers(result))


async def _predict(request: Request) -> Response:
    return await serve_inference(request, _decode, _render)


async def _explain(request: Request) -> Response:
    """``:explain`` is a 501 naming the model: the gateway serves predictions only (an unknown model is a 404)."""
    check_path_names(request.path_params)
    gateway: Gateway = request.app.state.gateway
    model = gateway.resolve(request.path_params["name"]).plan.model
    raise NotImplementedByGatewayError(
        f"model {model!r} has no explainer: canaryline serves predictions (POST /v1/models/{model}:predict)"
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/", _live, methods=["GET"]),
        Route("/v1/models", _list_models, methods=["GET"]),
        Route("/v1/models/{name}:predict", _predict, methods=["POST"]),
        Route("/v1/models/{name}:explain", _explain, methods=["POST"]),
        Route("/v1/models/{name}", _model_ready, methods=["GET"]),
        Route("/v1/{path:path}", unmatched, methods=EVERY_METHOD),  # the protocol's body for whatever is left
    ]
