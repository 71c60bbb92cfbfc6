"""canaryline's own endpoints over the data plane: ``POST /predict`` and what each model serves.

``POST /predict`` takes ``{"model"?, "inputs": [[...]], "routing_key"?, "version"?}``; ``X-Model-Version``
(or the body's ``version``) pins, ``X-Routing-Key`` is the sticky key when the body has none, and the
answer is the stamped body (:meth:`service.dataplane.gateway.Prediction.body`) with ``X-Request-ID`` and
``X-Model-Version``. A Parquet body (``Content-Type: application/vnd.apache.parquet``,
:mod:`service.rest.parquet_body`) carries a named-input version's rows as typed columns; the JSON body's
other fields (``model``, ``version``, ``routing_key``) are then query parameters. ``GET /models`` and
``GET /models/{name}`` show the plans in force, loaded versions, load errors and shadow counters; they name
actors and reasons, so they need the read token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.dataplane.gateway import Gateway, Prediction
from service.dataplane.validation import PredictRequest, parse_predict, require_str, routing_key
from service.observability.tracing import RequestTracer
from service.rest.http import Inference, check_path_names, json_response, pinned_version, serve_inference, stamp_headers
from service.rest.parquet_body import decode_parquet, is_parquet

__all__ = ["routes"]

_TRACER = RequestTracer()


def _decode(request: Request, body: bytes) -> Inference:
    gateway: Gateway = request.app.state.gateway
    if is_parquet(request.headers.get("content-type")):
        query = dict(request.query_params)
        call = PredictRequest(
            model=require_str(query, "model"),
            rows=[],
            version=require_str(query, "version"),
            routing_key=routing_key(query.get("routing_key"), "query parameter 'routing_key'"),
            named=decode_parquet(
                body,
                max_batch=gateway.settings.max_batch,
                max_bytes=gateway.settings.max_body_bytes,
                max_string_length=gateway.settings.max_string_length,
            ),
        )
    else:
        call = parse_predict(body, max_batch=gateway.settings.max_batch)
    header = routing_key(request.headers.get("x-routing-key"), "header X-Routing-Key")  # checked even when unused
    if call.routing_key is None:  # the body's key wins, as on every protocol
        call.routing_key = header
    return Inference(call, pin=pinned_version(request))


def _render(result: Prediction, _inference: Inference) -> Response:
    return json_response(result.body(), headers=stamp_headers(result))


async def _predict(request: Request) -> Response:
    with _TRACER.span("POST /predict", request.headers):  # the one server span (service/observability/tracing.py)
        return await serve_inference(request, _decode, _render)


async def _list_models(request: Request) -> Response:
    request.app.state.gates.read.check(request.headers)
    gateway: Gateway = request.app.state.gateway
    names = sorted(set(gateway.plans.models()) | set(gateway.plans.errors))
    return json_response({"models": [gateway.describe(name) for name in names]})


async def _get_model(request: Request) -> Response:
    request.app.state.gates.read.check(request.headers)
    check_path_names(request.path_params)
    gateway: Gateway = request.app.state.gateway
    return json_response(gateway.describe(request.path_params["name"]))


def routes() -> list[BaseRoute]:
    return [
        Route("/predict", _predict, methods=["POST"]),
        Route("/models", _list_models, methods=["GET"]),
        Route("/models/{name}", _get_model, methods=["GET"]),
    ]
