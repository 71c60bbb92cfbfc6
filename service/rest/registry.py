"""The registry's HTTP API under ``/registry``: what is registered, for anyone holding the read token.

``GET /registry/models`` names every model with a registered version; ``GET /registry/models/{model}/versions``
lists a model's versions (numeric order, ``v2`` before ``v10``) and ``GET …/versions/{version}`` one
version's record: task, framework, params, metrics, data and code version, description, SHA-256, feature
count, classes, input schema and when it was registered
(:meth:`~registry_client.registry.registry.ModelVersion.to_dict`).
These are the registry's records, not what this gateway serves (``GET /models`` says that). An unknown model
or version is a 404. The registry reads block: they run in a worker thread, off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.registry.registry import Registry
from service.rest.http import json_response

__all__ = ["routes"]

_BASE = "/registry/models"


def routes() -> list[BaseRoute]:
    return [
        Route(_BASE, _read(_models), methods=["GET"]),
        Route(f"{_BASE}/{{model}}/versions", _read(_versions), methods=["GET"]),
        Route(f"{_BASE}/{{model}}/versions/{{version}}", _read(_version), methods=["GET"]),
    ]


def _models(registry: Registry, _params: dict[str, str]) -> dict[str, Any]:
    return {"models": registry.models()}


def _versions(registry: Registry, params: dict[str, str]) -> dict[str, Any]:
    model = params["model"]
    return {"model": model, "versions": [info.to_dict() for info in registry.versions(model)]}


def _version(registry: Registry, params: dict[str, str]) -> dict[str, Any]:
    return registry.get(params["model"], params["version"]).to_dict()


def _read(action: Callable[[Registry, dict[str, str]], dict[str, Any]]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        request.app.state.gates.read.check(request.headers)
        registry: Registry = request.app.state.registry
        params = dict(request.path_params)
        return json_response(await anyio.to_thread.run_sync(action, registry, params))

    return endpoint
