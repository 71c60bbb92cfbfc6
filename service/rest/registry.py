"""The registry's HTTP API under ``/registry``: what is registered, for anyone holding the read token.

``GET /registry/models`` names every model with a registered version; ``GET /registry/models/{model}/versions``
lists a model's versions (numeric order, ``v2`` before ``v10``; archived ones too with
``?include_archived=true``) and ``GET …/versions/{version}`` one version's record: task, framework, params,
metrics, data and code version, description, SHA-256, artifact, who registered it and when, and whether it
is archived (:meth:`~registry_client.domain.model_version.ModelVersion.to_dict`). These are the registry's
records, not what this gateway serves (``GET /models`` says that). An unknown model or version is a 404, and
so is a name that breaks the naming rule. The registry reads block: they run in a worker thread, off the
event loop. Registration and archiving are :mod:`service.rest.registry_admin`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.errors import InputError
from registry_client.registry.registry import Registry
from service.rest.http import check_path_names, json_response

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
    archived = params.get("include_archived", "false")
    if archived not in ("true", "false"):
        raise InputError("query parameter include_archived must be true or false")
    found = registry.versions(model, include_archived=archived == "true")
    return {"model": model, "versions": [info.to_dict() for info in found]}


def _version(registry: Registry, params: dict[str, str]) -> dict[str, Any]:
    return registry.get(params["model"], params["version"]).to_dict()


def _read(action: Callable[[Registry, dict[str, str]], dict[str, Any]]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        request.app.state.gates.read.check(request.headers)
        registry: Registry = request.app.state.registry
        params = dict(request.path_params)
        check_path_names(params)
        if "include_archived" in request.query_params:
            params["include_archived"] = request.query_params["include_archived"]
        return json_response(await anyio.to_thread.run_sync(action, registry, params))

    return endpoint
