"""The one JSON error body for the answers BentoML would write itself, in front of the gateway's app.

BentoML's router sees every request first and hands a path to our app only when one of our routes
matches it (its ``PassiveMount``). An unknown path, or a wrong method on BentoML's own routes
(``/livez``, ``/metrics``), is therefore answered by Starlette's defaults in plain text
(``Not Found``, ``Method Not Allowed``). :class:`FallbackErrorsMiddleware`, added to the BentoML
service, replaces every plain-text error answer (status >= 400) from inside it with the gateway's error
body: ``{"error": {"code", "message", "request_id"}}``, or ``{"error": "<message>"}`` under ``/v2`` and
``/v1``. Every other answer passes through untouched, at the cost of one check per response start.

Outside its reach: a request that is not HTTP/1.1 is answered by uvicorn before any app runs, with a
plain-text 400 its h11 protocol hard-codes (BentoML passes uvicorn no option for it), and BentoML's
concurrency and timeout middlewares (503, 504) run outside the service's own middlewares.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_client.domain.identifiers import new_id
from registry_client.errors import CanarylineError
from service.rest.http import error_body, route_error

__all__ = ["FallbackErrorsMiddleware", "send_error"]


async def send_error(
    send: Send, scope: Scope, exc: CanarylineError, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Answer ``exc`` as a whole ASGI response, with a fresh request ID (and ``headers``, e.g. ``allow``)."""
    request_id = new_id()
    body = error_body(scope["path"], exc, request_id)
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class FallbackErrorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replacing = False

        async def send_json_errors(message: Message) -> None:
            nonlocal replacing
            if message["type"] == "http.response.start" and message["status"] >= 400:
                headers = message.get("headers", [])
                if _plain_text(headers):
                    replacing = True
                    kept = [(name, value) for name, value in headers if name.lower() == b"allow"]
                    await send_error(send, scope, route_error(scope["method"], scope["path"], message["status"]), kept)
                    return
            if not replacing:  # once replaced, the plain-text body that follows is dropped
                await send(message)

        await self.app(scope, receive, send_json_errors)


def _plain_text(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"content-type" and value.startswith(b"text/plain") for name, value in headers)
