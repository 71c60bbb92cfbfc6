"""The registry's HTTP API under ``/registry``: what is registered, for anyone holding the read token.

``GET /registry/models`` names every model with a registered version; ``GET /registry/models/{model}/versions``
lists a model's versions (numeric order, ``v2`` before ``v10``) and ``GET …/versions/{version}`` one
version's record: task, framework, params, metrics, data and code version, description, SHA-256, feature
count, classes, input schema and when it was registered
(:meth:`~registry_client.registry.registry.ModelVersion.to_dict`).
These are the registry's records, not what this gateway serves (``GET /models`` says that). An unknown model
or version is a 404, and so is a name that breaks the naming rule. The registry reads block: they run in a
worker thread, off the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.domain.versions import VERSION_PATTERN
from registry_client.errors import ModelNotFoundError
from registry_client.registry.registry import Registry
from service.rest.http import json_response

__all__ = ["routes"]

_BASE = "/registry/models"
_NAME = re.compile(VERSION_PATTERN)


def routes() -> list[BaseRoute]:
    return [
        Route(_BASE, _read(_models), methods=["GET"]),
        Route(f"{_BASE}/{{model}}/versions", _read(_versions), methods=["GET"]),
        Route(f"{_BASE}/{{model}}/versions/{{version}}", _read(_version), methods=["GET"]),
    ]


def _check_names(params: dict[str, str]) -> None:
    """A name that breaks the naming rule names nothing registered: a 404 saying so. BentoML, which the registry
    asks, would refuse it with a ValueError (a 500) or fold it to lower case (another model's versions)."""
    for what in ("model", "version"):
        value = params.get(what)
        if value is not None and not _NAME.fullmatch(value):
            raise ModelNotFoundError(f"no {what} {value!r} is registered: {what} names match {VERSION_PATTERN}")


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
        _check_names(params)
        return json_response(await anyio.to_thread.run_sync(action, registry, params))

    return endpoint
