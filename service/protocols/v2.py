"""The Open Inference Protocol (v2, REST) over the one data plane: health, metadata and infer.

``POST /v2/models/{name}/infer`` is routed by the plan (stable, canary; the sticky key is the
``routing_key`` request parameter or ``X-Routing-Key``); ``/versions/{v}/infer`` pins ``v`` with the
native endpoint's rules and 404. Every infer goes through :meth:`service.gateway.Gateway.predict`, so it
is logged as exactly one stamped record, like ``POST /predict``.

Request IDs: the body's ``id`` when given (any text of the one rule in :mod:`service.ids`, echoed exactly
as ``id``, as the spec says), else ``X-Request-ID``, else a new UUIDv7; every answer carries the one used as
``id``. ``parameters`` always carries ``request_id``, ``prediction_id``, ``route`` and ``revision``.
"""

from __future__ import annotations

import time
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.errors import CanarylineError

from ..errors import BadRequestError, GatewayError, InputError, ServiceUnavailableError
from ..gateway import Gateway
from ..http import json_response, read_body
from ..ids import new_id, request_id_from_header
from ..plans import ActivePlan
from ..routing import choose
from ..validation import PredictRequest
from .tensors import BINARY_UNSUPPORTED, encode_outputs, input_metadata, output_metadata, output_names, parse_infer
from .transport import EVERY_METHOD, bind_request, error_reply, refused, routing_key, stamp_headers, unmatched

__all__ = ["routes"]


@cache
def _server_version() -> str:
    try:
        return version("canaryline")
    except PackageNotFoundError:  # pragma: no cover - only when run from a tree that is not installed
        return "0+unknown"


async def server_metadata(request: Request) -> Response:
    return json_response({"name": "canaryline", "version": _server_version(), "extensions": []})


async def live(request: Request) -> Response:
    return json_response({"live": True})


async def ready(request: Request) -> Response:
    """200 once a model is served; the spec's 4xx (400, as Triton and MLServer answer) before."""
    gateway: Gateway = request.app.state.gateway
    if gateway.ready():
        return json_response({"ready": True})
    return error_reply(BadRequestError("not ready: no model is served yet", code="not_ready"), new_id())


def _served(gateway: Gateway, request: Request) -> tuple[ActivePlan, str]:
    """The model's plan and the version named in the path (the stable one when none is)."""
    active = gateway.resolve(request.path_params["name"])
    pinned = request.path_params.get("version")
    if pinned is None:
        return active, active.plan.stable
    # The native pin rule and its 404; a pin never draws, so the draw is a constant.
    return active, choose(active.plan, pin=pinned, key=None, draw=lambda: 0.0).version


async def model_metadata(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        active, chosen = _served(gateway, request)
    except (GatewayError, CanarylineError) as exc:
        return refused(exc, None)
    serving = active.versions[chosen]
    body = {
        "name": active.plan.model,
        "versions": list(active.plan.serving_versions()),
        "platform": serving.info.framework.removeprefix("bentoml."),  # "sklearn"
        "inputs": input_metadata(serving),
        "outputs": output_metadata(serving),
    }
    return json_response(body)


async def model_ready(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        active, chosen = _served(gateway, request)
    except ServiceUnavailableError as exc:
        return refused(BadRequestError(exc.message, code="not_ready"), None)
    except (GatewayError, CanarylineError) as exc:
        return refused(exc, None)
    body: dict[str, Any] = {"name": active.plan.model, "ready": True}
    if "version" in request.path_params:
        body["version"] = chosen
    return json_response(body)


async def infer(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    started = time.perf_counter()
    request_id: str | None = None
    try:
        request_id = request_id_from_header(request.headers.get("x-request-id"))
        trace_id = bind_request(request, request_id)
        if "inference-header-content-length" in request.headers:
            raise BadRequestError(BINARY_UNSUPPORTED, code="binary_data")
        body = await read_body(request, gateway.settings.max_body_bytes)
        call = parse_infer(body, max_batch=gateway.settings.max_batch)
        if call.id is not None:
            request_id = call.id
            bind_request(request, request_id)
        name = request.path_params["name"]
        pin = request.path_params.get("version")
        if call.outputs is not None:
            _check_outputs(gateway.resolve(name), pin, call.outputs)
        key = routing_key(call.parameters.get("routing_key"), "parameter 'routing_key'") or routing_key(
            request.headers.get("x-routing-key"), "header X-Routing-Key"
        )
        result = await gateway.predict(
            PredictRequest(model=name, rows=call.rows, routing_key=key),
            request_id=request_id,
            pin=pin,
            trace_id=trace_id,
        )
    except (GatewayError, CanarylineError) as exc:
        gateway.metrics.observe_refused(exc.status, time.perf_counter() - started)
        return refused(exc, request_id)
    except Exception:
        gateway.metrics.observe_refused(500, time.perf_counter() - started)
        raise
    # Every answer has an id (kserve's InferenceResponse requires one): the client's, else the request ID used.
    body_out: dict[str, Any] = {
        "model_name": result.model,
        "model_version": result.model_version,
        "id": result.request_id,
    }
    body_out["parameters"] = {
        "request_id": result.request_id,
        "prediction_id": result.prediction_id,
        "route": result.route,
        "revision": result.revision,
    }
    body_out["outputs"] = encode_outputs(result.predictions, result.probabilities, call.outputs)
    response = json_response(body_out, headers=stamp_headers(result))
    gateway.metrics.observe_request(
        result.model, result.model_version, result.route, 200, time.perf_counter() - started
    )
    return response


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
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/", server_metadata, methods=["GET"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2/models/{name}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
        Route("/v2/{path:path}", unmatched, methods=EVERY_METHOD),  # the protocol's body for whatever is left
    ]
