"""What the standard protocols share over HTTP: their error body, the stamp headers and routing keys.

Both KServe v1 and the Open Inference Protocol answer a refusal with ``{"error": "<message>"}`` and the
gateway's status for it (400, 404, 413, 422, 503); the request ID travels in ``X-Request-ID``.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from registry_client.errors import CanarylineError

from ..errors import GatewayError, InputError, NotFoundError
from ..gateway import Prediction
from ..http import _trace_id, error_headers, json_response
from ..ids import new_id
from ..logs import current_trace_id

__all__ = ["ROUTING_KEY_MAX", "bind_request", "error_reply", "refused", "routing_key", "stamp_headers", "unmatched"]

log = structlog.get_logger("canaryline.protocols")
ROUTING_KEY_MAX = 256


def error_reply(exc: GatewayError | CanarylineError, request_id: str) -> Response:
    return json_response({"error": exc.message}, exc.status, error_headers(exc, request_id))


def refused(exc: GatewayError | CanarylineError, request_id: str | None) -> Response:
    """The error reply; ``request_id`` is None when the client's broke the rule (it is never echoed)."""
    request_id = request_id or new_id()
    if exc.status >= 500:
        log.error("request_failed", request_id=request_id, code=exc.code, error=exc.message)
    return error_reply(exc, request_id)


def bind_request(request: Request, request_id: str) -> str | None:
    """Bind the request and trace IDs for this request's log lines, as ``POST /predict`` does; the trace ID."""
    trace_id = current_trace_id() or _trace_id(request)
    structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)
    return trace_id


def stamp_headers(result: Prediction) -> dict[str, str]:
    return {"X-Request-ID": result.request_id, "X-Model-Version": result.model_version}


def routing_key(value: Any, source: str) -> str | None:
    """A sticky routing key: a non-empty string of at most 256 characters, as on ``POST /predict``."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > ROUTING_KEY_MAX:
        raise InputError(f"{source} must be a non-empty string of at most {ROUTING_KEY_MAX} characters")
    return value


async def unmatched(request: Request) -> Response:
    """Any other path under a protocol's prefix: 404, or 405 for a known path, in the protocol's body."""
    method_not_allowed = any(route.matches(request.scope)[0] is Match.PARTIAL for route in request.app.router.routes)
    exc: GatewayError = NotFoundError(f"no route {request.method} {request.url.path}", code="no_route")
    if method_not_allowed:
        exc = GatewayError(f"method {request.method} is not allowed on {request.url.path}", code="method_not_allowed")
        exc.status = 405
    return error_reply(exc, new_id())
