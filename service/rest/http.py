"""What every HTTP transport of the gateway shares: JSON answers, the body (bounded, gzip), the request's
IDs and trace, the stamp and error headers, the error bodies, and the one sequence an inference request
goes through whatever its protocol (:func:`serve_inference`).

A leaf: it imports the data plane and the core, never another transport module. Errors are raised, not
answered, here and in every transport; :mod:`service.rest.errors` turns them into responses.

Error bodies: ``{"error": {"code", "message", "request_id"}}`` natively, ``{"error": "<message>"}`` under
``/v2`` and ``/v1`` (the Open Inference Protocol's and KServe v1's), always with the request ID in
``X-Request-ID`` when it is header-safe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from registry_client.domain.identifiers import request_id_from_header, request_id_header
from registry_client.domain.versions import check_names
from registry_client.errors import (
    BadRequestError,
    CanarylineError,
    InputError,
    MethodNotAllowedError,
    NotFoundError,
    NotImplementedByGatewayError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from service.dataplane.gateway import Gateway, Prediction
from service.dataplane.validation import PredictRequest
from service.observability.logs import current_trace_id
from service.rest.content_encoding import body_decoder

__all__ = [
    "EVERY_METHOD",
    "Inference",
    "accept_request_id",
    "bind_request",
    "check_path_names",
    "error_body",
    "error_headers",
    "error_response",
    "json_response",
    "pinned_version",
    "read_body",
    "route_error",
    "serve_inference",
    "stamp_headers",
    "trace_id_of",
    "unmatched",
    "uses_protocol_body",
]

log = structlog.get_logger("canaryline.http")
_JSON = "application/json"
_PROTOCOL_PREFIXES = ("/v2", "/v1")
#: The methods a protocol's catch-all route takes (Starlette's default for a function is GET only).
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=_JSON)


# -- the request: body, IDs, trace ----------------------------------------------------------------------
async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) anything over ``limit`` bytes before reading it all, as sent and once
    decompressed (``Content-Encoding: gzip``, see :mod:`service.rest.content_encoding`; others are a 415)."""
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


def accept_request_id(request: Request) -> str:
    """The client's ``X-Request-ID`` when it obeys the rule (else a 400; the bad ID is never echoed), or a new
    one; kept on the request for the error handlers."""
    request_id = request_id_from_header(request.headers.get("x-request-id"))
    request.state.request_id = request_id
    return request_id


def check_path_names(params: Mapping[str, str]) -> None:
    """The naming rule for the model (``{name}`` or ``{model}``) and version a route's path names, checked before
    anything reads them: a name that breaks it names nothing, so a 404 saying so and naming the rule (BentoML,
    which the registry asks, would refuse it with a ValueError, a 500, or fold it to another model's name)."""
    model = params.get("model", params.get("name"))
    if model is not None:
        check_names(model, params.get("version"))


def pinned_version(request: Request) -> str | None:
    """The version ``X-Model-Version`` pins, None when the header is absent; an empty one is a 400 (it used to
    pass as no pin at all, so the caller's pin was silently dropped)."""
    pin = request.headers.get("x-model-version")
    if pin is not None and not pin:
        raise BadRequestError("header X-Model-Version must name a version, not be empty", code="invalid_header")
    return pin


def trace_id_of(request: Request) -> str | None:
    """The W3C trace ID in force: the current span's, else the ``traceparent`` header's."""
    current = current_trace_id()
    if current is not None:
        return current
    parts = request.headers.get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def bind_request(request: Request, request_id: str) -> str | None:
    """Bind the request and trace IDs for this request's log lines; the trace ID.

    Each request runs in an asyncio task of its own, on a copy of the context: what it binds (here and in
    the data plane) is in its log lines and in no other request's.
    """
    request.state.request_id = request_id
    trace_id = trace_id_of(request)
    structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)
    return trace_id


# -- the answer: stamps and errors ----------------------------------------------------------------------
def stamp_headers(result: Prediction) -> dict[str, str]:
    return {**request_id_header(result.request_id), "X-Model-Version": result.model_version}


