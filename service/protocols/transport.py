"""What the standard protocols share over HTTP: their error body, the stamp headers and routing keys.

Both KServe v1 and the Open Inference Protocol answer a refusal with ``{"error": "<message>"}`` and the
gateway's status for it (400, 404, 413, 422, 503); the request ID travels in ``X-Request-ID`` when it is
header-safe (:func:`service.ids.request_id_header`).
"""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from registry_client.errors import CanarylineError

from ..errors import GatewayError
from ..fallback_errors import route_error
from ..gateway import Prediction
from ..http import _trace_id, error_headers, json_response
from ..ids import new_id, request_id_header
from ..logs import current_trace_id
from ..validation import ROUTING_KEY_MAX, routing_key

__all__ = [
    "EVERY_METHOD",
    "ROUTING_KEY_MAX",
    "bind_request",
    "error_reply",
    "refused",
    "routing_key",
    "stamp_headers",
    "unmatched",
]

log = structlog.get_logger("canaryline.protocols")
#: The methods a protocol's catch-all route takes (Starlette's default for a function is GET only).
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]


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
    return {**request_id_header(result.request_id), "X-Model-Version": result.model_version}


async def unmatched(request: Request) -> Response:
    """Any other path under a protocol's prefix: 404, or 405 for a known path, in the protocol's body."""
    method_not_allowed = any(route.matches(request.scope)[0] is Match.PARTIAL for route in request.app.router.routes)
    return error_reply(route_error(request.method, request.url.path, 405 if method_not_allowed else 404), new_id())
