"""The console at ``/ui``: the gateway's own web UI, its static files served from the package.

The page itself holds no data and needs no token; it asks for the read token in a form, keeps it in the
tab's ``sessionStorage`` and presents it as a Bearer header to the JSON endpoints it reads (``/models``,
``/models/{m}``, ``/models/{m}/evaluation``, ``/admin/models/{m}/plan`` and ``/history``). Plan changes
send the admin token typed into their own form, so no authority rides on a cookie and there is nothing
for a cross-site request to borrow.

Every answer under ``/ui`` carries the security headers: a Content-Security-Policy that allows scripts,
styles and fetches from this origin only (no inline script, no ``eval``; forms cannot submit anywhere,
so a token typed into one can never end up in a URL), ``X-Content-Type-Options: nosniff``, frame denial
and no referrer. The files are read once when the routes are built and answered from memory with a
strong ETag (``no-cache``: the browser revalidates, so an upgraded gateway's files are used at once).

The files live in the core (:mod:`registry_client.console.assets`), since ``canaryline eval --html`` inlines
the same ones. Pages are ES modules under ``static/pages/``, listed in ``static/app.js``'s ``PAGES``: a new
page (a rollout's) is one more module there, reading its own JSON endpoint.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from registry_client.console.assets import Asset, load_assets
from registry_client.domain.identifiers import new_id
from registry_client.errors import NotFoundError
from service.rest.http import error_response

__all__ = ["SECURITY_HEADERS", "routes"]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def routes() -> list[BaseRoute]:
    """``/ui`` (a redirect to ``/ui/``), ``/ui/`` (the shell) and ``/ui/{path}`` (its files)."""
    assets = load_assets()

    async def redirect(_request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=308, headers=SECURITY_HEADERS)

    async def serve(request: Request) -> Response:
        path = request.path_params.get("path") or "index.html"
        asset = assets.get(path)
        if asset is None:
            missing = NotFoundError(f"no console file {path!r}", code="no_route")
            response = error_response(request.url.path, missing, new_id())
            response.headers.update(SECURITY_HEADERS)
            return response
        return _answer(request, asset)

    return [
        Route("/ui", redirect, methods=["GET"]),
        Route("/ui/", serve, methods=["GET"]),
        Route("/ui/{path:path}", serve, methods=["GET"]),
    ]


def _answer(request: Request, asset: Asset) -> Response:
    headers = {**SECURITY_HEADERS, "ETag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