def error_headers(exc: CanarylineError, request_id: str) -> dict[str, str]:
    """``X-Request-ID`` (when header-safe), ``Retry-After`` when the error says when to try again (a 503 of
    the log or load), and ``WWW-Authenticate`` naming the realm of a missing or wrong token."""
    headers = request_id_header(request_id)
    if isinstance(exc, UnauthorizedError):
        headers["WWW-Authenticate"] = f'Bearer realm="{exc.realm}"'
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return headers


def uses_protocol_body(path: str) -> bool:
    """Whether ``path`` belongs to a standard protocol (``/v2``, ``/v1``), which answers ``{"error": message}``."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in _PROTOCOL_PREFIXES)


def error_body(path: str, exc: CanarylineError, request_id: str) -> bytes:
    """The error body of the protocol ``path`` belongs to."""
    if uses_protocol_body(path):
        return orjson.dumps({"error": exc.message})
    return orjson.dumps({"error": {"code": exc.code, "message": exc.message, "request_id": request_id}})


def error_response(path: str, exc: CanarylineError, request_id: str) -> Response:
    return Response(error_body(path, exc, request_id), exc.status, error_headers(exc, request_id), media_type=_JSON)


#: The error class for each status a plain-text answer from BentoML, Starlette or uvicorn may carry.
_BY_STATUS: dict[int, type[CanarylineError]] = {
    400: BadRequestError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: InputError,
    501: NotImplementedByGatewayError,
    503: ServiceUnavailableError,
}


def route_error(method: str, path: str, status: int) -> CanarylineError:
    """The gateway's error for a router's refusal (404 no such route, 405 wrong method) or another plain-text
    answer; a status without a class of its own is answered as the internal error it is (500)."""
    if status == 404:
        return NotFoundError(f"no route {method} {path}", code="no_route")
    if status == 405:
        return MethodNotAllowedError(f"method {method} is not allowed on {path}")
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    return _BY_STATUS.get(status, CanarylineError)(phrase)


async def unmatched(request: Request) -> Response:
    """A protocol prefix's catch-all route: 405 with ``Allow`` (the methods the path's other routes take, as
    RFC 9110 requires) when another route has this path for other methods, else 404; raised, so the error
    handlers answer in the protocol's body."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is Match.PARTIAL:
            allowed |= getattr(route, "methods", None) or set()
    if not allowed:
        raise route_error(request.method, request.url.path, 404)
    raise HTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})


# -- inference on every protocol --------------------------------------------------------------------------
@dataclass(slots=True)
class Inference:
    """What a protocol decoded from one request for the data plane, and what it needs to answer it."""

    call: PredictRequest
    pin: str | None
    #: The ID the protocol's body named (the OIP ``id``); it takes the place of ``X-Request-ID``.
    request_id: str | None = None
    #: The protocol's own part of the request, for its answer (the OIP's requested outputs).
    extra: Any = None


Decode = Callable[[Request, bytes], Inference]
Render = Callable[[Prediction, Inference], Response]


async def serve_inference(request: Request, decode: Decode, render: Render) -> Response:
    """The one sequence of every inference request: request ID and trace, bounded body, the protocol's
    ``decode``, the data plane, the protocol's ``render``, and the request counted under the version that
    served it. A refusal anywhere is raised; the error handlers answer it and count it with the same
    recorder (empty labels when it came before routing)."""
    gateway: Gateway = request.app.state.gateway
    recorder = request.state.recorder = gateway.metrics.request()
    check_path_names(request.path_params)
    request_id = accept_request_id(request)
    trace_id = bind_request(request, request_id)
    inference = decode(request, await read_body(request, gateway.settings.max_body_bytes))
    if inference.request_id is not None and inference.request_id != request_id:
        request_id = inference.request_id
        bind_request(request, request_id)
    result = await gateway.predict(
        inference.call, request_id=request_id, pin=inference.pin, trace_id=trace_id, recorder=recorder
    )
    response = render(result, inference)
    elapsed = recorder.answered(200)
    log.debug("prediction_served", duration_seconds=elapsed)  # an access log, at CANARYLINE_LOG_LEVEL=debug
    return response
