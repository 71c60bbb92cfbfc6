"""Errors become responses here, and only here: the Starlette exception handlers of the gateway's app.

Every transport raises :class:`~registry_client.errors.CanarylineError` (or lets the router raise its 404
and 405); these handlers answer in the error body of the path's protocol (:func:`service.rest.http.error_body`),
with the request's own ID when it had a valid one, and count a refused inference request with the recorder
the transport started (:class:`service.observability.metrics.RequestRecorder`). Anything else that
escapes a handler is a bug: a 500 in the same shape, logged with its traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from registry_client.domain.identifiers import new_id
from registry_client.errors import CanarylineError
from service.rest.http import error_response, route_error

__all__ = ["EXCEPTION_HANDLERS"]

log = structlog.get_logger("canaryline.http")


def _answer(request: Request, exc: CanarylineError, headers: Mapping[str, str] | None = None) -> Response:
    recorder = getattr(request.state, "recorder", None)
    if recorder is not None:
        recorder.answered(exc.status)
    request_id = getattr(request.state, "request_id", None) or new_id()  # a rule-breaking ID is never echoed
    if exc.status >= 500:
        log.error("request_failed", request_id=request_id, code=exc.code, error=exc.message)
    response = error_response(request.url.path, exc, request_id)
    response.headers.update(headers or {})
    return response


async def _on_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CanarylineError)
    return _answer(request, exc)


async def _on_route_error(request: Request, exc: Exception) -> Response:
    """The router's refusals (no route: 404, wrong method: 405, with its ``Allow``)."""
    assert isinstance(exc, HTTPException)
    return _answer(request, route_error(request.method, request.url.path, exc.status_code), exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("request_crashed", path=request.url.path, error=f"{type(exc).__name__}: {exc}")
    return _answer(request, CanarylineError("the gateway failed to answer this request; it is logged"))


EXCEPTION_HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
    CanarylineError: _on_error,
    HTTPException: _on_route_error,
    Exception: _on_unexpected,
}
