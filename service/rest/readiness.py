"""``/readyz`` with detail: BentoML owns the route, so a small ASGI middleware answers it first.

200 when at least one model is served and the prediction log can keep records; 503 before any model is,
while the spool cannot be written (read-only or full disk: ``log.spool_error`` names the path and errno),
or while the log refuses predictions (store down and spool full). The body names every served model with
its revision, every model whose latest revision could not be applied with the reason, the versions that are
not cached on this node while the artifact store cannot be reached (``missing_artifacts``), and the log's state.
Only GET and HEAD are answered; any other method is a 405 in the gateway's error body.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from service.rest.fallback import send_error
from service.rest.http import route_error

__all__ = ["ReadinessMiddleware"]


class ReadinessMiddleware:
    def __init__(self, app: ASGIApp, path: str = "/readyz") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await send_error(send, scope, route_error(scope["method"], self.path, 405), [(b"allow", b"GET, HEAD")])
            return
        import bentoml
        from bentoml.exceptions import BentoMLException

        try:
            gateway = bentoml.get_current_service().runtime.gateway
        except BentoMLException:  # the worker is still starting
            await self.app(scope, receive, send)
            return
        detail = gateway.readiness()
        body = orjson.dumps(detail)
        await send(
            {
                "type": "http.response.start",
                "status": 200 if detail["ready"] else 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
