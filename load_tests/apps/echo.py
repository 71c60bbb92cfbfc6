"""Floor: a bare Starlette JSON echo under uvicorn (``uvicorn load_tests.apps.echo:app``)."""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def echo(request: Request) -> Response:
    return Response(orjson.dumps(orjson.loads(await request.body())), media_type="application/json")


async def healthz(_: Request) -> Response:
    return Response(b"ok")


app = Starlette(routes=[Route("/predict", echo, methods=["POST"]), Route("/healthz", healthz)])
