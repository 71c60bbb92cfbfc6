"""The Open Inference Protocol (v2, REST) over the one data plane: health, metadata and infer.

``POST /v2/models/{name}/infer`` is routed by the plan (stable, canary; the sticky key is the
``routing_key`` request parameter or ``X-Routing-Key``); ``/versions/{v}/infer`` pins ``v`` with the
native endpoint's rules and 404. Every infer goes through the same sequence as ``POST /predict``
(:func:`service.rest.http.serve_inference`), so it is logged as exactly one stamped record.

Request IDs: the body's ``id`` when given (any text of the one rule in
:mod:`registry_client.domain.identifiers`, echoed exactly as ``id``, as the spec says), else ``X-Request-ID``,
else a new UUIDv7; every answer carries the one used as
``id``. ``parameters`` always carries ``request_id``, ``prediction_id``, ``route`` and ``revision``.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.errors import BadRequestError, InputError, ServiceUnavailableError
from service.dataplane.gateway import Gateway, Prediction
from service.dataplane.plans import ActivePlan
from service.dataplane.routing import choose
from service.dataplane.validation import PredictRequest, routing_key
from service.rest.http import (
    EVERY_METHOD,
    Inference,
    check_path_names,
    json_response,
    serve_inference,
    stamp_headers,
    unmatched,
)
from service.rest.tensors import (
    BINARY_UNSUPPORTED,
    encode_outputs,
    input_metadata,
    output_metadata,
    output_names,
    parse_infer,
)

__all__ = ["routes", "server_version"]


@cache
def server_version() -> str:
    try:
        return version("canaryline")
    except PackageNotFoundError:  # pragma: no cover - only when run from a tree that is not installed
        return "0+unknown"


async def _server_metadata(request: Request) -> Response:
    return json_response({"name": "canaryline", "version": server_version(), "extensions": []})


async def _live(request: Request) -> Response:
    return json_response({"live": True})


async def _ready(request: Request) -> Response:
    """200 once a model is served; the spec's 4xx (400, as Triton and MLServer answer) before."""
    gateway: Gateway = request.app.state.gateway
    if not gateway.ready():
        raise BadRequestError("not ready: no model is served yet", code="not_ready")
    return json_response({"ready": True})


def _served(request: Request) -> tuple[ActivePlan, str]:
    """The model's plan and the version named in the path (the stable one when none is)."""
    check_path_names(request.path_params)
    gateway: Gateway = request.app.state.gateway
    active = gateway.resolve(request.path_params["name"])
    pinned = request.path_params.get("version")
    if pinned is None:
        return active, active.plan.stable
    # The native pin rule and its 404; a pin never draws, so the draw is a constant.
    return active, choose(active.plan, pin=pinned, key=None, draw=lambda: 0.0).version


async def _model_metadata(request: Request) -> Response:
    active, chosen = _served(request)
    serving = active.versions[chosen]
    body = {
        "name": active.plan.model,
        "versions": list(active.plan.serving_versions()),
        "platform": serving.info.framework.removeprefix("bentoml."),  # "sklearn"
        "inputs": input_metadata(serving),
        "outputs": output_metadata(serving),
    }
    return json_response(body)


async def _model_ready(request: Request) -> Response:
    try:
        active, chosen = _served(request)
    except ServiceUnavailableError as exc:  # a model that failed to load is not ready: the spec's 400
        raise BadRequestError(exc.message, code="not_ready") from exc
    body: dict[str, Any] = {"name": active.plan.model, "ready": True}
    if "version" in request.path_params:
        body["version"] = chosen
    return json_response(body)


def _decode(request: Request, body: bytes) -> Inference:
    if "inference-header-content-length" in request.headers:
        raise BadRequestError(BINARY_UNSUPPORTED, code="binary_data")
    gateway: Gateway = request.app.state.gateway
    call = parse_infer(body, max_batch=gateway.settings.max_batch)
    name = request.path_params["name"]
    pin = request.path_params.get("version")
    if call.outputs is not None:
        _check_outputs(gateway.resolve(name), pin, call.outputs)
    header = routing_key(request.headers.get("x-routing-key"), "header X-Routing-Key")  # checked even when unused
    key = routing_key(call.parameters.get("routing_key"), "parameter 'routing_key'") or header
    decoded = PredictRequest(model=name, rows=call.rows, routing_key=key, named=call.named)
    return Inference(decoded, pin, call.id, call.outputs)


def _render(result: Prediction, inference: Inference) -> Response:
    # Every answer has an id (kserve's InferenceResponse requires one): the client's, else the request ID used.
    body: dict[str, Any] = {
        "model_name": result.model,
        "model_version": result.model_version,
        "id": result.request_id,
        "parameters": {
            "request_id": result.request_id,
            "prediction_id": result.prediction_id,
            "route": result.route,
            "revision": result.revision,
        },
        "outputs": encode_outputs(result.predictions, result.probabilities, inference.extra),
    }
    return json_response(body, headers=stamp_headers(result))


async def _infer(request: Request) -> Response:
    return await serve_inference(request, _decode, _render)


def _check_outputs(active: ActivePlan, pin: str | None, requested: list[str]) -> None:
    """Requested outputs must exist on the pinned version, or on every version the plan may route to."""
    versions = [active.versions[pin]] if pin is not None and pin in active.versions else active.versions.values()
    offered = set.intersection(*(set(output_names(serving)) for serving in versions))
    for name in requested:
        if name not in offered:
            raise InputError(
                f"model {active.plan.model!r} has no output {name!r}; outputs: {', '.join(sorted(offered))}",
                code="unknown_output",
            )


def routes() -> list[BaseRoute]:
    return [
        Route("/v2", _server_metadata, methods=["GET"]),
        Route("/v2/", _server_metadata, methods=["GET"]),
        Route("/v2/health/live", _live, methods=["GET"]),
        Route("/v2/health/ready", _ready, methods=["GET"]),
        Route("/v2/models/{name}", _model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", _model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", _model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", _model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", _infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", _infer, methods=["POST"]),
        Route("/v2/{path:path}", unmatched, methods=EVERY_METHOD),  # the protocol's body for whatever is left
    ]
